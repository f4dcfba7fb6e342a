"""Pairing options a user gives (PairingConfig) and the build summary printed back (PairingReport): each
refusal's message, the inclusive edges, the bands drawn from, and the band counts of a mixed build."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from geor1.builders.pairing import BANDS, HALF_CIRCUMFERENCE_KM, PairingConfig, PairingReport, _assign_bands
from geor1.errors import ConfigError


@pytest.mark.parametrize(
    "kwargs,key,message",
    [
        ({"direction": "back"}, "direction", "must be one of forward, both, got 'back'"),
        ({"limit": -1}, "limit", "must be >= 0, got -1"),
        ({"band": "hard", "max_km": 50}, "band", "min_km/max_km replace the band; do not give both"),
        ({"min_km": 50, "max_km": 50}, "min_km", "min_km/max_km must satisfy 0 <= min < max, got [50.0, 50.0]"),
        ({"min_km": -1}, "min_km", f"min_km/max_km must satisfy 0 <= min < max, got [-1.0, {HALF_CIRCUMFERENCE_KM}]"),
        ({"band": "custom"}, "band", "a custom band needs min_km and/or max_km"),
        ({"band": "mixed", "mix": {"easy": 1, "tough": 1}}, "mix", "names bands easy, medium, hard; got tough"),
        ({"band": "mixed", "mix": {"easy": -1, "hard": 2}}, "mix", "proportions must be >= 0 and not all 0"),
        ({"band": "mixed", "mix": {"easy": 0, "hard": 0}}, "mix", "proportions must be >= 0 and not all 0"),
        ({"band": "mixed", "mix": {"easy": float("nan")}}, "mix", "proportions must be >= 0 and not all 0"),
        ({"band": "far"}, "band", "must be one of easy, medium, hard, mixed, got 'far'"),
        ({"query_view": "terrain"}, "candidate_view", "must differ from query_view, both are 'terrain'"),
        ({"k": 1}, "k", "must be at least 2 (one positive and one negative), got 1"),
    ],
)  # fmt: skip
def test_refusals(kwargs, key, message):
    # the library names the config field; the CLI maps it to its option (tests/test_tasks_cli.py)
    with pytest.raises(ConfigError) as err:
        PairingConfig(**kwargs)
    assert (err.value.key, err.value.reason) == (key, message)
    assert str(err.value) == f"config key '{key}': {message}" and "--" not in str(err.value)


def test_edges_and_bands_drawn_from():
    assert PairingConfig(k=2).k == 2 and PairingConfig(limit=0).limit == 0
    assert PairingConfig().band_bounds() == {"medium": BANDS["medium"]}
    assert PairingConfig(min_km=0).band_bounds() == {"custom": (0.0, HALF_CIRCUMFERENCE_KM)}
    assert PairingConfig(max_km=30).band_bounds() == {"custom": (0.0, 30.0)}
    assert PairingConfig(band="custom", min_km=5, max_km=6).band_bounds() == {"custom": (5.0, 6.0)}
    mixed = PairingConfig(band="mixed", mix={"easy": 0.5, "medium": 0.0, "hard": 0.5})
    assert mixed.band_bounds() == {"easy": BANDS["easy"], "hard": BANDS["hard"]}  # a 0 share draws nothing
    assert PairingConfig(band="mixed", mix={"hard": 0.25}).band_bounds() == {"hard": BANDS["hard"]}


@pytest.mark.parametrize(
    "mix,n,counts",
    [
        ({"easy": 1, "medium": 1, "hard": 1}, 10, {"easy": 4, "medium": 3, "hard": 3}),
        ({"easy": 1, "medium": 2, "hard": 1}, 7, {"easy": 2, "medium": 3, "hard": 2}),
        ({"easy": 3, "medium": 0, "hard": 1}, 6, {"easy": 5, "hard": 1}),
    ],
)
def test_mixed_band_counts_are_the_largest_remainder_shares(mix, n, counts):
    config = PairingConfig(band="mixed", mix=mix)
    labels = _assign_bands(n, config, np.random.default_rng(0))
    assert dict(collections.Counter(labels)) == counts


def test_report_lines():
    report = PairingReport(written=5, by_direction={"t→s": 2, "s→t": 3}, by_band={"hard": 1, "easy": 4},
                           shortage={"hard": 7}, shortage_queries={"hard": [f"q{i}" for i in range(7)]},
                           no_positive=2, outside_split=3, dropped_by_limit=4)  # fmt: skip
    assert report.lines() == [
        "examples written: 5",
        "  direction s→t: 3",
        "  direction t→s: 2",
        "  band easy: 4",
        "  band hard: 1",
        "skipped 7 queries with too few negatives in band hard (e.g. q0, q1, q2, q3, q4)",
        "skipped 2 queries whose place has no candidate-kind view",
        "left out 3 query views of places outside the split",
        "dropped 4 examples beyond the limit",
    ]
    assert PairingReport().lines() == ["examples written: 0"]
