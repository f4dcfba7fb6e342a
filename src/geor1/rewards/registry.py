"""Rewards by name, with options and weights from config, and an all-components score for debugging."""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from geor1.errors import ConfigError
from geor1.rewards.accuracy import AccuracyMCQ
from geor1.rewards.format import ThinkAnswerFormat
from geor1.rewards.geodesic import GeodesicReward
from geor1.rewards.length import CosineLength
from geor1.rewards.pairing_gps import PairingGPS
from geor1.rewards.repetition import RepetitionPenalty
from geor1.rewards.vlmr1 import VLMR1Accuracy, VLMR1Format, VLMR1Length, VLMR1Repetition

# name -> factory (keyword options only). The name is also the reward's __name__, so TRL logs rewards/<name>/mean.
REWARD_FUNCS: dict[str, Callable[..., Callable[..., list[float | None]]]] = {
    "accuracy": AccuracyMCQ,
    "format": ThinkAnswerFormat,
    "length": CosineLength,
    "repetition": RepetitionPenalty,
    "geodesic": GeodesicReward,
    "pairing_gps": PairingGPS,
    "vlmr1_accuracy": VLMR1Accuracy,
    "vlmr1_format": VLMR1Format,
    "vlmr1_length": VLMR1Length,
    "vlmr1_repetition": VLMR1Repetition,
}
# The four rewards the released Geo-R1 / VLM-R1 training sums, unweighted: geor1's rules ...
GEO_R1_REWARDS = ("accuracy", "format", "length", "repetition")
# ... and the reference's own code for them, quirks included.
VLMR1_REWARDS = ("vlmr1_accuracy", "vlmr1_format", "vlmr1_length", "vlmr1_repetition")
# Rewards that measure completions in tokens of the policy's tokenizer when given one.
TOKEN_LENGTH_REWARDS = ("length", "vlmr1_length")
# Options that no longer exist, with what replaced them.
RETIRED_OPTIONS = {
    "paper_compatible": "was replaced by separate rewards: list "
    f"{', '.join(VLMR1_REWARDS)} in reward_funcs instead of {', '.join(GEO_R1_REWARDS)}",
}


