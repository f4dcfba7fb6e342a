"""GRPO on pairing examples: rewards and group statistics in metrics.jsonl, checkpoints, LoRA, curriculum."""

from __future__ import annotations

import json

from geor1.train.callbacks import CurriculumCallback, CurriculumRepeatSampler, CurriculumState
from geor1.train.config import build_configs
from geor1.train.grpo import run_grpo


def grpo_mapping(model_dir, data, out, **extra):
    mapping = {
        "model_name_or_path": str(model_dir),
        "train_file": [str(data)],
        "output_dir": str(out),
        "reward_funcs": ["accuracy", "format", "length", "repetition"],
        "reward_options": {"length": {"max_len": 12}},
        "use_cpu": True,
        "bf16": False,
        "gradient_checkpointing": False,
        "per_device_train_batch_size": 4,
        "num_generations": 4,
        "max_completion_length": 12,
        "learning_rate": 1e-3,
        "beta": 0.0,
        "loss_type": "grpo",
        "max_steps": 3,
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": 2,
        "report_to": "none",
        "seed": 0,
    }
    mapping.update(extra)
    return mapping


def read_metrics(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_grpo_logs_every_reward_and_checkpoint_loads(tmp_path, tiny_model_dir, pairing_jsonl):
    from geor1.models import load_model, load_processor

    out = tmp_path / "run"
    mapping = grpo_mapping(tiny_model_dir, pairing_jsonl, out)
    trainer = run_grpo(*build_configs("grpo", mapping), mapping)
    assert trainer.state.global_step == 3
    steps = [r for r in read_metrics(out) if "reward" in r]
    assert [r["step"] for r in steps] == [1, 2, 3]
    for record in steps:
        for name in ("accuracy", "format", "length", "repetition"):
            assert f"rewards/{name}/mean" in record
        assert 0.0 <= record["frac_reward_zero_std"] <= 1.0
        assert 0 < record["completions/mean_length"] <= 12
        assert -0.5 <= record["rewards/length/mean"] <= 1.0  # the cosine length range
    assert (out / "config.yaml").exists() and (out / "config_resolved.yaml").exists()
    model = load_model(out / "checkpoint-2")
    processor = load_processor(out / "checkpoint-2")
    assert model.config.model_type == "qwen2_5_vl" and processor.tokenizer.padding_side == "left"
    assert (out / "model.safetensors").exists()


def test_grpo_lora_learns_from_a_varying_reward(tmp_path, tiny_model_dir, pairing_jsonl):
    """A reward with within-group variance gives a non-zero gradient: the LoRA weights move."""

    def letter_count(completions, **kwargs):
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return [float(sum(ch in "ABCD" for ch in t)) / max(len(t), 1) for t in texts]

    out = tmp_path / "lora"
    mapping = grpo_mapping(
        tiny_model_dir,
        pairing_jsonl,
        out,
        max_steps=2,
        save_strategy="no",
        use_peft=True,
        lora_r=8,
        lora_alpha=16,
        lora_target_modules=["q_proj", "v_proj"],
        learning_rate=1e-2,
    )
    script, model_args, args = build_configs("grpo", mapping)
    trainer = run_grpo(script, model_args, args, mapping, reward_funcs=[letter_count])
    records = [r for r in read_metrics(out) if "reward" in r]
    assert all("rewards/letter_count/mean" in r for r in records)
    assert any(r["frac_reward_zero_std"] < 1.0 for r in records)
    lora_b = [p for n, p in trainer.model.named_parameters() if "lora_B" in n]
    assert lora_b and any(float(p.detach().abs().sum()) > 0 for p in lora_b)  # lora_B starts at zero
    assert (out / "adapter_model.safetensors").exists()


# ------------------------------------------------------------------------------------------- curriculum


def test_curriculum_state_advances_when_running_accuracy_passes_threshold():
    state = CurriculumState(["easy", "medium", "hard"], threshold=0.6, window=2)
    for value in (0.5, 0.6):
        state.update(value)
    assert state.band == "easy"  # mean 0.55
    state.update(0.7)  # (0.6, 0.7) -> 0.65 >= 0.6
    assert state.band == "medium" and state.running_accuracy() is None
    for value in (1.0, 1.0, 1.0, 1.0, 1.0):
        state.update(value)
    assert state.band == "hard"  # never past the last band
    restored = CurriculumState(["easy", "medium", "hard"], threshold=0.6, window=2)
    restored.load_dict(json.loads(json.dumps(state.to_dict())))
    assert restored.band == "hard"


def test_curriculum_callback_and_sampler_switch_band():
    bands = ["easy", "medium", "hard"] * 4
    state = CurriculumState(["easy", "medium", "hard"], threshold=0.5, window=1)
    sampler = CurriculumRepeatSampler(bands, state, mini_repeat_count=2, batch_size=2, repeat_count=1, seed=0)
    callback = CurriculumCallback(state, "accuracy")
    drawn = []
    iterator = iter(sampler)
    for accuracy in (0.1, 0.8, 0.2, 0.9):
        group = [next(iterator) for _ in range(4)]  # one generation batch: 2 prompts x 2 completions
        drawn.append({bands[i] for i in group})
        assert group[0] == group[1] and group[2] == group[3]  # each prompt repeated for its group
        logs = {"rewards/accuracy/mean": accuracy}
        callback.on_log(None, None, None, logs=logs)
        assert logs["curriculum/band_index"] == state.index
    assert drawn == [{"easy"}, {"easy"}, {"medium"}, {"medium"}]
    assert state.band == "hard"
    assert len(sampler) == len(bands) // 2 * 2 * 2


def test_grpo_curriculum_moves_the_sampled_band(tmp_path, tiny_model_dir, pairing_jsonl):
    seen_bands: list[set[str]] = []

    def always_right(completions, band, **kwargs):
        seen_bands.append(set(band))
        return [1.0] * len(completions)

    out = tmp_path / "curriculum"
    mapping = grpo_mapping(
        tiny_model_dir,
        pairing_jsonl,
        out,
        max_steps=3,
        save_strategy="no",
        max_completion_length=4,
        curriculum=True,
        curriculum_threshold=0.5,
        curriculum_window=1,
        curriculum_reward="always_right",
    )
    script, model_args, args = build_configs("grpo", mapping)
    run_grpo(script, model_args, args, mapping, reward_funcs=[always_right])
    # The band moves after every step (threshold 0.5, window 1); the dataloader fetches one generation
    # batch ahead, so a switch shows in the batch after next.
    assert seen_bands == [{"easy"}, {"easy"}, {"medium"}]
    records = [r for r in read_metrics(out) if "curriculum/band_index" in r]
    assert [r["curriculum/band_index"] for r in records] == [1, 2, 2]
    assert records[0]["curriculum/advanced_to"] == "medium"
