"""Published-size Qwen2.5-VL: configs against the published figures, tokenizer ids and chat template,
`geo-r1 model init` (bad input, memory refusal, a shrunken build saved and reloaded offline)."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from geor1.cli import build_app
from geor1.errors import ConfigError
from geor1.models import load_model, load_processor, real, visual_tokens_per_image
from geor1.models.real import (
    PUBLISHED_IDS,
    RealSpec,
    build_qwen_tokenizer,
    build_real_config,
    count_parameters,
    save_real_model,
)

# (text layers, hidden, MLP, heads, KV heads, vocab, tied) of the published config.json files.
PUBLISHED_TEXT = {
    "3b": (36, 2048, 11008, 16, 2, 151936, True),
    "7b": (28, 3584, 18944, 28, 4, 152064, False),
}
# Parameter counts the model cards state (3.75B and 8.29B, rounded to 10M).
PUBLISHED_PARAMS = {"3b": 3.75e9, "7b": 8.29e9}


@pytest.mark.parametrize("size", ["3b", "7b"])
def test_config_has_the_published_text_and_vision_figures(size):
    config = build_real_config(RealSpec(size=size))
    text, vision = config.text_config, config.vision_config
    layers, hidden, mlp, heads, kv_heads, vocab, tied = PUBLISHED_TEXT[size]
    assert (text.num_hidden_layers, text.hidden_size, text.intermediate_size) == (layers, hidden, mlp)
    assert (text.num_attention_heads, text.num_key_value_heads, text.vocab_size) == (heads, kv_heads, vocab)
    assert config.tie_word_embeddings is tied
    assert text.rope_parameters["rope_theta"] == 1e6
    assert text.rope_parameters["mrope_section"] == [16, 24, 24]
    assert sum(text.rope_parameters["mrope_section"]) == hidden // heads // 2
    assert text.rms_norm_eps == 1e-6 and text.max_position_embeddings == 128000
    assert (vision.depth, vision.hidden_size, vision.intermediate_size, vision.num_heads) == (
        32,
        1280,
        3420,
        16,
    )
    assert vision.out_hidden_size == hidden
    assert (vision.patch_size, vision.spatial_merge_size, vision.temporal_patch_size) == (14, 2, 2)
    assert vision.window_size == 112 and list(vision.fullatt_block_indexes) == [7, 15, 23, 31]
    assert vision.tokens_per_second == 2
    assert config.image_token_id == 151655 and config.video_token_id == 151656
    assert (config.vision_start_token_id, config.vision_end_token_id) == (151652, 151653)
    assert count_parameters(RealSpec(size=size)) == pytest.approx(PUBLISHED_PARAMS[size], abs=5e6)


def test_layers_shortens_only_the_text_stack():
    full = build_real_config(RealSpec(size="3b")).to_dict()
    short = build_real_config(RealSpec(size="3b", layers=2)).to_dict()
    assert short["text_config"].pop("num_hidden_layers") == 2
    assert full["text_config"].pop("num_hidden_layers") == 36
    for layered in (full, short):  # derived from the layer count
        layered["text_config"].pop("layer_types")
    assert short["text_config"] == full["text_config"]
    assert short["vision_config"] == full["vision_config"]
    per_layer = count_parameters(RealSpec(size="3b", layers=2)) - count_parameters(
        RealSpec(size="3b", layers=1)
    )
    assert (
        count_parameters(RealSpec(size="3b")) - count_parameters(RealSpec(size="3b", layers=2))
        == 34 * per_layer
    )


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("size", "13b", "config key 'size': expected one of 3b, 7b"),
        ("layers", 0, "config key 'layers': must be in [1, 36]"),
        ("layers", 37, "config key 'layers': must be in [1, 36]"),
        ("arch", "qwen2_vl", "config key 'arch': expected one of qwen2_5_vl"),
        ("dtype", "int8", "config key 'dtype': expected one of"),
        ("min_pixels", 10**9, "config key 'min_pixels': need 0 < min_pixels <= max_pixels"),
    ],
)
def test_spec_check_names_the_field(field, value, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")) as err:
        RealSpec(**{field: value}).check()
    assert err.value.key == field


@pytest.fixture(scope="module")
def qwen_tokenizer():
    return build_qwen_tokenizer(seed=0)


def test_tokenizer_has_the_published_special_token_ids(qwen_tokenizer):
    tok = qwen_tokenizer
    assert len(tok) == 151665  # as Qwen2.5-VL's published tokenizer
    for text, expected in PUBLISHED_IDS.items():
        assert tok.convert_tokens_to_ids(text) == expected, text
    assert PUBLISHED_IDS["<|image_pad|>"] == 151655 and PUBLISHED_IDS["<|file_sep|>"] == 151664
    assert tok.eos_token_id == 151645 and tok.pad_token_id == 151643
    assert tok.padding_side == "left"
    text = "Query:<|vision_start|><|image_pad|><|vision_end|> lat 48.85 <think>B</think><answer>B</answer>"
    ids = tok(text)["input_ids"]
    assert ids.count(151655) == 1
    assert max(i for i in ids if i < 151643) < 8192  # ordinary text never lands on a reserved filler
    assert tok.decode(ids, skip_special_tokens=True) == "Query: lat 48.85 <think>B</think><answer>B</answer>"
    # Qwen2's split: digits one by one
    assert [tok.decode([i]) for i in tok("2024", add_special_tokens=False)["input_ids"]] == list("2024")


def test_chat_template_is_qwen2_5_vl(qwen_tokenizer):
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Street:"},
                {"type": "image"},
                {"type": "text", "text": " Candidate A:"},
                {"type": "image"},
            ],
        },
        {"role": "assistant", "content": "<answer>A</answer>"},
    ]
    rendered = qwen_tokenizer.apply_chat_template(messages, tokenize=False)
    assert rendered == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nStreet:<|vision_start|><|image_pad|><|vision_end|> Candidate A:"
        "<|vision_start|><|image_pad|><|vision_end|><|im_end|>\n"
        "<|im_start|>assistant\n<answer>A</answer><|im_end|>\n"
    )
    labelled = qwen_tokenizer.apply_chat_template(messages[:1], tokenize=False, add_vision_id=True)
    assert "Street:Picture 1: <|vision_start|>" in labelled and "Candidate A:Picture 2: " in labelled


def invoke(*args):
    return CliRunner().invoke(build_app(), ["model", "init", *map(str, args)])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", "13b"], "error: option --size: expected one of 3b, 7b, got '13b'"),
        (["--size", "3b", "--layers", "0"], "error: option --layers: must be in [1, 36] for 3b, got 0"),
        (
            ["--size", "7b", "--dtype", "int8"],
            "error: option --dtype: expected one of bfloat16, float32, float16",
        ),
    ],
)
def test_model_init_cli_rejects_bad_options(tmp_path, args, message):
    result = invoke("--out", tmp_path / "m", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "m").exists()


def test_model_init_cli_refuses_a_model_larger_than_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(real, "memory_available", lambda: 4 * 2**30)
    result = invoke("--out", tmp_path / "m", "--size", "7b")
    assert result.exit_code == 2
    assert "error: --size 7b with 28 text layers needs 15.4 GiB" in result.output
    assert "4.0 GiB is available; pass --layers N" in result.output
    assert not (tmp_path / "m").exists()


def test_model_init_cli_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "keep.txt").write_text("mine")
    result = invoke("--out", tmp_path / "m", "--size", "3b", "--layers", "1")
    assert result.exit_code == 2 and "is not an empty folder" in result.output
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["keep.txt"]


@pytest.fixture
def shrunken(monkeypatch):
    """The 3b entry with small widths: the build/save/reload mechanics at test speed (the real widths
    are exercised by the slow real-size benchmark test)."""
    monkeypatch.setitem(
        real.PUBLISHED,
        "3b",
        {
            "text": {
                "vocab_size": 151936,
                "hidden_size": 256,  # head_dim 128, as published: mrope_section must sum to 64
                "intermediate_size": 512,
                "num_hidden_layers": 36,
                "num_attention_heads": 2,
                "num_key_value_heads": 1,
                "max_window_layers": 70,
            },
            "vision": {"out_hidden_size": 256},
            "tie_word_embeddings": True,
        },
    )
    monkeypatch.setattr(
        real,
        "_VISION_COMMON",
        {**real._VISION_COMMON, "depth": 8, "hidden_size": 64, "intermediate_size": 128, "num_heads": 4},
    )


def test_model_init_cli_saves_a_model_that_reloads_offline(tmp_path, shrunken):
    out = tmp_path / "m"
    result = invoke("--out", out, "--size", "3b", "--layers", "2", "--max-pixels", 224 * 224, "--seed", 4)
    assert result.exit_code == 0, result.output
    assert "qwen2_5_vl 3b (2 text layers" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no partial folder left behind
    assert json.loads((out / "real_spec.json").read_text())["layers"] == 2
    model = load_model(out)
    assert model.dtype == torch.bfloat16
    assert model.config.text_config.num_hidden_layers == 2
    assert list(model.config.vision_config.fullatt_block_indexes) == [7, 15, 23, 31]
    assert model.generation_config.eos_token_id == [151645, 151643]
    for name, param in model.named_parameters():  # transformers scheme: matrices N(0, 0.02²), norms 1
        if param.ndim >= 2:
            assert 0.005 < param.float().std().item() < 0.1, name
        elif "norm" in name:
            assert torch.all(param == 1), name
    processor = load_processor(out)
    assert processor.tokenizer.convert_tokens_to_ids("<|image_pad|>") == 151655
    assert visual_tokens_per_image(processor, 448, 448) == 64  # 224*224 px budget: 16x16 patches, merged 2x2
    from PIL import Image

    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Where?"}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(
        text=[prompt], images=[Image.new("RGB", (448, 448), (30, 90, 10))], return_tensors="pt"
    )
    assert (inputs["input_ids"] == 151655).sum() == 64
    out_ids = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out_ids.shape[1] == inputs["input_ids"].shape[1] + 3 or out_ids[0, -1] in (151645, 151643)


def test_build_is_deterministic_per_seed(shrunken):
    a, _ = real.build_real_model(RealSpec(layers=1, seed=1))
    b, _ = real.build_real_model(RealSpec(layers=1, seed=1))
    c, _ = real.build_real_model(RealSpec(layers=1, seed=2))
    key = "model.visual.blocks.7.attn.qkv.weight"
    assert torch.equal(a.state_dict()[key], b.state_dict()[key])
    assert not torch.equal(a.state_dict()[key], c.state_dict()[key])


def test_save_real_model_rejects_bad_spec_before_writing(tmp_path):
    with pytest.raises(ValueError, match="layers"):
        save_real_model(RealSpec(layers=99), tmp_path / "m")
    assert not list(tmp_path.iterdir())
