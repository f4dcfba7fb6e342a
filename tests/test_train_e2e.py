"""The CPU pipeline through the CLI: offline Earth → pairing tasks → tiny model → SFT → GRPO from the SFT output."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from geor1.cli import build_app
from geor1.io import read_jsonl, write_jsonl

CPU_RUN = {
    "use_cpu": True,
    "bf16": False,
    "gradient_checkpointing": False,
    "logging_steps": 1,
    "save_strategy": "steps",
    "save_steps": 2,
    "report_to": "none",
    "seed": 0,
}


def weights(folder):
    """Return the tensors of a saved model folder by name."""
    from safetensors.torch import load_file

    tensors = {}
    for path in sorted(folder.glob("*.safetensors")):
        tensors.update(load_file(path))
    return tensors


def changed_tensors(before, after) -> int:
    """Return how many tensors differ between two saved models."""
    import torch

    return sum(not torch.equal(before[name], after[name]) for name in before)


def invoke(args):
    result = CliRunner().invoke(build_app(), [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


@pytest.mark.slow
def test_earth_pairing_sft_then_grpo_through_the_cli(tmp_path):
    earth = tmp_path / "earth"
    invoke(["data", "earth", "--out", earth, "--places", 24, "--size", 56, "--min-spacing-km", 50, "--quiet"])
    tasks = tmp_path / "tasks" / "pairing.jsonl"
    invoke(
        [
            "data",
            "pairing",
            "--views",
            earth / "views.jsonl",
            "--out",
            tasks,
            "--band",
            "mixed",
            "--limit",
            12,
        ]
    )
    examples = read_jsonl(tasks)
    assert examples and {e["task"] for e in examples} == {"pairing"}

    # Scaffolding data: CoT examples written directly (the CoT generator is a separate stage).
    cot = tasks.parent / "cot.jsonl"
    write_jsonl(
        cot,
        (
            {
                **e,
                "completion": [
                    {
                        "role": "assistant",
                        "content": f"<think>The {e['meta'].get('candidate_view', 'candidate')} view "
                        f"{e['solution']} matches the query.</think><answer>{e['solution']}</answer>",
                    }
                ],
            }
            for e in examples
        ),
    )
    model = tmp_path / "tiny"
    invoke(["model", "tiny", "--out", model, "--arch", "qwen2_5_vl"])

    sft_out = tmp_path / "sft"
    sft_config = tmp_path / "sft.yaml"
    sft_config.write_text(
        yaml.safe_dump(
            {
                "model_name_or_path": str(model),
                "train_file": [str(cot)],
                "output_dir": str(sft_out),
                "max_length": None,
                "per_device_train_batch_size": 4,
                "learning_rate": 3e-3,
                "max_steps": 2,
                **CPU_RUN,
            }
        )
    )
    invoke(["sft", sft_config])
    assert (sft_out / "model.safetensors").exists()

    grpo_out = tmp_path / "grpo"
    grpo_config = tmp_path / "grpo.yaml"
    grpo_config.write_text(
        yaml.safe_dump(
            {
                "model_name_or_path": str(sft_out),
                "train_file": [str(tasks)],
                "output_dir": str(grpo_out),
                "reward_funcs": ["accuracy", "format", "length", "repetition"],
                "reward_options": {"length": {"max_len": 16}},
                "per_device_train_batch_size": 4,
                "num_generations": 4,
                "max_completion_length": 16,
                "learning_rate": 1e-4,
                "beta": 0.04,
                "loss_type": "grpo",
                "max_steps": 2,
                "curriculum": True,
                **CPU_RUN,
            }
        )
    )
    invoke(["grpo", grpo_config, "--max_steps", "2"])
    metrics = [json.loads(line) for line in (grpo_out / "metrics.jsonl").read_text().splitlines()]
    steps = [m for m in metrics if "reward" in m]
    assert len(steps) == 2
    assert all(
        f"rewards/{name}/mean" in m for m in steps for name in ("accuracy", "format", "length", "repetition")
    )
    assert all("kl" in m and "frac_reward_zero_std" in m for m in steps)
    assert steps[0]["curriculum/band_index"] == 0
    from geor1.models import load_model

    assert load_model(grpo_out / "checkpoint-2").config.model_type == "qwen2_5_vl"
    # each stage saved what it trained: SFT moved the tiny model; GRPO moved the SFT model exactly when a
    # step had a gradient (two steps of a barely trained model often give every completion the same reward)
    tiny, sft, grpo = (weights(folder) for folder in (model, sft_out, grpo_out))
    assert tiny.keys() == sft.keys() == grpo.keys()
    assert changed_tensors(tiny, sft) > len(tiny) // 2
    learned = any(m["grad_norm"] > 0 for m in steps)
    assert (changed_tensors(sft, grpo) > len(sft) // 2) if learned else (changed_tensors(sft, grpo) == 0)
    assert changed_tensors(grpo, weights(grpo_out / "checkpoint-2")) == 0  # the final model is step 2's
