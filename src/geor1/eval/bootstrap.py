"""Percentile bootstrap confidence intervals (numpy, deterministic for a given seed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

STATISTICS: dict[str, Callable[..., NDArray[np.float64]]] = {
    "mean": lambda x, axis: np.mean(x, axis=axis),
    "median": lambda x, axis: np.median(x, axis=axis),
}


def bootstrap_ci(
    values: ArrayLike,
    statistic: str = "mean",
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    max_cells: int = 20_000_000,
) -> tuple[float, float] | None:
    """Return the ``confidence`` percentile-bootstrap interval ``(low, high)`` of ``statistic`` ("mean" or
    "median") over ``values`` (NaN entries dropped), or None when no value is left.

    Resamples are drawn in chunks of at most ``max_cells`` numbers so memory stays bounded.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {sorted(STATISTICS)}, got {statistic!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[~np.isnan(x)]
    if x.size == 0:
        return None
    if x.size == 1 or np.all(x == x[0]):
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    stat = STATISTICS[statistic]
    chunk = max(1, min(n_boot, max_cells // x.size))
    estimates = []
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, x.size, size=(min(chunk, n_boot - start), x.size))
        estimates.append(stat(x[idx], axis=1))
    est = np.concatenate(estimates)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(est, [alpha, 1.0 - alpha])
    return float(low), float(high)


def point_estimate(values: Sequence[float] | NDArray, statistic: str = "mean") -> float | None:
    """Return ``statistic`` of ``values`` without NaNs, or None when empty."""
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[~np.isnan(x)]
    if x.size == 0:
        return None
    return float(STATISTICS[statistic](x, axis=None))
