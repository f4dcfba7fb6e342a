"""geor1.train.probe: the paper-config overrides of each stage, the image-token audit, measured steps on
the tiny model (the real-size run is tests/test_real_size.py)."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch

from geor1.models.real import PAPER_LORA_TARGET_MODULES
from geor1.train.config import build_configs
from geor1.train.probe import ImageTokenAudit, run_stage, stage_mapping, write_pairing_example


def test_stage_mappings_keep_the_paper_config_and_set_one_step(tmp_path):
    kind, full = stage_mapping("sft-full", "m", "d.jsonl", tmp_path)
    assert kind == "sft"
    assert (full["min_pixels"], full["max_pixels"]) == (3136, 401408)  # configs/sft_paper.yaml
    assert full["learning_rate"] == 1e-5 and full["gradient_checkpointing"] is True
    assert full["max_steps"] == 1 and full["use_peft"] is False
    assert full["optim"] == "sgd"  # on a CPU: no optimizer state
    assert full["bf16"] is True and full["use_cpu"] is True
    _, on_gpu = stage_mapping("sft-full", "m", "d.jsonl", tmp_path, device="cuda", dtype="float16", steps=2)
    assert "optim" not in on_gpu and on_gpu["use_cpu"] is False
    assert (on_gpu["fp16"], on_gpu["bf16"], on_gpu["dtype"], on_gpu["max_steps"]) == (
        True,
        False,
        "float16",
        2,
    )
    _, lora = stage_mapping("sft-lora", "m", "d.jsonl", tmp_path, max_pixels=50176)
    assert lora["use_peft"] is True and lora["lora_target_modules"] == [PAPER_LORA_TARGET_MODULES]
    assert lora["max_pixels"] == 50176
    kind, grpo = stage_mapping("grpo", "m", "d.jsonl", tmp_path, num_generations=2, completion_tokens=8)
    assert kind == "grpo" and grpo["beta"] == 0.04 and grpo["use_peft"] is True  # configs/grpo_paper.yaml
    assert (grpo["num_generations"], grpo["per_device_train_batch_size"], grpo["max_completion_length"]) == (
        2,
        2,
        8,
    )
    _, grpo_full = stage_mapping("grpo-full", "m", "d.jsonl", tmp_path)
    assert grpo_full["use_peft"] is False and "optim" not in grpo_full
    for stage in ("sft-full", "sft-lora", "grpo", "grpo-full"):  # every mapping is a valid config
        build_configs(*stage_mapping(stage, "m", "d.jsonl", tmp_path))
    with pytest.raises(ValueError, match="stage: expected one of"):
        stage_mapping("dpo", "m", "d.jsonl", tmp_path)
    with pytest.raises(ValueError, match="steps: must be at least 1"):
        stage_mapping("grpo", "m", "d.jsonl", tmp_path, steps=0)


def test_paper_lora_targets_spare_the_vision_tower():
    import re

    pattern = re.compile(PAPER_LORA_TARGET_MODULES)
    decoder = [
        f"model.language_model.layers.3.self_attn.{p}" for p in ("q_proj", "k_proj", "v_proj", "o_proj")
    ]
    decoder += [f"model.language_model.layers.3.mlp.{p}" for p in ("gate_proj", "up_proj", "down_proj")]
    vision = [
        "model.visual.blocks.7.mlp.gate_proj",
        "model.visual.blocks.0.attn.qkv",
        "model.visual.merger.mlp.0",
    ]
    assert all(pattern.fullmatch(name) for name in decoder)
    assert not any(pattern.fullmatch(name) for name in vision)
    assert not pattern.fullmatch("lm_head") and not pattern.fullmatch("model.language_model.embed_tokens")


class _Backbone(torch.nn.Module):
    """A stand-in backbone with a vision tower child returning one feature per four patches."""

    def __init__(self):
        super().__init__()
        self.config = SimpleNamespace(image_token_id=9)
        self.visual = torch.nn.Identity()

    def forward(self, input_ids=None, pixel_values=None):
        if pixel_values is not None:
            self.visual(pixel_values[::4])


def test_image_token_audit_pairs_tokens_and_features_in_both_orders():
    backbone = _Backbone()
    audit = ImageTokenAudit(torch.nn.Sequential(backbone))
    ids = torch.tensor([[1, 9, 9, 2, 9, 9]])
    backbone(input_ids=ids, pixel_values=torch.zeros(16, 3))  # training order: tokens, then features
    backbone.visual(torch.zeros(4, 3))  # generation order: features first, then the prompt
    backbone(input_ids=ids)
    backbone(input_ids=ids[:, -1:])  # a decoding step: no images
    assert (audit.calls, audit.mismatches) == (2, [])
    backbone(input_ids=ids[:, :3], pixel_values=torch.zeros(16, 3))  # truncated: 2 tokens, 4 features
    assert audit.mismatches == ["2 image tokens vs 4 features"]
    audit.remove()
    backbone(input_ids=ids[:, :3], pixel_values=torch.zeros(16, 3))
    assert audit.calls == 3


def test_write_pairing_example_is_a_valid_sft_and_grpo_example(tmp_path):
    from geor1.train.data import load_examples

    path = write_pairing_example(
        tmp_path, n_images=3, query_size=(64, 32), candidate_size=(40, 40), think_words=5
    )
    sft, grpo = load_examples(path, "sft"), load_examples(path, "grpo")
    assert len(sft) == len(grpo) == 1
    row = json.loads(path.read_text())
    assert row["solution"] in "AB" and row["completion"][0]["content"].endswith(
        f"<answer>{row['solution']}</answer>"
    )
    assert [b["type"] for b in row["prompt"][0]["content"]].count("image") == 3
    assert sft[0]["images"][0].size == (64, 32) and sft[0]["images"][1].size == (40, 40)
    with pytest.raises(ValueError, match="n_images"):
        write_pairing_example(tmp_path / "x", n_images=1)


@pytest.fixture(scope="module")
def probe_data(tmp_path_factory):
    return write_pairing_example(
        tmp_path_factory.mktemp("probe"),
        n_images=2,
        query_size=(112, 56),
        candidate_size=(56, 56),
        think_words=4,
    )


@pytest.mark.parametrize("stage, image_calls", [("sft-lora", 1), ("grpo", 3)])
def test_run_stage_measures_one_step_on_the_tiny_model(
    tmp_path, tiny_model_dir, probe_data, stage, image_calls
):
    result = run_stage(
        stage,
        tiny_model_dir,
        probe_data,
        tmp_path / "out",
        dtype="float32",
        completion_tokens=4,
        max_pixels=3136,
    )
    assert result.stage == stage and result.dtype == "float32"
    assert result.loss is not None and math.isfinite(result.loss)  # the measured step logged its loss
    assert result.image_calls == image_calls  # GRPO: generation, reference (adapters off), policy
    assert result.image_mismatches == []
    assert result.step_seconds > 0 and result.peak_memory_bytes > 0 and result.tokens_per_second > 0
    assert result.images_per_prompt == 2 and result.visual_tokens_per_prompt > 0
    assert result.sequence_length > result.visual_tokens_per_prompt
    assert 0 < result.trainable_parameters < result.total_parameters
    assert result.trainable_vision_parameters == 0
    if stage == "grpo":
        assert result.prompts == 2 and result.completion_tokens <= 2 * 4 and result.generate_seconds > 0
    else:
        assert result.prompts == 1 and result.completion_tokens > 0
