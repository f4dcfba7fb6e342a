"""SFT on CoT examples: assistant-only labels, LoRA and full runs, metrics.jsonl, checkpoints, data errors."""

from __future__ import annotations

import json

import pytest

from geor1.errors import RecordError
from geor1.train.config import build_configs
from geor1.train.data import load_examples
from geor1.train.sft import build_sft_trainer, run_sft


def sft_mapping(model_dir, data, out, **extra):
    mapping = {
        "model_name_or_path": str(model_dir),
        "train_file": [str(data)],
        "output_dir": str(out),
        "use_cpu": True,
        "bf16": False,
        "max_length": None,
        "gradient_checkpointing": False,
        "per_device_train_batch_size": 4,
        "learning_rate": 3e-3,
        "max_steps": 4,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "seed": 0,
    }
    mapping.update(extra)
    return mapping


def test_labels_cover_only_the_assistant_completion(tmp_path, tiny_model_dir, cot_jsonl):
    script, model_args, args = build_configs("sft", sft_mapping(tiny_model_dir, cot_jsonl, tmp_path / "run"))
    trainer = build_sft_trainer(script, model_args, args)
    batch = next(iter(trainer.get_train_dataloader()))
    tokenizer = trainer.processing_class.tokenizer
    examples = [json.loads(line) for line in cot_jsonl.read_text().splitlines()]
    completions = {e["completion"][0]["content"] for e in examples}
    image_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((batch["input_ids"] == image_id).sum()) > 0
    for labels in batch["labels"]:
        kept = labels[labels != -100]
        text = tokenizer.decode(kept)
        assert text.endswith("<|im_end|>\n")
        assert text.removesuffix("<|im_end|>\n") in completions  # nothing of the prompt, no image tokens
        assert image_id not in kept.tolist()


@pytest.mark.parametrize("use_peft", [True, False], ids=["lora", "full"])
def test_sft_trains_and_saves(tmp_path, tiny_model_dir, cot_jsonl, use_peft):
    extra = {"save_strategy": "steps", "save_steps": 2}
    if use_peft:
        extra.update(use_peft=True, lora_r=8, lora_alpha=16, lora_target_modules=["q_proj", "v_proj"])
    mapping = sft_mapping(tiny_model_dir, cot_jsonl, tmp_path / "run", **extra)
    run_sft(*build_configs("sft", mapping), mapping)
    out = tmp_path / "run"
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4]
    if not use_peft:
        assert losses[-1] < losses[0]  # full fine-tuning at lr 3e-3 moves the loss in 4 steps
    assert (out / "checkpoint-4").is_dir() and (out / "config.yaml").exists()
    assert json.loads((out / "ranks" / "rank-0.json").read_text())["global_step"] == 4
    weights = "adapter_model.safetensors" if use_peft else "model.safetensors"
    assert (out / weights).exists() and (out / "checkpoint-4" / weights).exists()
    from geor1.io import current_umask

    for saved in (out / weights, out / "checkpoint-4" / weights):  # the umask's mode, not 0600
        assert saved.stat().st_mode & 0o777 == 0o666 & ~current_umask()
    if use_peft:
        from peft import PeftModel

        from geor1.models import load_model

        PeftModel.from_pretrained(load_model(tiny_model_dir), str(out / "checkpoint-4"))
    else:
        from geor1.models import load_model, load_processor

        assert load_model(out / "checkpoint-4").config.model_type == "qwen2_5_vl"
        assert load_processor(out).tokenizer.padding_side == "left"


def test_sft_saves_the_trained_weights(tmp_path, tiny_model_dir, cot_jsonl, check_saved_model):
    """The model in output_dir is the one training produced, not the one it started from."""
    out = tmp_path / "run"
    mapping = sft_mapping(tiny_model_dir, cot_jsonl, out, max_steps=2)
    trainer = run_sft(*build_configs("sft", mapping), mapping)
    assert trainer.state.global_step == 2
    check_saved_model(out, tiny_model_dir, trainer)


