"""Tiny, randomly initialised Qwen2-VL / Qwen2.5-VL checkpoints for CPU tests and demos.

The architecture is the real one (``*ForConditionalGeneration`` from transformers), only small: a few
layers, hidden size ≤ 128, a small vision tower. The BPE tokenizer is trained locally with
``tokenizers`` on geor1's own text (see ``tiny_corpus``), carries the Qwen special tokens and chat
template, and pads on the left (GRPO needs it). Everything is saved with ``save_pretrained`` and loads
back with ``AutoModelForImageTextToText`` / ``AutoProcessor`` offline.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from geor1.errors import ConfigError
from geor1.models.tiny_corpus import corpus

Arch = Literal["qwen2_vl", "qwen2_5_vl"]
ARCHES: tuple[str, ...] = ("qwen2_vl", "qwen2_5_vl")

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# Plain (non-special) tokens kept whole: they must survive skip_special_tokens decoding for the rewards.
TAG_TOKENS = ("<think>", "</think>", "<answer>", "</answer>")

# Qwen2-VL's chat template (image blocks only): default system turn, <|im_start|>role ... <|im_end|>.
QWEN_VL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass
class TinySpec:
    """Size and seed of a tiny VLM."""

    arch: str = "qwen2_5_vl"
    hidden: int = 128
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 256
    vision_dim: int = 64
    vision_depth: int = 2
    vision_heads: int = 4
    vocab_size: int = 2048
    min_pixels: int = 56 * 56
    max_pixels: int = 112 * 112
    seed: int = 0

    def check(self) -> None:
        """Raise ConfigError naming the field if the spec cannot give a valid model."""
        if self.arch not in ARCHES:
            raise ConfigError("arch", f"expected one of {', '.join(ARCHES)}, got {self.arch!r}")
        if not 8 <= self.hidden <= 128 or self.hidden % self.heads:
            raise ConfigError(
                "hidden", f"must be in [8, 128] and divisible by heads ({self.heads}), got {self.hidden}"
            )
        head_dim = self.hidden // self.heads
        if head_dim % 2 or head_dim < 8:
            raise ConfigError("hidden", f"hidden/heads must be an even head size ≥ 8, got {head_dim}")
        if self.heads % self.kv_heads:
            raise ConfigError("kv_heads", f"must divide heads ({self.heads}), got {self.kv_heads}")
        if self.vision_dim % self.vision_heads:
            raise ConfigError("vision_dim", f"must be divisible by vision_heads ({self.vision_heads})")
        for name in ("layers", "vision_depth", "intermediate", "vocab_size"):
            if getattr(self, name) < 1:
                raise ConfigError(name, "must be ≥ 1")
        if not 0 < self.min_pixels <= self.max_pixels:
            raise ConfigError("min_pixels", "need 0 < min_pixels <= max_pixels")


def mrope_section(head_dim: int) -> list[int]:
    """Return Qwen's multimodal RoPE split (temporal, height, width); it must sum to ``head_dim // 2``."""
    half = head_dim // 2
    temporal = half // 4
    height = (half - temporal) // 2
    return [temporal, height, half - temporal - height]


def train_tokenizer(spec: TinySpec):
    """Return a left-padding ``PreTrainedTokenizerFast`` (byte-level BPE) trained on geor1's corpus."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(seed=spec.seed), trainer=trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAG_TOKENS])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",
        chat_template=QWEN_VL_CHAT_TEMPLATE,
        extra_special_tokens={
            "image_token": "<|image_pad|>",
            "video_token": "<|video_pad|>",
            "vision_bos_token": "<|vision_start|>",
            "vision_eos_token": "<|vision_end|>",
        },
    )


def build_config(spec: TinySpec, tokenizer):
    """Return the small Qwen2-VL or Qwen2.5-VL config matching ``tokenizer``'s special token ids."""
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    vocab = -(-len(tokenizer) // 64) * 64  # pad the embedding table to a multiple of 64
    text = dict(
        vocab_size=vocab,
        hidden_size=spec.hidden,
        intermediate_size=spec.intermediate,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.kv_heads,
        max_position_embeddings=4096,
        rope_parameters={
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": mrope_section(spec.hidden // spec.heads),
        },
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    common = dict(patch_size=14, spatial_merge_size=2, temporal_patch_size=2, num_heads=spec.vision_heads)
    token_ids = dict(
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    if spec.arch == "qwen2_vl":
        vision = dict(
            depth=spec.vision_depth, embed_dim=spec.vision_dim, mlp_ratio=2, hidden_size=spec.hidden, **common
        )
        return Qwen2VLConfig(text_config=text, vision_config=vision, **token_ids)
    vision = dict(
        depth=spec.vision_depth,
        hidden_size=spec.vision_dim,
        intermediate_size=2 * spec.vision_dim,
        out_hidden_size=spec.hidden,
        window_size=112,
        fullatt_block_indexes=[spec.vision_depth - 1],
        **common,
    )
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **token_ids)


def build_processor(spec: TinySpec, tokenizer):
    """Return the image-only Qwen processor (PIL image backend) for ``tokenizer``."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from geor1.models.processor_compat import IMAGE_ONLY_PROCESSORS

    image_processor = Qwen2VLImageProcessorPil(min_pixels=spec.min_pixels, max_pixels=spec.max_pixels)
    cls = IMAGE_ONLY_PROCESSORS[spec.arch]
    return cls(image_processor=image_processor, tokenizer=tokenizer, chat_template=QWEN_VL_CHAT_TEMPLATE)


def build_tiny_model(spec: TinySpec):
    """Return ``(model, processor)``: a freshly initialised tiny VLM, deterministic for ``spec.seed``."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2VLForConditionalGeneration

    spec.check()
    tokenizer = train_tokenizer(spec)
    config = build_config(spec, tokenizer)
    model_cls = (
        Qwen2VLForConditionalGeneration if spec.arch == "qwen2_vl" else Qwen2_5_VLForConditionalGeneration
    )
    # fork_rng keeps the caller's global RNG untouched while making the weights a function of the seed.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        model = model_cls(config)
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    model.generation_config.bos_token_id = config.text_config.bos_token_id
    return model, build_processor(spec, tokenizer)


def save_tiny_model(spec: TinySpec, out: str | Path) -> Path:
    """Build a tiny VLM and save model, processor and ``tiny_spec.json`` under ``out``; return the folder."""
    from geor1.io import apply_umask, write_json

    out = Path(out)
    model, processor = build_tiny_model(spec)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    write_json(out / "tiny_spec.json", asdict(spec))
    return apply_umask(out)
