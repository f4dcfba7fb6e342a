"""Rewards by name, with options and weights from config, and an all-components score for debugging."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from geor1.errors import ConfigError
from geor1.rewards.accuracy import AccuracyMCQ
from geor1.rewards.base import Reward
from geor1.rewards.format import ThinkAnswerFormat
from geor1.rewards.geodesic import GeodesicReward
from geor1.rewards.length import CosineLength
from geor1.rewards.repetition import RepetitionPenalty

# name -> factory (keyword options only). The name is also the reward's __name__, so TRL logs rewards/<name>/mean.
REWARD_FUNCS: dict[str, Callable[..., Reward]] = {
    "accuracy": AccuracyMCQ,
    "format": ThinkAnswerFormat,
    "length": CosineLength,
    "repetition": RepetitionPenalty,
    "geodesic": GeodesicReward,
}
# The released Geo-R1 / VLM-R1 training sums these four, unweighted.
GEO_R1_REWARDS = ("accuracy", "format", "length", "repetition")


def _options_of(factory: Callable[..., Reward]) -> set[str]:
    return {
        p.name
        for p in inspect.signature(factory).parameters.values()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def _check_names(names: object) -> list[str]:
    if isinstance(names, str) or not isinstance(names, Sequence) or not names:
        raise ConfigError("reward_funcs", f"must be a non-empty list of reward names, got {names!r}")
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not isinstance(name, str) or name not in REWARD_FUNCS:
            raise ConfigError(
                f"reward_funcs[{i}]", f"unknown reward {name!r}; known: {', '.join(REWARD_FUNCS)}"
            )
        if name in seen:
            raise ConfigError(f"reward_funcs[{i}]", f"reward {name!r} is listed twice")
        seen.add(name)
    return list(names)


def build_reward_funcs(names: Sequence[str], **options: Any) -> list[Reward]:
    """Return one reward callable per name, in order, ready for ``GRPOTrainer(reward_funcs=...)``.

    ``options`` are keyword options for the factories in :data:`REWARD_FUNCS`. A plain option goes to every
    listed reward that accepts it (``paper_compatible=True``, ``tokenizer=tok``, ``n_options=4`` …) and must be
    accepted by at least one; an option named after a reward holds options for that reward only
    (``length={"max_len": 2048}``). Unknown names, unknown options and bad values raise
    :class:`~geor1.errors.ConfigError` naming the key (``reward_funcs[2]``, ``reward_options.length.max_len``).
    """
    names = _check_names(names)
    specific: dict[str, Mapping[str, Any]] = {}
    shared: dict[str, Any] = {}
    for key, value in options.items():
        if key in REWARD_FUNCS:
            if not isinstance(value, Mapping):
                raise ConfigError(f"reward_options.{key}", f"must be a mapping of options, got {value!r}")
            if key not in names:
                raise ConfigError(
                    f"reward_options.{key}", f"options given for reward {key!r}, which is not listed"
                )
            specific[key] = value
        else:
            shared[key] = value
    accepted = {name: _options_of(REWARD_FUNCS[name]) for name in names}
    for key in shared:
        if not any(key in accepted[name] for name in names):
            raise ConfigError(f"reward_options.{key}", f"not an option of any of: {', '.join(names)}")
    funcs = []
    for name in names:
        kwargs = {k: v for k, v in shared.items() if k in accepted[name]}
        for key, value in specific.get(name, {}).items():
            if key not in accepted[name]:
                raise ConfigError(
                    f"reward_options.{name}.{key}",
                    f"not an option of {name!r}; known: {', '.join(sorted(accepted[name]))}",
                )
            kwargs[key] = value
        try:
            funcs.append(REWARD_FUNCS[name](**kwargs))
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
    names = _check_names(names)
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
