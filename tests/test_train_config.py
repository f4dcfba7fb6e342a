"""YAML + command-line configs: types, choices and unknown keys give errors naming the key; recipes parse."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from geor1.errors import ConfigError
from geor1.train.config import build_configs, load_config, parse_overrides, save_run_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CPU = {"use_cpu": True, "bf16": False}


def write_yaml(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


def test_overrides_win_and_are_typed(tmp_path):
    config = write_yaml(tmp_path / "c.yaml", {"model_name_or_path": "m", "learning_rate": "1e-4", **CPU})
    mapping, (script, model_args, args) = load_config(
        "grpo",
        config,
        [
            "--learning_rate",
            "3e-5",
            "--reward_funcs",
            "accuracy,format,length",
            "--reward_weights",
            "[1, 0.5, 0.25]",
            "--max-steps=7",
            "--use_peft",
            "--lora_target_modules",
            "q_proj",
            "v_proj",
            "--reward_options",
            "{length: {max_len: 64}}",
            "--report_to",
            "none",
        ],
    )
    assert args.learning_rate == 3e-5 and args.max_steps == 7
    assert script.reward_funcs == ["accuracy", "format", "length"]
    assert args.reward_weights == [1.0, 0.5, 0.25]
    assert model_args.use_peft is True and model_args.lora_target_modules == ["q_proj", "v_proj"]
    assert script.reward_options == {"length": {"max_len": 64}}
    assert mapping["max_steps"] == "7"


@pytest.mark.parametrize(
    ("kind", "key", "value", "message"),
    [
        ("grpo", "learnig_rate", 1e-5, "did you mean 'learning_rate'"),
        ("grpo", "learning_rate", "fast", "invalid float value: 'fast'"),
        ("grpo", "max_steps", 2.5, "invalid int value: '2.5'"),
        ("grpo", "learning_rate", "-1e-4", "must be >= 0"),  # a value that looks like an option
        ("grpo", "use_cpu", "maybe", "Truthy value expected: got maybe"),
        ("grpo", "loss_type", "ppo", "expected one of grpo"),
        ("grpo", "scale_rewards", "sometimes", "expected one of group"),
        ("grpo", "vllm_mode", "remote", "expected one of server, colocate"),
        (
            "grpo",
            "save_strategy",
            "hourly",
            "invalid choice: 'hourly' \\(choose from '?no'?, '?steps'?, '?epoch",
        ),
        ("grpo", "lr_scheduler_type", "zigzag", "invalid choice: 'zigzag'"),
        ("grpo", "reward_funcs", {"a": 1}, "expected a list"),
        ("grpo", "reward_options", [1, 2], "expected a mapping"),
        ("grpo", "curriculum_threshold", "high", "invalid float value"),
        ("grpo", "curriculum_threshold", 1.5, "must be in"),
        ("grpo", "curriculum_window", 0, "at least 1"),
        ("grpo", "curriculum_bands", ["easy", "easy"], "distinct"),
        ("grpo", "max_pixels", 0, "positive"),
        ("grpo", "num_generations", 3, "divisible by num_generations"),
        ("sft", "loss_type", "grpo", "invalid choice: 'grpo' \\(choose from '?nll'?, '?dft"),
        ("sft", "curriculum", True, "unknown key for a sft run"),
        ("sft", "dtype", "float8", "expected one of auto"),
    ],
)
def test_bad_values_name_the_key(kind, key, value, message):
    mapping = {"model_name_or_path": "m", "per_device_train_batch_size": 8, **CPU, key: value}
    with pytest.raises(ConfigError, match=message) as info:
        build_configs(kind, mapping)
    assert info.value.key == key
    assert f"'{key}'" in str(info.value)


def test_yaml_errors_and_env(tmp_path, monkeypatch):
    not_mapping = tmp_path / "list.yaml"
    not_mapping.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config("sft", not_mapping)
    with pytest.raises(ConfigError, match="file not found"):
        load_config("sft", tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="expected --key value") as info:
        parse_overrides(["learning_rate", "1"])
    assert info.value.key == "learning_rate"
    monkeypatch.delenv("GEOR1_TEST_ENV", raising=False)
    config = write_yaml(
        tmp_path / "env.yaml", {"env": {"GEOR1_TEST_ENV": "on"}, "model_name_or_path": "m", **CPU}
    )
    mapping, configs = load_config("sft", config)
    import os

    assert os.environ["GEOR1_TEST_ENV"] == "on"
    monkeypatch.delenv("GEOR1_TEST_ENV")
    saved = save_run_config(tmp_path / "run", "sft", mapping, configs)
    load_config("sft", saved)  # the saved config carries the env block
    assert os.environ["GEOR1_TEST_ENV"] == "on"


def test_typed_settings_replace_the_file_and_overrides_win(tmp_path, monkeypatch):
    """``settings`` (Python values, as geo-r1 demo gives them) sit between the file and the overrides; a bad
    one is reported under its key, not at a line of the file; their env block is applied."""
    import os

    monkeypatch.setenv("GEOR1_TEST_ENV", "unset")
    config = write_yaml(
        tmp_path / "c.yaml",
        {"env": {"GEOR1_TEST_ENV": "file"}, "model_name_or_path": "m", "learning_rate": 1e-4, **CPU},
    )
    settings = {
        "env": {"GEOR1_TEST_ENV": "settings"},
        "learning_rate": 3e-3,
        "max_steps": 5,
        "reward_funcs": ["accuracy"],
        "reward_options": {},
    }
    mapping, (script, _, args) = load_config("grpo", config, ["--max_steps", "7"], settings=settings)
    assert (args.learning_rate, args.max_steps, script.reward_funcs) == (3e-3, 7, ["accuracy"])
    assert mapping["learning_rate"] == 3e-3 and mapping["env"] == {"GEOR1_TEST_ENV": "settings"}
    assert os.environ["GEOR1_TEST_ENV"] == "settings"
    with pytest.raises(ConfigError, match="learning_rate") as info:
        load_config("grpo", config, settings={"learning_rate": -1.0})
    assert info.value.key == "learning_rate" and info.value.path is None


def test_saved_run_config_reruns_to_the_same_values(tmp_path):
    mapping = {"model_name_or_path": "m", "output_dir": str(tmp_path), "learning_rate": 2e-5, **CPU}
    mapping.update(parse_overrides(["--max_steps", "9", "--reward_funcs", "accuracy,format"]))
    configs = build_configs("grpo", mapping)
    saved = save_run_config(tmp_path, "grpo", mapping, configs)
    _, (script, _, args) = load_config("grpo", saved)
    assert (args.max_steps, args.learning_rate, script.reward_funcs) == (9, 2e-5, ["accuracy", "format"])
    resolved = yaml.safe_load((tmp_path / "config_resolved.yaml").read_text())
    assert resolved["GRPOConfig"]["max_steps"] == 9 and resolved["ModelConfig"]["model_name_or_path"] == "m"


@pytest.mark.parametrize(
    "name", ["grpo_paper", "grpo_tiny_cpu", "sft_paper", "sft_tiny_cpu", "sft_tiny_cpu_lora"]
)
def test_recipes_parse(name):
    kind = name.split("_")[0]
    overrides = ["--use_cpu", "true"] if "paper" in name else []  # bf16 parses on CPU with use_cpu
    _, (script, model_args, args) = load_config(kind, CONFIGS / f"{name}.yaml", overrides)
    assert script.train_file and model_args.model_name_or_path
    if "paper" in name:
        assert args.bf16 is True and model_args.dtype == "bfloat16"
    if name == "grpo_paper":
        assert model_args.model_name_or_path == "Qwen/Qwen2.5-VL-7B-Instruct"
        assert (args.beta, args.num_generations, args.max_completion_length) == (0.04, 8, 2048)
        assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (4, 2)
        assert (args.num_train_epochs, args.loss_type, args.scale_rewards) == (2, "grpo", "group")
        assert (args.learning_rate, args.temperature) == (1e-6, 1.0)
        assert script.reward_funcs == ["accuracy", "format", "length", "repetition"]
    if name == "grpo_paper" or name == "sft_paper":
        yaml_text = (CONFIGS / f"{name}.yaml").read_text()
        assert "bf16: true" in yaml_text  # on GPUs; the override above only lets it parse on this CPU
    if kind == "sft":
        assert args.max_length is None


# GRPOConfig fields whose TRL 1.16 default differs from (or is not pinned to) what the VLM-R1 trainer that
# Geo-R1 trains with does: the paper recipe must set each one explicitly to the VLM-R1 value.
PAPER_GRPO_CHOICES = {
    "use_bias_correction_kl": False,  # classic k3 KL (TRL 1.16 default: True)
    "importance_sampling_level": "token",
    "mask_truncated_completions": False,
    "top_entropy_quantile": 1.0,
    "epsilon": 0.2,
    "epsilon_high": 0.2,
    "delta": None,
    "loss_type": "grpo",  # TRL 1.16 default: dapo
    "beta": 0.04,  # TRL 1.16 default: 0.0
    "scale_rewards": "group",
    "multi_objective_aggregation": "sum_then_normalize",
    "num_iterations": 1,
    "entropy_coef": 0.0,
    "off_policy_mask_threshold": None,
    "top_k": 50,  # transformers 4.49 GenerationConfig default; TRL 1.16 default: 0 (off)
    "top_p": 1.0,
    "temperature": 1.0,
}


def test_paper_grpo_recipe_sets_every_trl_default_explicitly():
    from trl import GRPOConfig

    text = yaml.safe_load((CONFIGS / "grpo_paper.yaml").read_text())
    _, (_, _, args) = load_config("grpo", CONFIGS / "grpo_paper.yaml", ["--use_cpu", "true"])
    defaults = {f.name: f.default for f in dataclasses.fields(GRPOConfig)}
    assert defaults["use_bias_correction_kl"] is True  # the TRL default the recipe must override
    for key, expected in PAPER_GRPO_CHOICES.items():
        assert key in text, f"{key} is left to TRL's default"
        assert getattr(args, key) == expected, key


@pytest.mark.parametrize("name", ["grpo_paper", "sft_paper"])
def test_paper_recipes_point_at_the_zero3_accelerate_config(name):
    head = (CONFIGS / f"{name}.yaml").read_text().split("\n\n", 1)[0]  # the comment block at the top
    assert "accelerate launch --config_file configs/accelerate/zero3.yaml" in head


@pytest.mark.parametrize(("name", "stage"), [("zero3", 3), ("zero2", 2)])
def test_deepspeed_accelerate_configs_have_their_zero_stage(name, stage):
    config = yaml.safe_load((CONFIGS / "accelerate" / f"{name}.yaml").read_text())
    assert config["distributed_type"] == "DEEPSPEED"
    assert config["deepspeed_config"]["zero_stage"] == stage
    assert config["mixed_precision"] == "bf16"


def test_paper_recipe_needs_gpus_here():
    with pytest.raises(ConfigError) as info:
        load_config("grpo", CONFIGS / "grpo_paper.yaml")
    assert info.value.key == "bf16"


def test_cli_reports_the_bad_key(tmp_path):
    from typer.testing import CliRunner

    from geor1.cli import build_app

    config = write_yaml(tmp_path / "c.yaml", {"model_name_or_path": "m", **CPU})
    result = CliRunner().invoke(build_app(), ["grpo", str(config), "--beta", "lots"])
    assert result.exit_code == 2
    assert "config key 'beta'" in result.output
    out = tmp_path / "run"
    result = CliRunner().invoke(
        build_app(), ["sft", str(config), "--max_steps", "1", "--output_dir", str(out)]
    )
    assert result.exit_code == 2 and "train_file" in result.output
    assert not out.exists()  # a rejected config leaves no run folder behind


@pytest.mark.parametrize("text", ["none", "None", "null", "~"])
def test_dtype_none_from_the_command_line(tmp_path, text):
    config = write_yaml(tmp_path / "c.yaml", {"model_name_or_path": "m", "dtype": "bfloat16", **CPU})
    _, (_, model_args, args) = load_config("grpo", config, ["--dtype", text, "--scale_rewards", "none"])
    assert model_args.dtype is None
    assert args.scale_rewards == "none"  # a string choice named "none" stays a string
    from geor1.train.run import model_init_kwargs

    assert model_init_kwargs(model_args, args)["dtype"] is None
    _, (_, model_args, _) = load_config("sft", config, [f"--dtype={text}"])
    assert model_args.dtype is None


def test_reward_weights_by_name(tmp_path):
    config = write_yaml(
        tmp_path / "c.yaml",
        {
            "model_name_or_path": "m",
            "reward_weights": {"format": 0.5, "accuracy": 2},
            "reward_funcs": ["accuracy", "format", "length"],
            **CPU,
        },
    )
    mapping, (script, _, args) = load_config("grpo", config)
    assert args.reward_weights == [2.0, 0.5, 1.0]  # in reward_funcs order; length left out weighs 1.0
    _, (_, _, args) = load_config("grpo", config, ["--reward_weights", "{length: 0.25}"])
    assert args.reward_weights == [1.0, 1.0, 0.25]
    saved = save_run_config(tmp_path / "run", "grpo", mapping, build_configs("grpo", mapping))
    assert load_config("grpo", saved)[1][2].reward_weights == [2.0, 0.5, 1.0]
    with pytest.raises(ConfigError, match="no reward 'repetition' in reward_funcs") as info:
        load_config("grpo", config, ["--reward_weights", "{accuracy: 1, repetition: 0.5}"])
    assert info.value.key == "reward_weights.repetition"
    with pytest.raises(ConfigError, match="finite number") as info:
        load_config("grpo", config, ["--reward_weights", "{format: heavy}"])
    assert info.value.key == "reward_weights.format"


@pytest.mark.parametrize("name", ["configs/sft_tiny_cpu.yaml", "sft_tiny_cpu", "tiny-cpu", "tiny_cpu.yaml"])
def test_packaged_recipes_are_found_from_any_folder(tmp_path, monkeypatch, tiny_model_dir, name):
    from typer.testing import CliRunner

    from geor1.cli import build_app

    monkeypatch.chdir(tmp_path)  # not the repository root: configs/ is not here
    result = CliRunner().invoke(
        build_app(),
        ["sft", name, "--model_name_or_path", str(tiny_model_dir), "--train_file", "missing.jsonl"],
    )
    assert result.exit_code == 2 and "missing.jsonl: file not found" in result.output, result.output
    assert "config key 'config'" not in result.output


def test_unknown_recipe_lists_the_packaged_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        ConfigError, match=r"file not found: nope\.yaml \(packaged recipes, by name: .*sft_tiny_cpu"
    ):
        load_config("sft", "nope.yaml")
