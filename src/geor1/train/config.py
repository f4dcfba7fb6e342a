"""Training configs: geor1's dataclasses beside TRL's ``ModelConfig`` and ``SFTConfig``/``GRPOConfig``.

A config is one flat YAML mapping, the same shape as a TRL ``TrlParser`` recipe (an optional ``env:``
mapping sets environment variables), overridden by ``--key value`` pairs on the command line::

    geo-r1 grpo configs/grpo_tiny_cpu.yaml --learning_rate 1e-4 --reward_funcs accuracy,format

Every key is checked against the field types of the dataclasses before anything is built, so a bad
value fails fast with a ``ConfigError`` that names the key (unknown key, wrong type, value not among
the choices). Values that TRL's own ``__post_init__`` rejects are reported under the key its message
names.

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


# ----------------------------------------------------------------------------------------------- coercion

_NONE_STRINGS = {"none", "null", "~"}
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class _Mismatch(Exception):
    """A value that does not fit a type (turned into a ConfigError naming the key by the caller)."""


def _type_name(hint: Any) -> str:
    if hint is type(None):
        return "null"
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(hint))
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(hint)))
    if origin is not None:
        return repr(hint).replace("typing.", "")
    return getattr(hint, "__name__", repr(hint))


def _parse_text(text: str) -> Any:
    """Parse a command-line string as a YAML scalar/collection (``[a, b]``, ``{k: v}``, ``1e-4``)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def coerce(value: Any, hint: Any) -> Any:
    """Return ``value`` converted to the type ``hint`` (strings from the command line are parsed), or
    raise ``_Mismatch`` with the reason."""
    if hint is Any or hint is object:
        return _parse_text(value) if isinstance(value, str) else value
    if hint is type(None):
        if value is None or (isinstance(value, str) and value.strip().lower() in _NONE_STRINGS):
            return None
        raise _Mismatch("expected null")
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        # "none" stays a string where strings are allowed (report_to: none); "null" and "~" are always null.
        nulls = {"null", "~"} if str in args else _NONE_STRINGS
        if value is None or (
            type(None) in args and isinstance(value, str) and value.strip().lower() in nulls
        ):
            if type(None) in args:
                return None
            raise _Mismatch(f"expected {_type_name(hint)}, got null")
        enums = [a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)]
        if enums and isinstance(value, str | enum.Enum):
            return coerce(value, enums[0])  # "Enum | str" fields: the str is for serialisation only
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg)
            except _Mismatch:
                continue
        raise _Mismatch(f"expected {_type_name(hint)}, got {value!r}")
    if origin is typing.Literal:
        if value in typing.get_args(hint):
            return value
        raise _Mismatch(f"expected {_type_name(hint)}, got {value!r}")
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        choices = [m.value for m in hint]
        raw = value.value if isinstance(value, enum.Enum) else value
        if raw in choices:
            return raw
        raise _Mismatch(f"expected one of {', '.join(map(str, choices))}; got {value!r}")
    if origin in (list, tuple) or hint in (list, tuple):
        item = (typing.get_args(hint) or (Any,))[0]
        if isinstance(value, str):
            parsed = _parse_text(value) if value.strip().startswith("[") else None
            value = parsed if isinstance(parsed, list) else [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            value = [value]
        out = []
        for i, v in enumerate(value):
            try:
                out.append(coerce(v, item))
            except _Mismatch as exc:
                raise _Mismatch(f"item {i}: {exc}") from None
        return out
    if origin is dict or hint is dict:
        parsed = _parse_text(value) if isinstance(value, str) else value
        if isinstance(parsed, dict):
            return parsed
        raise _Mismatch(f"expected a mapping, got {value!r}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise _Mismatch(f"expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise _Mismatch(f"expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise _Mismatch(f"expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise _Mismatch(f"expected a string, got {value!r}")
    if isinstance(value, str):
        return value
    return value


# ----------------------------------------------------------------------------------------------- parsing


def parse_overrides(tokens: list[str]) -> dict[str, Any]:
    """Return the ``{key: value}`` of command-line overrides: ``--key value``, ``--key=value``, ``--flag``
    (true), ``--key v1 v2`` (a list). Dashes in keys become underscores; values stay strings."""
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


def _field_index(classes: tuple[type, ...]) -> tuple[dict[str, tuple[type, Any]], dict[str, tuple]]:
    """Return ``{key: (dataclass, type hint)}`` and the ``choices`` declared in field metadata."""
    index: dict[str, tuple[type, Any]] = {}
    declared: dict[str, tuple] = {}
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.init and f.name not in index:
                index[f.name] = (cls, hints.get(f.name, Any))
                if f.metadata.get("choices"):
                    declared[f.name] = tuple(f.metadata["choices"])
    return index, declared


def _key_in_message(message: str, keys: list[str]) -> str:
    for key in sorted(keys, key=len, reverse=True):
        if key in message:
            return key
    return "config"


def _as_mapping(value: Any) -> dict[str, Any] | None:
    """Return ``value`` as a mapping if it is one (or a command-line string holding one), else None."""
    parsed = _parse_text(value) if isinstance(value, str) else value
    return dict(parsed) if isinstance(parsed, dict) else None


def _choice_value(value: Any, allowed: tuple[Any, ...]) -> Any:
    """Return the choice a config value stands for: "true"/"false" as booleans, and "none"/"null"/"~" as
    None where None is a choice and the string itself is not (``scale_rewards: none`` stays a string)."""
    if not isinstance(value, str) or value in allowed:
        return value
    text = value.strip().lower()
    if text in {"true", "false"}:
        return _parse_text(text)
    if None in allowed and text in _NONE_STRINGS:
        return None
    return value


def build_configs(kind: str, mapping: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Return ``(script_args, model_args, trainer_args)`` built from a flat mapping; a bad key or value
    raises ConfigError naming it."""
    classes = trainer_classes(kind)
    index, declared = _field_index(classes)
    choices = {**declared, **CHOICES, **TRAINER_CHOICES[kind]}
    kwargs: dict[type, dict[str, Any]] = {cls: {} for cls in classes}
    named_weights: dict[str, Any] | None = None
    for key, value in mapping.items():
        if key == "env":  # reserved, as in TRL's TrlParser: applied by read_yaml_config
            continue
        if key == "reward_weights" and kind == "grpo" and (weights := _as_mapping(value)) is not None:
            named_weights = weights  # aligned with reward_funcs once the script arguments are built
            continue
        if key not in index:
            close = difflib.get_close_matches(key, list(index), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(key, f"unknown key for a {kind} run{hint}")
        cls, hint_type = index[key]
        if key in choices:
            allowed = choices[key]
            raw = _choice_value(value, allowed)
            if raw not in allowed:
                shown = ", ".join(str(c) for c in allowed)
                raise ConfigError(key, f"expected one of {shown}; got {value!r}")
            kwargs[cls][key] = raw
            continue
        try:
            kwargs[cls][key] = coerce(value, hint_type)
        except _Mismatch as exc:
            raise ConfigError(key, str(exc)) from None
    built = []
    for cls in classes:
        try:
            built.append(cls(**kwargs[cls]))
        except ConfigError:
            raise
        except (ValueError, TypeError) as exc:
            raise ConfigError(_key_in_message(str(exc), list(mapping) or list(index)), str(exc)) from None
    if kind == "grpo":
        from geor1.rewards.registry import check_reward_names

        check_reward_names(built[0].reward_funcs)  # a bad name or import path fails before the model loads
    if named_weights is not None:
        from geor1.rewards import reward_weights_for

        script, _, trainer = built
        trainer.reward_weights = reward_weights_for(script.reward_funcs, named_weights)
    check_bounds(tuple(built))
    return tuple(built)


def load_config(
    kind: str, path: str | Path, overrides: list[str] | None = None
) -> tuple[dict[str, Any], tuple]:
    """Return ``(merged_mapping, (script_args, model_args, trainer_args))`` from a YAML file and
    command-line overrides (overrides win)."""
    path = resolve_config_path(path, kind)
    mapping = read_yaml_config(path)
    given = parse_overrides(list(overrides or []))
    mapping.update(given)
    try:
        return mapping, build_configs(kind, mapping)
    except ConfigError as exc:
        top = re.split(r"[.\[]", exc.key, maxsplit=1)[0]
        if exc.path is not None or top in given:
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
