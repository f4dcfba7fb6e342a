"""Geolocation reward: how close is the answered ``(lat, lon)`` to the solution, on the sphere?"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from geor1.errors import ConfigError
from geor1.geography import GEOSCORE_SCALE_KM
from geor1.judge import judge
from geor1.rewards.base import Reward, check_number, column, completion_text

# Step mode: (distance bound in km, reward) from the tightest bound; beyond the last bound the reward is 0.
# The bounds are the usual geolocation accuracy levels: city 25 km, region 200 km, country 750 km, continent 2500 km.
DEFAULT_THRESHOLDS = ((25.0, 1.0), (200.0, 0.75), (750.0, 0.5), (2500.0, 0.25))
GEODESIC_MODES = ("exp", "thresholds")


def _check_thresholds(thresholds: object) -> tuple[tuple[float, float], ...]:
    """Return thresholds as ((km, value), …) sorted by km, or raise ConfigError('thresholds')."""
    try:
        pairs = [(float(km), float(value)) for km, value in thresholds]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ConfigError("thresholds", f"must be a list of [km, value] pairs, got {thresholds!r}") from None
    if not pairs:
        raise ConfigError("thresholds", "must hold at least one [km, value] pair")
    for km, value in pairs:
        if not (math.isfinite(km) and km > 0 and math.isfinite(value)):
            raise ConfigError("thresholds", f"needs finite km > 0 and finite values, got [{km}, {value}]")
    return tuple(sorted(pairs))


class GeodesicReward(Reward):
    """Distance-shaped reward for geolocation answers ``"(lat, lon)"``.

    The answer is read by :func:`geor1.judge.judge` (the last ``<answer>…</answer>`` block; the whole text
    too when ``fallback_to_text``, i.e. ``require_tags=False``); ``d`` is the haversine distance (km) to the
    solution. ``mode="exp"`` (default) returns the GeoScore shape
    ``exp(-d / scale_km)`` in (0, 1] (1.0 at the spot, 0.51 at 1000 km, 0.035 at 5000 km); ``mode="thresholds"``
    returns the value of the tightest bound that ``d`` is within (default 1.0 ≤ 25 km, 0.75 ≤ 200 km,
    0.5 ≤ 750 km, 0.25 ≤ 2500 km, else 0.0). An unparseable or missing answer gives 0.0; ``None`` when the
    example's ``solution`` is not a coordinate pair (e.g. a multiple-choice row in a mixed dataset).
    """

    name = "geodesic"

    def __init__(
        self,
        *,
        mode: str = "exp",
        scale_km: float = GEOSCORE_SCALE_KM,
        thresholds: Sequence[Sequence[float]] = DEFAULT_THRESHOLDS,
        fallback_to_text: bool = False,
    ):
        if mode not in GEODESIC_MODES:
            raise ConfigError("mode", f"must be one of {', '.join(GEODESIC_MODES)}; got {mode!r}")
        self.mode = mode
        self.scale_km = check_number("scale_km", scale_km, positive=True)
        self.thresholds = _check_thresholds(thresholds)
        self.fallback_to_text = bool(fallback_to_text)

    def score_km(self, distance_km: float) -> float:
        """Return the reward for an answer ``distance_km`` from the solution."""
        if self.mode == "exp":
            return math.exp(-distance_km / self.scale_km)
        for bound, value in self.thresholds:
            if distance_km <= bound:
                return value
        return 0.0

    def __call__(self, completions: Sequence[object], **kwargs: Any) -> list[float | None]:
        """Return one value per completion (``None`` where the solution is not a coordinate pair)."""
        solutions = column(kwargs, "solution", len(completions), self.name)
        out: list[float | None] = []
        for completion, solution in zip(completions, solutions, strict=True):
            verdict = judge(completion_text(completion), solution, require_tags=not self.fallback_to_text)
            if verdict.kind != "point":
                out.append(None)
            else:
                out.append(0.0 if verdict.km is None else self.score_km(verdict.km))
        return out