def test_sft_runs_extra_callbacks_and_prints_no_log_records_when_quiet(
    tmp_path, tiny_model_dir, cot_jsonl, capsys, quiet_run
):
    """``callbacks`` join the run's own (metrics.jsonl still written); ``quiet`` drops the Trainer's
    printing of each log record (what geo-r1 demo trains with)."""
    out = tmp_path / "run"
    mapping = sft_mapping(tiny_model_dir, cot_jsonl, out, max_steps=2, disable_tqdm=True)
    trainer = run_sft(*build_configs("sft", mapping), mapping, callbacks=[quiet_run.callback], quiet=True)
    quiet_run.check(trainer, capsys.readouterr().out, "loss")
    assert [r["step"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())][:2] == [
        1,
        2,
    ]


def test_sft_data_errors_name_file_line_field(tmp_path, cot_jsonl):
    lines = cot_jsonl.read_text().splitlines()
    bad = json.loads(lines[1])
    del bad["completion"]
    path = cot_jsonl.parent / "bad.jsonl"
    path.write_text(lines[0] + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(RecordError, match=r"bad\.jsonl:2 field 'completion'"):
        load_examples(path, "sft")
    missing = json.loads(lines[0])
    missing["images"][0] = "images/nowhere.png"
    path.write_text(json.dumps(missing) + "\n")
    with pytest.raises(RecordError, match=r"bad\.jsonl:1 field 'images'"):
        load_examples(path, "grpo")
    missing["images"][0] = str(cot_jsonl.parent / "images" / "ex0_0.png")
    path.write_text(json.dumps(missing) + "\n")
    with pytest.raises(RecordError, match="absolute"):
        load_examples(path, "grpo")
    dataset = load_examples(cot_jsonl, "grpo")
    assert "completion" not in dataset.column_names
    assert dataset[0]["images"][0].size == (56, 56) and dataset[0]["band"] == "easy"


@pytest.mark.parametrize("use_peft", [True, False], ids=["lora", "full"])
def test_sft_resumes_from_a_checkpoint_with_the_cli(tmp_path, tiny_model_dir, cot_jsonl, use_peft):
    """Run 4 steps saving at step 2, lose everything after step 2 (as a run killed at step 3 would), then
    resume the way a user does (``--resume_from_checkpoint latest`` or a checkpoint folder)."""
    import shutil
    import time

    import yaml
    from typer.testing import CliRunner

    from geor1.cli import build_app

    out = tmp_path / "run"
    extra = {"save_strategy": "steps", "save_steps": 2, "lr_scheduler_type": "constant"}
    if use_peft:
        extra.update(use_peft=True, lora_r=8, lora_alpha=16, lora_target_modules=["q_proj", "v_proj"])
    config = tmp_path / "sft.yaml"
    config.write_text(yaml.safe_dump(sft_mapping(tiny_model_dir, cot_jsonl, out, **extra)))
    first = CliRunner().invoke(build_app(), ["sft", str(config)])
    assert first.exit_code == 0, first.output
    for lost in ("checkpoint-4", "ranks"):
        shutil.rmtree(out / lost)

    resume_at = time.time()
    where = str(out / "checkpoint-2") if use_peft else "latest"
    resumed = CliRunner().invoke(build_app(), ["sft", str(config), "--resume_from_checkpoint", where])
    assert resumed.exit_code == 0, resumed.output
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and state["max_steps"] == 4
    assert [r["step"] for r in state["log_history"] if "loss" in r] == [1, 2, 3, 4]
    assert json.loads((out / "ranks" / "rank-0.json").read_text())["global_step"] == 4
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    trained = [r for r in records if "loss" in r]
    assert [r["step"] for r in trained] == [1, 2, 3, 4]  # no step logged twice
    # Steps 1-2 come from the first run, 3-4 from the resumed one (a restart from scratch redoes 1-2).
    assert [r["time"] < resume_at for r in trained] == [True, True, False, False]
    weights = "adapter_model.safetensors" if use_peft else "model.safetensors"
    assert (out / weights).exists() and (out / "checkpoint-4" / weights).exists()
