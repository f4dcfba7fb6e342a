"""Randomly initialised Qwen2.5-VL at its published sizes (3B, 7B), for runs at the real shapes.

No weights can be downloaded, but the architecture can be built from the published configuration: the
text decoder (layers, width, heads, KV heads, MLP size, vocabulary, RoPE θ, M-RoPE sections) and the
whole vision tower (32 blocks of width 1280, window attention over 112 px windows with full attention in
blocks 7, 15, 23 and 31, 14 px patches, 2×2 merge, temporal patch 2). ``layers`` may shorten the text
stack for CPU runs; every width and the vision config stay as published.

Sources of the figures below (``config.json`` of the Hugging Face checkpoints):

- Qwen/Qwen2.5-VL-3B-Instruct: hidden 2048, MLP 11008, 36 layers, 16 heads, 2 KV heads, vocabulary
  151936, tied embeddings, max_window_layers 70; vision out_hidden_size 2048. Read in a public copy of
  the config (a "model config" dump of Qwen/Qwen2.5-VL-3B-Instruct) and in a parser test quoting
  "Selected Json config from Qwen2.5VL-3B", found with the code search of this project.
- Qwen/Qwen2.5-VL-7B-Instruct: hidden 3584, MLP 18944, 28 layers, 28 heads, 4 KV heads, vocabulary
  152064, untied embeddings, max_window_layers 28; vision out_hidden_size 3584. Read in
  https://huggingface.co/Qwen/Qwen2.5-VL-7B-Instruct-AWQ/blame/main/config.json (``_name_or_path``
  Qwen/Qwen2.5-VL-7B-Instruct, quantisation aside) and in a vision_config quoted as "Qwen2.5-VL-7B-
  Instruct's".
- Both: rms_norm_eps 1e-6, rope_theta 1e6, mrope_section [16, 24, 24] (sums to head_dim/2 = 64),
  max_position_embeddings 128000, sliding window off; vision depth 32, hidden 1280, MLP 3420, 16 heads,
  SiLU, patch 14, spatial merge 2, temporal patch 2, window 112, fullatt_block_indexes [7, 15, 23, 31],
  tokens_per_second 2; token ids bos/pad 151643 (<|endoftext|>), eos 151645 (<|im_end|>), vision_start
  151652, vision_end 151653, image 151655, video 151656.
- Tokenizer: the special tokens of Qwen2/Qwen2.5-VL's ``added_tokens.json`` at their published ids
  (151643 <|endoftext|> … 151664 <|file_sep|>), the ``chat_template.json`` of Qwen2.5-VL (default system
  turn, ``Picture n:`` labels under ``add_vision_id``), and the image processor's published defaults
  (min_pixels 3136, max_pixels 12845056, CLIP mean/std).

The published tokenizer's 151643 byte-level BPE entries cannot be downloaded, so the ordinary vocabulary
is a byte-level BPE trained locally on geor1's own text (``tiny_corpus``) with Qwen2's pre-tokenizer
split (single digits, contractions, letter runs), padded with unreachable ``<|reserved_N|>`` entries up to
id 151642 so every special token keeps its published id and ``len(tokenizer)`` is the published 151665.
Texts therefore tokenize into more (shorter) pieces than with Qwen's own merges; images, special tokens,
the chat template and every tensor shape are as published.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from geor1.errors import ConfigError
from geor1.models.tiny_corpus import corpus

SIZES: tuple[str, ...] = ("3b", "7b")
REAL_ARCHES: tuple[str, ...] = ("qwen2_5_vl",)
DTYPES: tuple[str, ...] = ("bfloat16", "float32", "float16")

# Fields both sizes share (text decoder).
_TEXT_COMMON: dict[str, Any] = {
    "hidden_act": "silu",
    "rms_norm_eps": 1e-6,
    "max_position_embeddings": 128000,
    "use_sliding_window": False,
    "sliding_window": 32768,
    "attention_dropout": 0.0,
    "initializer_range": 0.02,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
}
# The vision tower is the same in both sizes except the merger's output width (the text width).
_VISION_COMMON: dict[str, Any] = {
    "depth": 32,
    "hidden_size": 1280,
    "intermediate_size": 3420,
    "num_heads": 16,
    "hidden_act": "silu",
    "in_channels": 3,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "window_size": 112,
    "fullatt_block_indexes": [7, 15, 23, 31],
    "tokens_per_second": 2,
    "initializer_range": 0.02,
}
PUBLISHED: dict[str, dict[str, Any]] = {
    "3b": {
        "text": {
            "vocab_size": 151936,
            "hidden_size": 2048,
            "intermediate_size": 11008,
            "num_hidden_layers": 36,
            "num_attention_heads": 16,
            "num_key_value_heads": 2,
            "max_window_layers": 70,
        },
        "vision": {"out_hidden_size": 2048},
        "tie_word_embeddings": True,
    },
    "7b": {
        "text": {
            "vocab_size": 152064,
            "hidden_size": 3584,
            "intermediate_size": 18944,
            "num_hidden_layers": 28,
            "num_attention_heads": 28,
            "num_key_value_heads": 4,
            "max_window_layers": 28,
        },
        "vision": {"out_hidden_size": 3584},
        "tie_word_embeddings": False,
    },
}

# Qwen2 / Qwen2.5-VL added tokens in id order from 151643; the first 14 are special (skipped when
# decoding with skip_special_tokens), the tool-call and fill-in-the-middle ones are not.
QWEN_ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
)
FIRST_ADDED_ID = 151643
# Published ids, checked against the built tokenizer when it is made.
PUBLISHED_IDS: dict[str, int] = {tok: FIRST_ADDED_ID + i for i, (tok, _) in enumerate(QWEN_ADDED_TOKENS)}

# Qwen2's pre-tokenizer split: contractions, letter runs with one leading non-letter, single digits,
# punctuation runs, newlines, spaces.
QWEN2_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+"
)

# Qwen2.5-VL's chat_template.json: a default system turn, image/video placeholders, optional
# "Picture n: " labels (add_vision_id), plain-string and block contents.
QWEN2_5_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# The image processor's published preprocessor_config.json values.
PUBLISHED_MIN_PIXELS = 3136
PUBLISHED_MAX_PIXELS = 12845056
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# LoRA targets of the VLM-R1 trainer Geo-R1 trains with: every nn.Linear outside the vision tower
# ("visual") except the embeddings, i.e. the decoder's attention and MLP projections, and lm_head. As a
# peft regex (a string is matched against full module names), so the vision tower's gate/up/down_proj,
# which share the decoder's names, stay frozen. lm_head is left out: TRL 1.16 computes log-probabilities
# from lm_head.weight directly (its fused LM head) and refuses an adapter there.
PAPER_LORA_TARGET_MODULES = r"^(?!.*\bvisual\b).*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)$"


@dataclass
class RealSpec:
    """Which published Qwen2.5-VL to build, how many text layers, in which dtype, with which seed."""

    arch: str = "qwen2_5_vl"
    size: str = "3b"
    layers: int | None = None  # None: the published count
    dtype: str = "bfloat16"
    min_pixels: int = PUBLISHED_MIN_PIXELS
    max_pixels: int = PUBLISHED_MAX_PIXELS
    bpe_vocab: int = 8192  # locally trained merges (the rest of the ordinary ids are reserved fillers)
    seed: int = 0

    def check(self) -> None:
        """Raise ConfigError naming the field if the spec cannot give a valid model."""
        if self.arch not in REAL_ARCHES:
            raise ConfigError("arch", f"expected one of {', '.join(REAL_ARCHES)}, got {self.arch!r}")
        if self.size not in SIZES:
            raise ConfigError("size", f"expected one of {', '.join(SIZES)}, got {self.size!r}")
        published = PUBLISHED[self.size]["text"]["num_hidden_layers"]
        if self.layers is not None and not 1 <= self.layers <= published:
            raise ConfigError("layers", f"must be in [1, {published}] for {self.size}, got {self.layers}")
        if self.dtype not in DTYPES:
            raise ConfigError("dtype", f"expected one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if not 0 < self.min_pixels <= self.max_pixels:
            raise ConfigError("min_pixels", "need 0 < min_pixels <= max_pixels")
        if not 512 <= self.bpe_vocab <= FIRST_ADDED_ID:
            raise ConfigError("bpe_vocab", f"must be in [512, {FIRST_ADDED_ID}], got {self.bpe_vocab}")

    @property
    def text_layers(self) -> int:
        """Text decoder layers of the model built (``layers`` or the published count)."""
        return self.layers or PUBLISHED[self.size]["text"]["num_hidden_layers"]


def build_qwen_tokenizer(seed: int = 0, bpe_vocab: int = 8192):
    """Return a left-padding ``PreTrainedTokenizerFast`` with Qwen2.5-VL's added tokens at their published
    ids, its pre-tokenizer split and chat template (ordinary merges trained on geor1's corpus)."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=bpe_vocab, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(corpus(seed=seed), trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    vocab: dict[str, int] = model["vocab"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    # No merge produces a filler, so tokenization never emits one; they only move the added tokens to
    # their published ids.
    for i in range(len(vocab), FIRST_ADDED_ID):
        vocab[f"<|reserved_{i}|>"] = i
    tok.model = models.BPE(vocab=vocab, merges=merges)
    for text, special in QWEN_ADDED_TOKENS:
        token = AddedToken(text, special=special, normalized=False)
        (tok.add_special_tokens if special else tok.add_tokens)([token])
    for text, expected in PUBLISHED_IDS.items():
        if tok.token_to_id(text) != expected:
            raise RuntimeError(f"{text} got id {tok.token_to_id(text)}, published {expected}")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",  # GRPO pairs left-padded prompts with the processor's multimodal fields
        model_max_length=131072,
        chat_template=QWEN2_5_VL_CHAT_TEMPLATE,
        extra_special_tokens={
            "image_token": "<|image_pad|>",
            "video_token": "<|video_pad|>",
            "vision_bos_token": "<|vision_start|>",
            "vision_eos_token": "<|vision_end|>",
        },
    )