def _options_of(factory: Callable[..., Any]) -> set[str]:
    """Keyword options a factory takes; a plain reward function (not a class) takes none."""
    if not isinstance(factory, type):
        return set()
    return {
        p.name
        for p in inspect.signature(factory).parameters.values()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def load_reward(path: str, key: str = "reward_funcs") -> Callable[..., Any]:
    """Return the object named by an import path ``package.module:name`` (a reward function, or a class whose
    instances are reward functions); ConfigError naming ``key`` when it cannot be imported or is not callable."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute or ":" in attribute:
        raise ConfigError(key, f"{path!r} is not an import path of the form 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # the module's own code may raise anything while it loads
        raise ConfigError(
            key, f"cannot import module {module_name!r} for reward {path!r}: {type(error).__name__}: {error}"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ConfigError(key, f"module {module_name!r} has no attribute {attribute!r} (reward {path!r})")
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(key, f"{path!r} is a {type(target).__name__}, not a reward function or class")
    return target


def _factories(names: object) -> dict[str, Callable[..., Any]]:
    """Check the configured reward names and return their factories (a name, or an import path with ':')."""
    if isinstance(names, str) or not isinstance(names, Sequence) or not names:
        raise ConfigError("reward_funcs", f"must be a non-empty list of reward names, got {names!r}")
    factories: dict[str, Callable[..., Any]] = {}
    for i, name in enumerate(names):
        key = f"reward_funcs[{i}]"
        if isinstance(name, str) and ":" in name:
            factory = load_reward(name, key)
        elif isinstance(name, str) and name in REWARD_FUNCS:
            factory = REWARD_FUNCS[name]
        else:
            raise ConfigError(
                key,
                f"unknown reward {name!r}; known: {', '.join(REWARD_FUNCS)}, "
                "or an import path 'package.module:function'",
            )
        if name in factories:
            raise ConfigError(key, f"reward {name!r} is listed twice")
        factories[name] = factory
    return factories


def check_reward_names(names: object) -> list[str]:
    """Return the configured reward names, checked (known names, or import paths that load); ConfigError
    naming ``reward_funcs`` / ``reward_funcs[i]`` otherwise."""
    return list(_factories(names))


def _retired(key: str, option: str) -> None:
    if option in RETIRED_OPTIONS:
        raise ConfigError(key, RETIRED_OPTIONS[option])


def build_reward_funcs(names: Sequence[str], **options: Any) -> list[Callable[..., list[float | None]]]:
    """Return one reward callable per name, in order, ready for ``GRPOTrainer(reward_funcs=...)``.

    A name is one of :data:`REWARD_FUNCS` or an import path ``package.module:name`` (as TRL and EasyR1
    allow) naming a reward function, used as it is, or a class, called with its options.
    ``options`` are keyword options for the factories. A plain option goes to every listed reward that accepts
    it (``tokenizer=tok``, ``n_options=4`` …) and must be accepted by at least one; an option named after a
    reward holds options for that reward only (``length={"max_len": 2048}``). Unknown names, unknown options
    and bad values raise :class:`~geor1.errors.ConfigError` naming the key (``reward_funcs[2]``,
    ``reward_options.length.max_len``).
    """
    factories = _factories(names)
    names = list(factories)
    specific: dict[str, Mapping[str, Any]] = {}
    shared: dict[str, Any] = {}
    for key, value in options.items():
        _retired(f"reward_options.{key}", key)
        if key in REWARD_FUNCS or key in factories:
            if not isinstance(value, Mapping):
                raise ConfigError(f"reward_options.{key}", f"must be a mapping of options, got {value!r}")
            if key not in names:
                raise ConfigError(
                    f"reward_options.{key}", f"options given for reward {key!r}, which is not listed"
                )
            specific[key] = value
        else:
            shared[key] = value
    accepted = {name: _options_of(factory) for name, factory in factories.items()}
    for key in shared:
        if not any(key in accepted[name] for name in names):
            raise ConfigError(f"reward_options.{key}", f"not an option of any of: {', '.join(names)}")
    funcs = []
    for name, factory in factories.items():
        kwargs = {k: v for k, v in shared.items() if k in accepted[name]}
        for key, value in specific.get(name, {}).items():
            _retired(f"reward_options.{name}.{key}", key)
            if key not in accepted[name]:
                known = ", ".join(sorted(accepted[name])) or "none"
                raise ConfigError(
                    f"reward_options.{name}.{key}", f"not an option of {name!r}; known: {known}"
                )
            kwargs[key] = value
        if not isinstance(factory, type):
            funcs.append(factory)
            continue
        try:
            funcs.append(factory(**kwargs))
        except ConfigError as error:
            raise ConfigError(f"reward_options.{name}.{error.key}", str(error).split(": ", 1)[-1]) from None
    return funcs


def reward_weights_for(
    names: Sequence[str], weights: Mapping[str, float] | Sequence[float] | None
) -> list[float]:
    """Return ``GRPOConfig.reward_weights`` aligned with ``names``.

    ``None`` gives 1.0 each (the unweighted sum of the released Geo-R1 code). A mapping gives a weight per
    name (names left out get 1.0); a list must have one weight per name. Weights must be finite numbers.
    Raises :class:`~geor1.errors.ConfigError` naming ``reward_weights.<name>`` / ``reward_weights[i]``.
    """
    names = check_reward_names(names)
    if weights is None:
        return [1.0] * len(names)

    def number(key: str, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(key, f"must be a finite number, got {value!r}")
        return float(value)

    if isinstance(weights, Mapping):
        for key in weights:
            if key not in names:
                raise ConfigError(
                    f"reward_weights.{key}", f"no reward {key!r} in reward_funcs ({', '.join(names)})"
                )
        return [number(f"reward_weights.{name}", weights.get(name, 1.0)) for name in names]
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
        raise ConfigError("reward_weights", f"must be a mapping name -> weight or a list, got {weights!r}")
    if len(weights) != len(names):
        raise ConfigError(
            "reward_weights", f"has {len(weights)} weights for {len(names)} rewards ({', '.join(names)})"
        )
    return [number(f"reward_weights[{i}]", w) for i, w in enumerate(weights)]


def compute_score(
    completion: object,
    solution: object,
    *,
    names: Sequence[str] = (*GEO_R1_REWARDS, "geodesic"),
    weights: Mapping[str, float] | Sequence[float] | None = None,
    **options: Any,
) -> dict[str, float | None]:
    """Score one completion with every reward and return all components (EasyR1 ``compute_score`` style).

    Returns ``{"overall": weighted sum of the applicable components, <name>: value or None, …}`` for each name
    in ``names`` (default: accuracy, format, length, repetition, geodesic). A component is ``None`` when it does
    not apply to the solution (accuracy for a coordinate solution, geodesic for a letter); ``overall`` skips
    those, as TRL's weighted ``nansum`` does. ``options`` are as for :func:`build_reward_funcs`.
    """
    funcs = build_reward_funcs(names, **options)
    scale = reward_weights_for(names, weights)
    scores: dict[str, float | None] = {}
    for func in funcs:
        scores[func.__name__] = func([completion], solution=[solution])[0]
    overall = sum(w * v for w, v in zip(scale, scores.values(), strict=True) if v is not None)
    return {"overall": float(overall), **scores}
