"""Training configs: geor1's dataclasses beside TRL's ``ModelConfig`` and ``SFTConfig``/``GRPOConfig``.

A config is one flat YAML mapping, the same shape as a TRL ``TrlParser`` recipe (an optional ``env:``
mapping sets environment variables), overridden by ``--key value`` pairs on the command line::

    geo-r1 grpo configs/grpo_tiny_cpu.yaml --learning_rate 1e-4 --reward_funcs accuracy,format

The dataclasses are built by TRL's ``TrlParser`` (transformers' ``HfArgumentParser``): every value, from
the file or the command line, goes through the parser's argparse type conversion, and an argparse
error becomes a ``ConfigError`` naming the key. geor1 adds what the parser lacks: an unknown key is
refused with the closest match, string choices TRL checks late (or never) are checked up front,
numeric settings are checked against their ranges, and values that TRL's own ``__post_init__`` rejects
are reported under the key its message names. ``parse_dataclasses`` is that parser for any dataclasses;
``geo-r1 demo --set section.field=value`` types its settings with it too.

``reward_weights`` (GRPO) is a list aligned with ``reward_funcs`` or a mapping from reward name to weight
(``{accuracy: 1.0, format: 0.5}``; rewards left out weigh 1.0), turned into the list ``GRPOConfig`` holds.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import json
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from geor1.errors import ConfigError
from geor1.io import atomic_write_text

# String fields TRL validates late (or not at all): checked here so the error names the key up front.
CHOICES: dict[str, tuple[Any, ...]] = {
    "scale_rewards": ("group", "batch", "none", True, False),
    "vllm_mode": ("server", "colocate"),
    "importance_sampling_level": ("token", "sequence"),
    "multi_objective_aggregation": ("sum_then_normalize", "normalize_then_sum"),
    "dtype": ("auto", "bfloat16", "float16", "float32", None),
    "lora_task_type": ("CAUSAL_LM", "SEQ_2_SEQ_LM", "FEATURE_EXTRACTION"),
}
# Keys whose choices depend on the trainer (SFT's loss_type comes from SFTConfig's field metadata).
TRAINER_CHOICES: dict[str, dict[str, tuple[Any, ...]]] = {
    "sft": {},
    "grpo": {"loss_type": ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")},
}

# Numeric settings checked before anything loads: (lowest, highest, lowest allowed?, highest allowed?).
# Neither transformers nor TRL rejects most of these, so a bad value would otherwise fail (or silently
# misbehave) only once the model is loaded and training starts.
INF = float("inf")
BOUNDS: dict[str, tuple[float, float, bool, bool]] = {
    "learning_rate": (0.0, INF, True, True),
    "weight_decay": (0.0, INF, True, True),
    "max_grad_norm": (0.0, INF, True, True),
    "adam_beta1": (0.0, 1.0, True, False),
    "adam_beta2": (0.0, 1.0, True, False),
    "adam_epsilon": (0.0, INF, True, True),
    "warmup_ratio": (0.0, 1.0, True, True),
    "num_train_epochs": (0.0, INF, False, True),
    "per_device_train_batch_size": (1, INF, True, True),
    "per_device_eval_batch_size": (1, INF, True, True),
    "gradient_accumulation_steps": (1, INF, True, True),
    "save_total_limit": (1, INF, True, True),
    "beta": (0.0, INF, True, True),
    "temperature": (0.0, INF, False, True),
    "top_p": (0.0, 1.0, False, True),
    "max_completion_length": (1, INF, True, True),
    "max_prompt_length": (1, INF, True, True),
    "max_length": (1, INF, True, True),
    "max_train_samples": (1, INF, True, True),
    "lora_r": (1, INF, True, True),
    "lora_dropout": (0.0, 1.0, True, False),
}


def check_bounds(configs: tuple) -> None:
    """Raise ConfigError naming the first numeric setting outside its range (see ``BOUNDS``); settings
    left at their defaults are checked too, so a bad YAML default cannot slip through."""
    for key, (low, high, low_ok, high_ok) in BOUNDS.items():
        for cfg in configs:
            if not hasattr(cfg, key):
                continue
            value = getattr(cfg, key)
            if value is None or isinstance(value, bool) or not isinstance(value, int | float):
                break
            below = value < low or (value == low and not low_ok)
            above = value > high or (value == high and not high_ok)
            if below or above:
                if high == INF:
                    rule = f"{'>=' if low_ok else '>'} {low:g}"
                else:
                    rule = f"in {'[' if low_ok else '('}{low:g}, {high:g}{']' if high_ok else ')'}"
                raise ConfigError(key, f"must be {rule}; got {value:g}")
            break
    max_steps = next((c.max_steps for c in configs if hasattr(c, "max_steps")), None)
    if isinstance(max_steps, int) and (max_steps == 0 or max_steps < -1):
        raise ConfigError("max_steps", f"must be positive (or -1: use num_train_epochs); got {max_steps}")


@dataclass
class DataArguments:
    """Where the examples are and how images are sized."""

    train_file: list[str] = field(
        default_factory=list,
        metadata={"help": "Task/CoT JSONL file(s); image paths are relative to each file."},
    )
    eval_file: list[str] | None = field(default=None, metadata={"help": "Optional evaluation JSONL file(s)."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only the first N examples."})
    min_pixels: int | None = field(
        default=None, metadata={"help": "Smallest image area after resizing (Qwen: shortest_edge)."}
    )
    max_pixels: int | None = field(
        default=None, metadata={"help": "Largest image area after resizing; bounds visual tokens per image."}
    )

    def __post_init__(self) -> None:
        for key in ("min_pixels", "max_pixels"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ConfigError(key, f"must be a positive pixel count, got {value}")
        if self.min_pixels is not None and self.max_pixels is not None and self.min_pixels > self.max_pixels:
            raise ConfigError("min_pixels", f"exceeds max_pixels ({self.min_pixels} > {self.max_pixels})")


@dataclass
class SFTScriptArguments(DataArguments):
    """geor1 options of an SFT (scaffolding) run."""


@dataclass
class GRPOScriptArguments(DataArguments):
    """geor1 options of a GRPO (elevating) run: rewards and the optional difficulty curriculum."""

    reward_funcs: list[str] = field(
        default_factory=lambda: ["accuracy", "format"],
        metadata={
            "help": "Reward names from geor1.rewards (accuracy, format, length, repetition, geodesic, and the "
            "reference's vlmr1_accuracy, vlmr1_format, vlmr1_length, vlmr1_repetition) or import paths "
            "package.module:function."
        },
    )
    reward_options: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "Options for geor1.rewards.build_reward_funcs: shared (n_options: 4) or per "
            "reward (length: {max_len: 1024})."
        },
    )
    curriculum: bool = field(default=False, metadata={"help": "Raise negative difficulty band by band."})
    curriculum_bands: list[str] = field(
        default_factory=lambda: ["easy", "medium", "hard"],
        metadata={"help": "Bands in order of difficulty (values of the examples' meta.band)."},
    )
    curriculum_threshold: float = field(
        default=0.7, metadata={"help": "Running accuracy that moves the curriculum to the next band."}
    )
    curriculum_window: int = field(default=4, metadata={"help": "Logged steps in the running accuracy."})
    curriculum_reward: str = field(
        default="accuracy", metadata={"help": "Reward whose mean is the curriculum's accuracy."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.curriculum_bands or len(set(self.curriculum_bands)) != len(self.curriculum_bands):
            raise ConfigError("curriculum_bands", "must list distinct bands, easiest first")
        if not 0.0 <= self.curriculum_threshold <= 1.0:
            raise ConfigError("curriculum_threshold", f"must be in [0, 1], got {self.curriculum_threshold}")
        if self.curriculum_window < 1:
            raise ConfigError("curriculum_window", f"must be at least 1, got {self.curriculum_window}")


def trainer_classes(kind: str) -> tuple[type, type, type]:
    """Return the (script, model, trainer) dataclass types of a run kind ("sft" or "grpo")."""
    from trl import GRPOConfig, ModelConfig, SFTConfig

    if kind == "sft":
        return SFTScriptArguments, ModelConfig, SFTConfig
    if kind == "grpo":
        return GRPOScriptArguments, ModelConfig, GRPOConfig
    raise ValueError(f"unknown run kind {kind!r}")


def type_name(hint: Any) -> str:
    """Return a short readable name of a field's type hint (``list[str] | None``)."""
    if hint is type(None):
        return "null"
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(hint))
    if origin is not None:
        return repr(hint).replace("typing.", "")
    return getattr(hint, "__name__", repr(hint))