def build_real_config(spec: RealSpec):
    """Return the ``Qwen2_5_VLConfig`` of the published size, with ``spec.layers`` text layers."""
    from transformers import Qwen2_5_VLConfig

    spec.check()
    published = PUBLISHED[spec.size]
    text = {**_TEXT_COMMON, **published["text"], "num_hidden_layers": spec.text_layers}
    text["rope_parameters"] = dict(text["rope_parameters"])
    text.update(
        bos_token_id=PUBLISHED_IDS["<|endoftext|>"],
        eos_token_id=PUBLISHED_IDS["<|im_end|>"],
        pad_token_id=PUBLISHED_IDS["<|endoftext|>"],
    )
    vision = {**_VISION_COMMON, **published["vision"]}
    vision["fullatt_block_indexes"] = list(vision["fullatt_block_indexes"])
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=PUBLISHED_IDS["<|image_pad|>"],
        video_token_id=PUBLISHED_IDS["<|video_pad|>"],
        vision_start_token_id=PUBLISHED_IDS["<|vision_start|>"],
        vision_end_token_id=PUBLISHED_IDS["<|vision_end|>"],
        tie_word_embeddings=published["tie_word_embeddings"],
        dtype=spec.dtype,
    )


def count_parameters(spec: RealSpec) -> int:
    """Return the parameter count of the model ``spec`` describes (built on the meta device: no memory)."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    config = build_real_config(spec)
    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(config)
    return sum(p.numel() for p in model.parameters())


def build_real_processor(spec: RealSpec, tokenizer):
    """Return the image-only Qwen2.5-VL processor (PIL image backend) with the spec's pixel budget."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from geor1.models.processor_compat import IMAGE_ONLY_PROCESSORS

    image_processor = Qwen2VLImageProcessorPil(
        min_pixels=spec.min_pixels,
        max_pixels=spec.max_pixels,
        patch_size=14,
        temporal_patch_size=2,
        merge_size=2,
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
    )
    cls = IMAGE_ONLY_PROCESSORS[spec.arch]
    return cls(image_processor=image_processor, tokenizer=tokenizer, chat_template=QWEN2_5_VL_CHAT_TEMPLATE)


