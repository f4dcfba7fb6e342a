"""Edges of the eval metrics and sampling ids a report or a cache file shows: empty runs, unparseable
answers, thresholds hit exactly, mismatched lengths, and the literal hashes stored on disk."""

from __future__ import annotations

import math

import pytest

from geor1.eval.metrics import (
    accuracy,
    finite_or_none,
    geolocation_errors_km,
    geolocation_metrics,
    geoscore,
    grouped_accuracy,
    pairing_metrics,
    verdict_metrics,
)
from geor1.eval.types import SamplingConfig
from geor1.judge import judge


def verdicts(answers: list[str], solutions: list[str], *, require_tags: bool = False) -> list:
    return [judge(a, s, require_tags=require_tags) for a, s in zip(answers, solutions, strict=True)]


def test_empty_and_unparseable_runs_report_none_not_numbers():
    empty = geolocation_metrics([])
    assert empty == {"n": 0, "n_parsed": 0, "share_unparseable": None, "median_km": None, "mean_km": None,
                     "acc_km": {"1": None, "25": None, "200": None, "750": None, "2500": None},
                     "geoscore": None}  # fmt: skip
    lost = geolocation_metrics([math.nan, math.nan])
    assert (lost["n"], lost["n_parsed"], lost["share_unparseable"]) == (2, 0, 1.0)
    assert (lost["median_km"], lost["mean_km"], lost["geoscore"]) == (None, None, 0.0)
    assert lost["acc_km"] == {"1": 0.0, "25": 0.0, "200": 0.0, "750": 0.0, "2500": 0.0}
    assert accuracy([]) is None


def test_thresholds_count_an_error_exactly_at_the_limit():
    metrics = geolocation_metrics([1.0, 25.0, 200.0, 750.0, 2500.0, math.nan])
    assert metrics["acc_km"] == {"1": 1 / 6, "25": 2 / 6, "200": 3 / 6, "750": 4 / 6, "2500": 5 / 6}
    assert metrics["median_km"] == 200.0 and metrics["mean_km"] == pytest.approx(3476 / 5)


def test_geoscore_scalar_is_a_python_float():
    assert type(geoscore(0.0)) is float and geoscore(0.0) == 5000.0 and geoscore(math.nan) == 0.0
    assert list(geoscore([0.0, math.nan])) == [5000.0, 0.0]


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="^predictions and truth must have the same length$"):
        geolocation_errors_km([(0.0, 0.0)], [0.0, 1.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="^correct and groups must have the same length$"):
        grouped_accuracy([True, False], ["easy"])
    two, one = verdicts(["A", "B"], ["A", "B"]), verdicts(["A"], ["A"])
    with pytest.raises(ValueError):
        pairing_metrics(two, two, ["easy"], ["s"])  # no pair silently dropped
    with pytest.raises(ValueError):
        pairing_metrics(two, one, ["easy", "hard"], ["s", "t"])
    with pytest.raises(ValueError):
        verdict_metrics(one, two)


def test_group_labels_and_counts():
    assert grouped_accuracy([True, False, True], [None, "hard", None]) == {
        "hard": {"n": 1, "accuracy": 0.0},
        "unknown": {"n": 2, "accuracy": 1.0},
    }
    answers = verdicts(["A", "none", "C"], ["A", "B", "D"])
    pairing = pairing_metrics(answers, answers, ["easy", "easy", "hard"], ["s", "t", "s"])
    assert (pairing["n"], pairing["n_parsed"], pairing["accuracy"]) == (3, 2, pytest.approx(1 / 3))
    # Solutions are read by the judge: case and spaces around the letter do not matter.
    mcq = verdicts(["a", "none", "B"], [" A", "C", "B"])
    assert verdict_metrics(mcq, mcq) == {
        "n": 3,
        "n_parsed": 2,
        "accuracy": 2 / 3,
        "n_parsed_strict": 2,
        "accuracy_strict": 2 / 3,
    }


@pytest.mark.parametrize("value,expected", [(None, None), (math.nan, None), (math.inf, None), (3, 3.0)])
def test_finite_or_none(value, expected):
    got = finite_or_none(value)
    assert got == expected and type(got) is type(expected)


def test_sampling_ids_stored_on_disk_are_stable():
    """The cache file stores these: a rewrite that changes them silently regenerates every answer, and a
    sampled run's per-example streams must stay the same across versions."""
    assert SamplingConfig().settings_hash() == "a27676ea880f"
    assert (
        SamplingConfig(temperature=0.7, top_p=0.9, max_new_tokens=32, seed=1).settings_hash()
        == "e74b6208fc60"
    )
    assert SamplingConfig(seed=5).stream_seed("p0") == 512636573
    assert SamplingConfig(seed=0).stream_seed("x") == 1886727699
    seeds = {SamplingConfig(seed=s).stream_seed(f"id{i}") for s in range(20) for i in range(20)}
    assert len(seeds) == 400 and all(0 <= x < 2**31 for x in seeds)
