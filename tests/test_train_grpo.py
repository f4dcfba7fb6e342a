"""GRPO on pairing examples: rewards and group statistics in metrics.jsonl, checkpoints, LoRA, curriculum."""

from __future__ import annotations

import json

import pytest

from geor1.train.callbacks import CurriculumCallback, CurriculumRepeatSampler, CurriculumState
from geor1.train.config import build_configs
from geor1.train.grpo import build_grpo_trainer, run_grpo


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


def test_grpo_saves_the_trained_weights(tmp_path, tiny_model_dir, pairing_jsonl, check_saved_model):
    """The model in output_dir is the one training produced, not the one it started from."""
    out = tmp_path / "run"
    mapping = grpo_mapping(tiny_model_dir, pairing_jsonl, out, max_steps=2, save_strategy="no")
    trainer = run_grpo(*build_configs("grpo", mapping), mapping)
    assert trainer.state.global_step == 2
    check_saved_model(out, tiny_model_dir, trainer)
    from geor1.io import current_umask

    # the umask's mode, not the 0600 save_pretrained writes (others sharing the run folder can read it)
    assert (out / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~current_umask()


def test_grpo_runs_extra_callbacks_and_prints_no_log_records_when_quiet(
    tmp_path, tiny_model_dir, pairing_jsonl, capsys, quiet_run
):
    """``callbacks`` join the run's own (metrics.jsonl still written); ``quiet`` drops the Trainer's
    printing of each log record (what geo-r1 demo trains with)."""
    out = tmp_path / "run"
    mapping = grpo_mapping(
        tiny_model_dir, pairing_jsonl, out, max_steps=2, save_strategy="no", disable_tqdm=True
    )
    trainer = run_grpo(*build_configs("grpo", mapping), mapping, callbacks=[quiet_run.callback], quiet=True)
    quiet_run.check(trainer, capsys.readouterr().out, "reward")
    assert [r["step"] for r in read_metrics(out) if "reward" in r] == [1, 2]


@pytest.mark.parametrize(
    "weights,applied",
    [([2.0, 0.5], [2.0, 0.5]), ({"format": 0.25}, [1.0, 0.25]), (None, [1.0, 1.0])],
    ids=["list", "by-name", "default"],
)
def test_grpo_trainer_applies_the_configured_reward_weights(
    tmp_path, tiny_model_dir, pairing_jsonl, weights, applied
):
    extra = {"reward_funcs": ["accuracy", "format"], "reward_options": {}}
    if weights is not None:
        extra["reward_weights"] = weights
    mapping = grpo_mapping(tiny_model_dir, pairing_jsonl, tmp_path / "run", **extra)
    trainer = build_grpo_trainer(*build_configs("grpo", mapping))
    assert trainer.reward_weights.tolist() == applied  # what TRL multiplies each reward by
    assert [f.__name__ for f in trainer.reward_funcs] == ["accuracy", "format"]


def test_grpo_length_reward_counts_tokens_of_the_policy(tmp_path, tiny_model_dir, pairing_jsonl):
    """The length reward measures completions with the policy's tokenizer (as the paper's code does), and a
    config without train_file is refused by name."""
    from geor1.errors import ConfigError

    mapping = grpo_mapping(tiny_model_dir, pairing_jsonl, tmp_path / "run")
    trainer = build_grpo_trainer(*build_configs("grpo", mapping))
    length = trainer.reward_funcs[2]
    assert length.__name__ == "length" and length.tokenizer is trainer.processing_class.tokenizer
    # generation's LM head gets contiguous rows (see geor1.models.loading.contiguous_lm_head_input)
    assert trainer.model.get_output_embeddings()._forward_pre_hooks
    text = "<think>a b</think><answer>A</answer>"
    assert length.lengths([text], {}) == [len(trainer.processing_class.tokenizer.encode(text))]
    mapping["train_file"] = []
    with pytest.raises(ConfigError) as err:
        build_grpo_trainer(*build_configs("grpo", mapping))
    assert str(err.value) == "config key 'train_file': required: one or more task JSONL files"


def test_grpo_logged_reward_is_the_weighted_sum_of_the_rewards(tmp_path, tiny_model_dir, pairing_jsonl):
    """TRL's ``reward`` is the mean of the weighted sum per completion, so it equals the weighted sum of the
    per-reward means: the configured weights, not 1 each, are what training used."""
    out = tmp_path / "run"
    weights = [2.0, 0.5, 1.5, 0.25]
    mapping = grpo_mapping(
        tiny_model_dir, pairing_jsonl, out, max_steps=2, save_strategy="no", reward_weights=weights
    )
    run_grpo(*build_configs("grpo", mapping), mapping)
    names = ("accuracy", "format", "length", "repetition")
    records = [r for r in read_metrics(out) if "reward" in r]
    assert len(records) == 2
    for record in records:
        means = [record[f"rewards/{name}/mean"] for name in names]
        assert record["reward"] == pytest.approx(
            sum(w * m for w, m in zip(weights, means, strict=True)), abs=1e-5
        )
        assert record["reward"] != pytest.approx(sum(means), abs=1e-3)  # the weights make a difference here


def completion_logprobs(model, processor, examples, samples) -> list[float]:
    """Return log p(token | prompt) of each one-token completion in ``samples`` (``(example id, token id)``
    pairs), prompts built the way GRPO builds them: chat template with the generation prompt and the
    example's images."""
    import torch

    by_id = {e["id"]: e for e in examples}
    logprobs = []
    model.eval()
    with torch.no_grad():
        for example_id, token in samples:
            example = by_id[example_id]
            text = processor.apply_chat_template(
                example["prompt"], tokenize=False, add_generation_prompt=True
            )
            inputs = processor(text=[text], images=example["images"], return_tensors="pt")
            logits = model(**inputs).logits[0, -1].float()
            logprobs.append(float(logits.log_softmax(-1)[token]))
    return logprobs


@pytest.mark.parametrize("use_peft", [False, True], ids=["full", "lora"])
def test_grpo_raises_the_probability_of_rewarded_completions(
    tmp_path, tiny_model_dir, pairing_jsonl, use_peft
):
    """One-token completions, reward 1 for an even token id: after one seeded GRPO step the policy saved in
    output_dir gives the completions it was rewarded for more probability, the unrewarded ones less."""
    from statistics import fmean

    from geor1.models import load_model, load_processor
    from geor1.train.data import load_examples

    first_batch: list[tuple[str, int, float]] = []

    def even_token(completion_ids, id, trainer_state, **kwargs):
        rewards = [1.0 if ids and ids[0] % 2 == 0 else 0.0 for ids in completion_ids]
        if trainer_state.global_step == 0:  # the completions the first update learns from
            first_batch.extend((i, ids[0], r) for i, ids, r in zip(id, completion_ids, rewards, strict=True))
        return rewards

    out = tmp_path / "run"
    extra = {"learning_rate": 1e-3}
    if use_peft:
        extra = dict(use_peft=True, lora_r=8, lora_alpha=16, lora_target_modules=["q_proj", "v_proj"],
                     learning_rate=1e-2)  # fmt: skip
    mapping = grpo_mapping(
        tiny_model_dir,
        pairing_jsonl,
        out,
        max_completion_length=1,
        per_device_train_batch_size=16,
        num_generations=4,
        max_steps=1,
        save_strategy="no",
        **extra,
    )
    script, model_args, args = build_configs("grpo", mapping)
    run_grpo(script, model_args, args, mapping, reward_funcs=[even_token])
    (record,) = [r for r in read_metrics(out) if "reward" in r]
    assert record["rewards/even_token/mean"] == pytest.approx(fmean(r for *_, r in first_batch))
    samples = [(i, token) for i, token, _ in first_batch]
    rewarded = [r == 1.0 for *_, r in first_batch]
    assert len(samples) == 16 and 0 < sum(rewarded) < 16  # within-group variance: a non-zero gradient

    processor = load_processor(tiny_model_dir)
    examples = load_examples([str(pairing_jsonl)], "grpo")
    before = completion_logprobs(load_model(tiny_model_dir, dtype="float32"), processor, examples, samples)
    if use_peft:
        from peft import PeftModel

        assert not (out / "model.safetensors").exists()
        trained = PeftModel.from_pretrained(load_model(tiny_model_dir, dtype="float32"), str(out))
    else:
        trained = load_model(out, dtype="float32")
    after = completion_logprobs(trained, processor, examples, samples)
    gain = [a - b for a, b in zip(after, before, strict=True)]
    up = fmean(g for g, r in zip(gain, rewarded, strict=True) if r)
    down = fmean(g for g, r in zip(gain, rewarded, strict=True) if not r)
    print(f"log-prob change after one step: rewarded {up:+.3f}, unrewarded {down:+.3f}")
    assert up > 0.05 and down < -0.05, (up, down)


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