# Normal draws every weight matrix is filled from (a prime count: the rows of a matrix, which start a
# width apart in it, never line up with it, so no two rows of a matrix are equal).
_POOL_SIZE = 4194319


def fill_random_weights(model: Any, std: float, seed: int) -> None:
    """Initialise every parameter of a Qwen2.5-VL as transformers' scheme does (linear, convolution and
    embedding weights N(0, std²), the embedding's padding row 0, biases 0, RMSNorm weights 1), drawing
    only ``_POOL_SIZE`` normal values (seeded) and filling each weight cyclically from them at its own
    seeded offset.

    The values only have to be random-looking and of the right scale for these untrained models, while
    drawing every value is most of a build: for the 1.06B parameters of a one-text-layer 3B on one
    core, 7.5 CPU s with transformers' own ``init_weights`` against 1.9 s filled this way (measured on a
    loaded machine).
    """
    import torch

    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    pool = torch.empty(_POOL_SIZE, device=device, dtype=torch.float32)
    pool.normal_(0.0, std, generator=generator)
    pools = {torch.float32: pool}  # one cast per dtype, not one per weight
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.ndim >= 2:
                if param.dtype not in pools:
                    pools[param.dtype] = pool.to(param.dtype)
                source = pools[param.dtype]
                flat = param.view(-1)
                start = int(torch.randint(_POOL_SIZE, (1,), device=device, generator=generator))
                done = 0
                while done < flat.numel():
                    chunk = source[start : start + flat.numel() - done]
                    flat[done : done + chunk.numel()].copy_(chunk)
                    done += chunk.numel()
                    start = 0
            elif name.endswith("bias"):
                param.zero_()
            else:  # the only other 1-D parameters of Qwen2.5-VL: RMSNorm weights
                param.fill_(1.0)
        for module in model.modules():
            if isinstance(module, torch.nn.Embedding) and module.padding_idx is not None:
                module.weight[module.padding_idx].zero_()