def field_hints(kind: str) -> dict[str, tuple[type, Any]]:
    """Return ``{key: (dataclass, type hint)}`` of every config key of a run kind (first class wins)."""
    return class_field_hints(trainer_classes(kind))


def class_field_hints(classes: tuple[type, ...]) -> dict[str, tuple[type, Any]]:
    """Return ``{key: (dataclass, type hint)}`` of every init field of ``classes`` (first class wins)."""
    index: dict[str, tuple[type, Any]] = {}
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.init and f.name not in index:
                index[f.name] = (cls, hints.get(f.name, Any))
    return index


# ----------------------------------------------------------------------------------------------- parsing


def parse_overrides(tokens: list[str]) -> dict[str, Any]:
    """Return the ``{key: value}`` of command-line overrides: ``--key value``, ``--key=value``, ``--flag``
    (true), ``--key v1 v2`` (a list). Dashes in keys become underscores; values stay strings, typed later
    by the parser like the YAML's, and kept as given so the saved ``config.yaml`` reruns the same way."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or len(token) == 2:
            raise ConfigError(token, "expected --key value on the command line")
        key, eq, inline = token[2:].partition("=")
        key = key.replace("-", "_")
        i += 1
        if eq:
            out[key] = inline
            continue
        values = []
        while i < len(tokens) and not tokens[i].startswith("--"):
            values.append(tokens[i])
            i += 1
        out[key] = "true" if not values else values[0] if len(values) == 1 else values
    return out


def recipes_dir() -> Path:
    """Return the folder of the packaged recipes (the repository's ``configs/`` links to it)."""
    import importlib.resources

    return Path(str(importlib.resources.files("geor1") / "recipes"))


def resolve_config_path(path: str | Path, kind: str | None = None) -> Path:
    """Return ``path`` if it exists, else the packaged recipe it names, so the README's commands work
    from any folder: ``configs/sft_tiny_cpu.yaml``, ``sft_tiny_cpu``, or (for ``kind`` sft) ``tiny-cpu``.
    Raise ConfigError listing the packaged recipes when neither exists."""
    path = Path(path)
    if path.exists():
        return path
    recipes = recipes_dir()
    parts = path.parts[1:] if path.parts[:1] == ("configs",) else path.parts
    stem = Path(*parts) if parts else Path(path.name)
    names = [stem, stem.with_name(stem.name.replace("-", "_"))]
    if kind is not None:
        names += [n.with_name(f"{kind}_{n.name}") for n in names]
    for name in names:
        for candidate in (recipes / name, recipes / f"{name}.yaml"):
            if candidate.is_file():
                return candidate
    known = ", ".join(sorted(p.stem for p in recipes.glob("*.yaml")))
    raise ConfigError("config", f"file not found: {path} (packaged recipes, by name: {known})")


def read_yaml_config(path: str | Path) -> dict[str, Any]:
    """Return the mapping of a YAML config file; its ``env:`` block is applied to ``os.environ`` and kept
    in the mapping (so the saved run config carries it)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError("config", f"file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError("config", f"{path} is not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("config", f"{path} must hold a mapping of keys to values")
    apply_env(data.get("env"))
    return data


def apply_env(env: Any) -> None:
    """Set the variables of a config's ``env:`` mapping in ``os.environ`` (before torch is imported, so
    ``OMP_NUM_THREADS`` takes effect)."""
    if env is None:
        return
    if not isinstance(env, dict):
        raise ConfigError("env", "must be a mapping of environment variables")
    for name, value in env.items():
        os.environ[str(name)] = str(value)


def _key_in_message(message: str, keys: list[str]) -> str:
    for key in sorted(keys, key=len, reverse=True):
        if key in message:
            return key
    return "config"


def _parser(classes: tuple[type, ...]) -> Any:
    """Return TRL's ``TrlParser`` for ``classes``, raising ConfigError naming the key where argparse would
    print its usage and exit."""
    from trl import TrlParser

    class Parser(TrlParser):
        def error(self, message: str) -> typing.NoReturn:
            match = re.match(r"argument --(\w+)", message)
            if match is None:
                raise ConfigError("config", message)
            raise ConfigError(match.group(1), message.split(": ", 1)[1])

    return Parser(classes, allow_abbrev=False)


def _nullable(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def _choice_value(value: Any, allowed: tuple[Any, ...]) -> Any:
    """Return the choice a config value stands for: "true"/"false" as booleans, and "none"/"null"/"~" as
    None where None is a choice and the string itself is not (``scale_rewards: none`` stays a string)."""
    if not isinstance(value, str) or value in allowed:
        return value
    text = value.strip().lower()
    if text in {"true", "false"}:
        return text == "true"
    if None in allowed and text in {"none", "null", "~"}:
        return None
    return value


def _is_null(value: Any, hint: Any) -> bool:
    """Whether a value stands for None in a field of type ``hint``: "none" stays a string where strings
    are allowed (``report_to: none``); "null" and "~" are always null."""
    if value is None:
        return True
    if not isinstance(value, str) or not _nullable(hint):
        return False
    text = value.strip().lower()
    return text in {"null", "~"} or (text == "none" and str not in typing.get_args(hint))


def _as_mapping(key: str, value: Any) -> dict[str, Any]:
    parsed = yaml.safe_load(value) if isinstance(value, str) else value
    if not isinstance(parsed, dict):
        raise ConfigError(key, f"expected a mapping, got {value!r}")
    return dict(parsed)


def _argv(key: str, value: Any, is_list: bool) -> list[str]:
    """Return ``--key value...`` for a config value, so the parser types YAML values as it types
    command-line ones. A list field also takes ``a,b`` or ``[a, b]`` as one string."""
    if isinstance(value, str) and is_list:
        text = value.strip()
        parsed = yaml.safe_load(text) if text.startswith("[") else None
        value = parsed if isinstance(parsed, list) else [v.strip() for v in text.split(",") if v.strip()]
    if isinstance(value, dict) and is_list:
        raise ConfigError(key, f"expected a list, got {value!r}")
    if not is_list:
        # --key=value, so argparse takes a value such as -1e-4 or -x as the value, not as an option; a
        # list where one value belongs then fails the field's type check, naming the key
        text = json.dumps(value) if isinstance(value, list | tuple) else _text(value)
        return [f"--{key}={text}"]
    return [f"--{key}", *(_text(v) for v in (value if isinstance(value, list | tuple) else [value]))]


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def parse_dataclasses(
    classes: tuple[type, ...],
    mapping: dict[str, Any],
    *,
    choices: dict[str, tuple[Any, ...]] | None = None,
    defaults: dict[str, Any] | None = None,
    what: str = "this config",
) -> tuple[Any, ...]:
    """Return instances of ``classes`` built by TRL's ``TrlParser`` from a flat mapping of keys to values
    (YAML values or command-line strings), each typed by the parser's argparse conversion, on top of
    ``defaults`` (typed values replacing the dataclasses' own defaults). An unknown key raises ConfigError
    with the closest match (``what`` names the config in the message), a bad value one naming its key;
    ``choices`` are checked up front. The key ``env`` is TrlParser's and skipped."""
    hints = class_field_hints(classes)
    choices = choices or {}
    parser = _parser(classes)
    list_keys = {a.dest for a in parser._actions if a.nargs == "+"}
    # Every value goes through the parser's own type conversion as --key value (TrlParser's
    # set_defaults_with_config would pass a YAML value of the wrong type through unchecked); only values
    # that are already typed (None, a checked choice, a mapping) are set as defaults.
    argv: list[str] = []
    typed: dict[str, Any] = dict(defaults or {})
    for key, value in mapping.items():
        if key == "env":  # reserved, as in TrlParser: applied by read_yaml_config
            continue
        if key not in hints:
            close = difflib.get_close_matches(key, list(hints), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(key, f"unknown key for {what}{hint}")
        _, hint_type = hints[key]
        if key in choices:
            raw = _choice_value(value, choices[key])
            if raw not in choices[key]:
                shown = ", ".join(str(c) for c in choices[key])
                raise ConfigError(key, f"expected one of {shown}; got {value!r}")
            typed[key] = raw
        elif _is_null(value, hint_type):
            typed[key] = None
        elif typing.get_origin(hint_type) is dict or hint_type is dict:
            typed[key] = _as_mapping(key, value)
        elif key in list_keys and isinstance(value, list | tuple) and not value:
            typed[key] = []
        else:
            argv += _argv(key, value, key in list_keys)
    parser.set_defaults_with_config(**typed)
    try:
        built = parser.parse_args_into_dataclasses(args=argv)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(_key_in_message(str(exc), list(mapping) or list(hints)), str(exc)) from None
    return tuple(built)


def _named_weights(value: Any) -> bool:
    """Whether a ``reward_weights`` value is the mapping form (``{accuracy: 1.0}``), as data or text."""
    return isinstance(value, dict) or (isinstance(value, str) and value.lstrip().startswith("{"))


def build_configs(kind: str, mapping: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Return ``(script_args, model_args, trainer_args)`` built from a flat mapping by TRL's ``TrlParser``
    (``parse_dataclasses``); a bad key or value raises ConfigError naming it."""
    named_weights: dict[str, Any] | None = None
    if kind == "grpo" and _named_weights(mapping.get("reward_weights")):
        # aligned with reward_funcs once the scripts are built
        named_weights = _as_mapping("reward_weights", mapping["reward_weights"])
        mapping = {k: v for k, v in mapping.items() if k != "reward_weights"}
    choices = {**CHOICES, **TRAINER_CHOICES[kind]}
    script, model_args, trainer = parse_dataclasses(
        trainer_classes(kind), mapping, choices=choices, what=f"a {kind} run"
    )
    if kind == "grpo":
        from geor1.rewards.registry import check_reward_names

        check_reward_names(script.reward_funcs)  # a bad name or import path fails before the model loads
    if named_weights is not None:
        from geor1.rewards import reward_weights_for

        trainer.reward_weights = reward_weights_for(script.reward_funcs, named_weights)
    check_bounds((script, model_args, trainer))
    return script, model_args, trainer


def load_config(
    kind: str,
    path: str | Path,
    overrides: list[str] | None = None,
    *,
    settings: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], tuple]:
    """Return ``(merged_mapping, (script_args, model_args, trainer_args))`` from a YAML file, then
    ``settings`` (already typed values from Python, e.g. ``geo-r1 demo`` on a recipe; an ``env`` mapping
    among them is applied), then command-line overrides (overrides win)."""
    path = resolve_config_path(path, kind)
    mapping = read_yaml_config(path)
    settings = dict(settings or {})
    mapping.update(settings)
    if "env" in settings:
        apply_env(mapping["env"])
    given = parse_overrides(list(overrides or []))
    mapping.update(given)
    try:
        return mapping, build_configs(kind, mapping)
    except ConfigError as exc:
        top = re.split(r"[.\[]", exc.key, maxsplit=1)[0]
        if exc.path is not None or top in given or top in settings:
            raise
        lines = _key_lines(path)
        if top not in lines:  # a key the file does not set (e.g. a required one it lacks)
            raise exc.located(path) from None
        raise exc.located(path, lines[top]) from None


def _key_lines(path: Path) -> dict[str, int]:
    """Return ``{top-level key: 1-based line}`` of a YAML mapping file (empty if it cannot be read)."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(key.value): key.start_mark.line + 1 for key, _ in node.value}


def _plain(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=lambda o: o.value if isinstance(o, enum.Enum) else str(o)))


def save_run_config(output_dir: str | Path, kind: str, mapping: dict[str, Any], configs: tuple) -> Path:
    """Write ``config.yaml`` (the given keys: rerun with ``geo-r1 <kind> config.yaml``) and
    ``config_resolved.yaml`` (every field of every dataclass) into ``output_dir``; return the first."""
    output_dir = Path(output_dir)
    given = {k: mapping[k] for k in mapping}
    header = f"# geor1 {kind} run config (rerun: geo-r1 {kind} {output_dir / 'config.yaml'})\n"
    path = atomic_write_text(
        output_dir / "config.yaml",
        header + yaml.safe_dump(_plain(given), sort_keys=False, allow_unicode=True),
    )
    resolved: dict[str, Any] = {}
    for cfg in configs:
        data = cfg.to_dict() if hasattr(cfg, "to_dict") else dataclasses.asdict(cfg)
        resolved[type(cfg).__name__] = _plain(data)
    atomic_write_text(output_dir / "config_resolved.yaml", yaml.safe_dump(resolved, sort_keys=False))
    return path
