"""What a GRPO config hands to TRL, read off the built trainer without a training step: the rewards (named or
given in Python) and their weights, the data, the processor, the model's dtype and adapters, the user's
callbacks, and the curriculum (the band sampled, the reward it watches, a checkpoint's band). Fast enough to
judge every mutant of ``geor1.train.grpo`` (``benchmarks/mutation.py grpo``); training runs are in
``test_train_grpo.py``."""

from __future__ import annotations

import json

import pytest

from conftest import write_pairing_examples
from geor1.errors import ConfigError
from geor1.rewards import build_reward_funcs
from geor1.train.callbacks import CURRICULUM_FILE, CurriculumState
from geor1.train.config import build_configs
from geor1.train.grpo import build_grpo_trainer, main, resolve_rewards

TEXT = "<think>a b c</think><answer>A</answer>"


def grpo_mapping(model_dir, data, out, **extra) -> dict:
    mapping = {
        "model_name_or_path": str(model_dir),
        "train_file": [str(data)],
        "output_dir": str(out),
        "reward_funcs": ["accuracy", "format", "length"],
        "reward_options": {"length": {"max_len": 12}},
        "use_cpu": True,
        "bf16": False,
        "gradient_checkpointing": False,
        "per_device_train_batch_size": 4,
        "num_generations": 2,
        "max_completion_length": 4,
        "report_to": "none",
        "seed": 0,
    }
    mapping.update(extra)
    return mapping


class CharTokenizer:
    """One token per character (a policy tokenizer whose counts differ from word counts)."""

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]