def build_real_model(spec: RealSpec, device: str = "cpu"):
    """Return ``(model, processor)``: a randomly initialised published-size Qwen2.5-VL in ``spec.dtype``
    on ``device`` (see ``fill_random_weights``), deterministic for ``spec.seed`` on a given device."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration
    from transformers.initialization import no_init_weights

    spec.check()
    tokenizer = build_qwen_tokenizer(spec.seed, spec.bpe_vocab)
    config = build_real_config(spec)
    # Built straight in the target dtype (never a float32 copy of a multi-GB model) with torch's and
    # transformers' per-layer init switched off, then filled once.
    with torch.device(device), no_init_weights():
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=getattr(torch, spec.dtype))
    fill_random_weights(model, config.text_config.initializer_range, spec.seed)
    model.tie_weights()  # the 3B shares its embedding with the LM head (init_weights would tie them)
    generation = model.generation_config
    generation.bos_token_id = PUBLISHED_IDS["<|endoftext|>"]
    generation.pad_token_id = PUBLISHED_IDS["<|endoftext|>"]
    generation.eos_token_id = [PUBLISHED_IDS["<|im_end|>"], PUBLISHED_IDS["<|endoftext|>"]]
    return model, build_real_processor(spec, tokenizer)


def save_real_model(spec: RealSpec, out: str | Path, device: str = "cpu") -> Path:
    """Build a published-size Qwen2.5-VL and save model, processor and ``real_spec.json`` under ``out``;
    return the folder. ``device`` is where the weights are drawn (see ``build_real_model``).

    ``out`` must not exist or be empty (ValueError otherwise). Everything is written to a temporary
    sibling folder first and renamed at the end, so a build that fails (out of memory, say) leaves no
    half-written model behind.
    """
    import shutil

    from geor1.io import write_json

    spec.check()
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError("out", f"{out} exists and is not an empty folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model, processor = build_real_model(spec, device)
        model.save_pretrained(tmp, safe_serialization=True)
        del model
        processor.save_pretrained(tmp)
        write_json(tmp / "real_spec.json", asdict(spec))
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def memory_needed(spec: RealSpec) -> int:
    """Return the bytes the weights of ``spec``'s model take in its dtype (what building it holds)."""
    import torch

    return count_parameters(spec) * torch.finfo(getattr(torch, spec.dtype)).bits // 8


def memory_available() -> int | None:
    """Return the bytes the kernel reports as available (``MemAvailable``), or None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
