"""Task metrics computed from per-example outcomes (judging happens before, in the task modules, with
:func:`geor1.judge.judge`).

Conventions (the same for every model so runs compare): an unparseable answer is WRONG — it counts in
every accuracy's denominator, scores 0 GeoScore and misses every km threshold; only the km summary
statistics (median/mean error) are over parsed answers, next to the share that was unparseable.

Answers are read two ways and both are reported: ``accuracy`` is LENIENT (a completion without an
``<answer>`` block is read as a whole, for models that ignore the tag instruction) and
``accuracy_strict`` is what the GRPO rewards see (no block = wrong).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geor1.geo import haversine_km
from geor1.geography import GEOSCORE_MAX, GEOSCORE_SCALE_KM
from geor1.judge import Verdict

KM_THRESHOLDS = (1, 25, 200, 750, 2500)


def geoscore(km: float | NDArray[np.float64]) -> float | NDArray[np.float64]:
    """Return the GeoScore 5000·exp(−km/1492.7) of an error in km (0 for NaN = no answer)."""
    s = GEOSCORE_MAX * np.exp(-np.asarray(km, dtype=np.float64) / GEOSCORE_SCALE_KM)
    s = np.where(np.isnan(s), 0.0, s)
    return float(s) if np.ndim(s) == 0 else s


def geolocation_errors_km(
    predictions: Sequence[tuple[float, float] | None], true_lat: Sequence[float], true_lon: Sequence[float]
) -> NDArray[np.float64]:
    """Return the haversine error in km per example (NaN where the prediction is None)."""
    if not (len(predictions) == len(true_lat) == len(true_lon)):
        raise ValueError("predictions and truth must have the same length")
    km = np.full(len(predictions), np.nan)
    ok = [i for i, p in enumerate(predictions) if p is not None]
    if ok:
        plat = np.array([predictions[i][0] for i in ok], dtype=np.float64)  # type: ignore[index]
        plon = np.array([predictions[i][1] for i in ok], dtype=np.float64)  # type: ignore[index]
        tlat, tlon = np.asarray(true_lat, dtype=np.float64)[ok], np.asarray(true_lon, dtype=np.float64)[ok]
        km[ok] = haversine_km(plat, plon, tlat, tlon)
    return km


def geolocation_metrics(km: Sequence[float] | NDArray[np.float64]) -> dict[str, Any]:
    """Return geolocation metrics from per-example errors (NaN = unparseable): ``n, n_parsed,
    share_unparseable, median_km, mean_km, acc_km{"1","25","200","750","2500"}, geoscore``."""
    km = np.asarray(km, dtype=np.float64)
    n = int(km.size)
    parsed = km[~np.isnan(km)]
    with np.errstate(invalid="ignore"):
        within = {str(t): (float(np.sum(km <= t) / n) if n else None) for t in KM_THRESHOLDS}
    return {
        "n": n,
        "n_parsed": int(parsed.size),
        "share_unparseable": (1.0 - parsed.size / n) if n else None,
        "median_km": float(np.median(parsed)) if parsed.size else None,
        "mean_km": float(np.mean(parsed)) if parsed.size else None,
        "acc_km": within,
        "geoscore": float(np.mean(geoscore(km))) if n else None,
    }


def accuracy(correct: Sequence[bool]) -> float | None:
    """Return the share of True values, or None for no examples."""
    return float(np.mean(np.asarray(correct, dtype=bool))) if len(correct) else None


def grouped_accuracy(correct: Sequence[bool], groups: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Return ``{group: {"n": …, "accuracy": …}}`` for each distinct group label (None → "unknown")."""
    if len(correct) != len(groups):
        raise ValueError("correct and groups must have the same length")
    out: dict[str, list[bool]] = {}
    for ok, group in zip(correct, groups, strict=True):
        out.setdefault("unknown" if group is None else str(group), []).append(bool(ok))
    return {g: {"n": len(v), "accuracy": accuracy(v)} for g, v in sorted(out.items())}


def verdict_metrics(lenient: Sequence[Verdict], strict: Sequence[Verdict]) -> dict[str, Any]:
    """Return ``n``, and for each reading the number of parsed answers and the accuracy: ``n_parsed`` and
    ``accuracy`` (lenient), ``n_parsed_strict`` and ``accuracy_strict`` (tags required, as the rewards)."""
    if len(lenient) != len(strict):
        raise ValueError("lenient and strict verdicts must have the same length")
    return {
        "n": len(lenient),
        "n_parsed": sum(v.parsed for v in lenient),
        "accuracy": accuracy([bool(v.correct) for v in lenient]),
        "n_parsed_strict": sum(v.parsed for v in strict),
        "accuracy_strict": accuracy([bool(v.correct) for v in strict]),
    }


def pairing_metrics(
    lenient: Sequence[Verdict], strict: Sequence[Verdict], bands: Sequence[Any], directions: Sequence[Any]
) -> dict[str, Any]:
    """Return pairing accuracy (lenient and strict, see :func:`verdict_metrics`) overall, and the lenient
    accuracy per difficulty band and per direction (an unparseable answer counts wrong)."""
    correct = [bool(v.correct) for v in lenient]
    return {
        **verdict_metrics(lenient, strict),
        "by_band": grouped_accuracy(correct, bands),
        "by_direction": grouped_accuracy(correct, directions),
    }


def finite_or_none(value: float | None) -> float | None:
    """Return ``value`` unless it is None/NaN/inf (JSON has no NaN)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)