class PairTokenizer:
    """One token per two characters."""

    def encode(self, text: str) -> list[int]:
        return list(range((len(text) + 1) // 2))


def test_python_api_reward_functions_replace_the_named_ones_and_weights_must_match(tmp_path):
    def right(completions, **kwargs):
        return [1.0] * len(completions)

    def short(completions, **kwargs):
        return [0.5] * len(completions)

    script, _, args = build_configs("grpo", grpo_mapping("m", tmp_path / "t.jsonl", tmp_path / "run"))
    funcs = [right, short]
    assert resolve_rewards(script, args, funcs) == [right, short] and args.reward_weights is None
    args.reward_weights = [2.0, 0.5]
    assert resolve_rewards(script, args, funcs) == [right, short] and args.reward_weights == [2.0, 0.5]
    args.reward_weights = [1.0]
    with pytest.raises(ConfigError) as err:
        resolve_rewards(script, args, funcs)
    assert err.value.key == "reward_weights"
    assert str(err.value) == "config key 'reward_weights': needs 2 values, one per reward function"


def test_named_rewards_get_their_options_weights_and_the_policys_tokenizer(tmp_path):
    mapping = grpo_mapping("m", tmp_path / "t.jsonl", tmp_path / "run", reward_weights={"format": 0.5})
    script, _, args = build_configs("grpo", mapping)
    policy = CharTokenizer()
    funcs = resolve_rewards(script, args, tokenizer=policy)
    assert [f.__name__ for f in funcs] == ["accuracy", "format", "length"]
    assert args.reward_weights == [1.0, 0.5, 1.0]
    # the length reward counts the policy's tokens and uses the configured max_len
    length = funcs[2]
    assert length.lengths([TEXT], {}) == [len(TEXT)]
    (want,) = build_reward_funcs(["length"], length={"max_len": 12}, tokenizer=policy)
    texts = [TEXT, "<think>" + "w" * 20 + "</think><answer>B</answer>"]
    assert length(texts, solution=["A", "A"]) == want(texts, solution=["A", "A"])
    assert want(texts, solution=["A", "A"]) != build_reward_funcs(["length"], tokenizer=policy)[0](
        texts, solution=["A", "A"]
    )  # max_len 12 makes a difference for these texts
    # a tokenizer given in the reward options wins over the policy's
    script.reward_options = {"length": {"max_len": 12}, "tokenizer": PairTokenizer()}
    assert resolve_rewards(script, args, tokenizer=policy)[2].lengths([TEXT], {}) == [(len(TEXT) + 1) // 2]
    # rewards that measure no tokens get no tokenizer (it is not one of their options)
    script.reward_funcs, script.reward_options = ["accuracy", "format"], {}
    args.reward_weights = None
    assert [f.__name__ for f in resolve_rewards(script, args, tokenizer=policy)] == ["accuracy", "format"]


def test_grpo_trainer_gets_the_configured_data_processor_model_and_callbacks(
    tmp_path, tiny_model_dir, pairing_jsonl
):
    import torch
    from PIL import Image
    from transformers import TrainerCallback

    from geor1.train.callbacks import CurriculumCallback

    evaluation = write_pairing_examples(tmp_path / "eval", n=3, seed=7, name="eval.jsonl")
    mapping = grpo_mapping(
        tiny_model_dir,
        pairing_jsonl,
        tmp_path / "run",
        eval_file=[str(evaluation)],
        max_train_samples=5,
        min_pixels=28 * 28 * 5,
        max_pixels=28 * 28 * 8,
        dtype="bfloat16",
        use_peft=True,
        lora_r=4,
        lora_alpha=8,
        lora_target_modules=["q_proj", "v_proj"],
    )

    class Marker(TrainerCallback):
        pass

    marker = Marker()
    script, model_args, args = build_configs("grpo", mapping)
    trainer = build_grpo_trainer(script, model_args, args, callbacks=[marker])
    train_rows = [json.loads(line) for line in pairing_jsonl.read_text().splitlines()]
    eval_rows = [json.loads(line) for line in evaluation.read_text().splitlines()]
    assert trainer.train_dataset["solution"] == [r["solution"] for r in train_rows[:5]]
    assert trainer.eval_dataset["solution"] == [r["solution"] for r in eval_rows]
    assert trainer.eval_dataset["band"] == [r["meta"]["band"] for r in eval_rows]
    # the image budget: a large image shrinks to at most max_pixels, a small one grows to min_pixels
    image_processor = trainer.processing_class.image_processor

    def pixels(size: tuple[int, int]) -> int:
        (grid,) = image_processor(images=[Image.new("RGB", size)], return_tensors="pt")["image_grid_thw"]
        return int(grid.prod()) * 14 * 14

    assert pixels((14, 14)) >= 28 * 28 * 5 and pixels((112, 112)) <= 28 * 28 * 8  # tiny model: 3136, 12544
    assert trainer.processing_class.tokenizer.padding_side == "left"
    assert trainer.model.dtype == torch.bfloat16
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    assert 0 < trainable < sum(p.numel() for p in trainer.model.parameters()) // 10  # LoRA adapters only
    callbacks = trainer.callback_handler.callbacks
    assert marker in callbacks and not any(isinstance(c, CurriculumCallback) for c in callbacks)

    # Python-API reward functions replace the configured ones
    def right(completions, **kwargs):
        return [1.0] * len(completions)

    trainer = build_grpo_trainer(
        *build_configs("grpo", grpo_mapping(tiny_model_dir, pairing_jsonl, tmp_path)), reward_funcs=[right]
    )
    assert trainer.reward_funcs == [right]


def test_grpo_trainer_curriculum_samples_the_band_of_its_checkpoint_and_moves_on(
    tmp_path, tiny_model_dir, pairing_jsonl
):
    from transformers import TrainerCallback

    checkpoint = tmp_path / "checkpoint-4"
    checkpoint.mkdir()
    resumed = CurriculumState(["easy", "medium", "hard"], 0.5, 2, index=1)
    (checkpoint / CURRICULUM_FILE).write_text(json.dumps(resumed.to_dict()))
    accuracy = "geor1.rewards.accuracy:AccuracyMCQ"  # an import path: TRL logs it under "accuracy"
    mapping = grpo_mapping(
        tiny_model_dir,
        pairing_jsonl,
        tmp_path / "run",
        reward_funcs=[accuracy, "format"],
        reward_options={},
        curriculum=True,
        curriculum_threshold=0.5,
        curriculum_window=2,
        curriculum_reward=accuracy,
    )

    class Marker(TrainerCallback):
        pass

    marker = Marker()
    script, model_args, args = build_configs("grpo", mapping)
    trainer = build_grpo_trainer(
        script, model_args, args, callbacks=[marker], curriculum_checkpoint=str(checkpoint)
    )
    assert marker in trainer.callback_handler.callbacks

    def sampled_bands() -> set[str]:
        batch = next(iter(trainer.get_train_dataloader()))
        return {row["band"] for row in batch}

    assert sampled_bands() == {"medium"}  # the checkpoint's band, not the first
    logged = []
    for value in (0.4, 0.7):  # window 2: the mean 0.55 reaches the threshold 0.5 at the second log
        logs = {"rewards/accuracy/mean": value}
        trainer.callback_handler.on_log(trainer.args, trainer.state, trainer.control, logs)
        logged.append(logs)
    assert [log["curriculum/band_index"] for log in logged] == [1, 2]
    assert "curriculum/advanced_to" not in logged[0] and logged[1]["curriculum/advanced_to"] == "hard"
    assert sampled_bands() == {"hard"}


def test_grpo_trainer_curriculum_watches_a_python_reward_by_its_name(tmp_path, tiny_model_dir, pairing_jsonl):
    """A Python-API reward (not among the configured names) is watched under its own name."""

    def always_right(completions, **kwargs):
        return [1.0] * len(completions)

    mapping = grpo_mapping(
        tiny_model_dir,
        pairing_jsonl,
        tmp_path / "run",
        reward_funcs=["accuracy"],  # as many configured names as Python rewards
        reward_options={},
        curriculum=True,
        curriculum_threshold=0.5,
        curriculum_window=1,
        curriculum_reward="always_right",
    )
    trainer = build_grpo_trainer(*build_configs("grpo", mapping), reward_funcs=[always_right])
    logs = {"rewards/always_right/mean": 1.0}
    trainer.callback_handler.on_log(trainer.args, trainer.state, trainer.control, logs)
    assert logs["curriculum/advanced_to"] == "medium"


def test_grpo_trainer_curriculum_needs_a_band_of_the_examples(tmp_path, tiny_model_dir, pairing_jsonl):
    mapping = grpo_mapping(
        tiny_model_dir, pairing_jsonl, tmp_path / "run", curriculum=True, curriculum_bands=["warm", "hot"]
    )
    with pytest.raises(ConfigError) as err:
        build_grpo_trainer(*build_configs("grpo", mapping))
    assert err.value.key == "curriculum_bands"
    assert str(err.value) == "config key 'curriculum_bands': no example has a band in ['warm', 'hot']"


def test_grpo_module_main_says_how_to_call_it_and_reports_a_bad_key(tmp_path, capsys, monkeypatch):
    usage = "usage: python -m geor1.train.grpo CONFIG [--key value ...]"
    with pytest.raises(SystemExit) as stop:
        main([])
    assert stop.value.code == usage
    monkeypatch.setattr("sys.argv", ["grpo.py"])  # python -m geor1.train.grpo, no arguments
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == usage
    config = tmp_path / "grpo.yaml"
    config.write_text(
        f"model_name_or_path: m\ntrain_file: [{tmp_path / 't.jsonl'}]\noutput_dir: {tmp_path}\n"
    )
    # python -m geor1.train.grpo CONFIG --curriculum_threshold 2: a GRPO key, read from the overrides
    monkeypatch.setattr("sys.argv", ["grpo.py", str(config), "--curriculum_threshold", "2"])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2
    assert capsys.readouterr().err == "error: config key 'curriculum_threshold': must be in [0, 1], got 2.0\n"
