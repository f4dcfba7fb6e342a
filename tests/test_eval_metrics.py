"""Eval answer parsing on odd and hostile text, metric definitions, bootstrap CIs, place names."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geor1.eval.answers import answer_text, parse_class, parse_yes_no
from geor1.eval.bootstrap import bootstrap_ci, point_estimate
from geor1.eval.imageo import answer_from_text, parse_imageo_json
from geor1.eval.metrics import (
    geolocation_errors_km,
    geolocation_metrics,
    geoscore,
    pairing_metrics,
    verdict_metrics,
)
from geor1.eval.placenames import city_key, country_code, country_key, fold, subdivision_key
from geor1.eval.placetruth import CLIMATES, CONTINENTS, LEFT_DRIVING_COUNTRIES, climate_class
from geor1.judge import judge, read_choice, read_point


def parse_choice(text: str, n_options: int) -> str | None:
    """The letter evaluation reads (leniently: the whole text when there is no answer block)."""
    return read_choice(text, n_options, require_tags=False)


def parse_coordinates(text: str) -> tuple[float, float] | None:
    """The point evaluation reads (leniently)."""
    return read_point(text, require_tags=False)


HOSTILE = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.sampled_from(
        [
            "<answer>",
            "</answer><answer>",
            "<answer><answer>(1,2)</answer>",
            "(" * 500 + "1, 2" + ")" * 500,
            "{" * 300,
            '```json\n{"reverse_geocoding": ```',
            "NaN, NaN",
            "inf, -inf",
            "1e308, 1e308",
            "\x00\u202e(45, 7)\u200b",
            "🌍" * 50,
            "None",
        ]
    ),
)


@settings(max_examples=150, deadline=None)
@given(HOSTILE)
def test_parsers_are_total_on_hostile_text(text: str) -> None:
    answer = answer_text(text)
    assert answer == answer.strip() and answer in text  # a stripped piece of the completion
    assert parse_choice(text, 4) in (None, "A", "B", "C", "D")
    coords = parse_coordinates(text)
    if coords is not None:
        lat, lon = coords
        assert math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180
    assert parse_yes_no(text) in (None, True, False)
    assert parse_class(text, CONTINENTS) in (None, *CONTINENTS)
    answer_from_text(text)  # never raises
    parse_imageo_json(text)


@settings(max_examples=100, deadline=None)
@given(
    st.floats(-90, 90, allow_nan=False),
    st.floats(-180, 180, allow_nan=False),
    st.sampled_from(
        ["({:.4f}, {:.4f})", "{:.4f}, {:.4f}", "<think>x</think><answer>({:.4f},{:.4f})</answer>"]
    ),
)
def test_coordinates_round_trip(lat: float, lon: float, fmt: str) -> None:
    got = parse_coordinates(fmt.format(lat, lon))
    assert got is not None
    assert got[0] == pytest.approx(round(lat, 4), abs=1e-9) and got[1] == pytest.approx(
        round(lon, 4), abs=1e-9
    )


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("<answer>48.8566° N, 2.3522° E</answer>", (48.8566, 2.3522)),
        ("<answer>33.9° S, 151.2° E</answer>", (-33.9, 151.2)),
        ("I think it is (40.71, -74.0).", (40.71, -74.0)),
        ("<answer>no idea</answer>", None),
        (None, None),
    ],
)
def test_coordinate_forms_of_the_issue(text: object, want: tuple[float, float] | None) -> None:
    got = parse_coordinates(text)
    assert got == (pytest.approx(want) if want else None)


def test_yes_no_and_class_answers() -> None:
    assert parse_yes_no("<think>…</think><answer>Yes, it is.</answer>") is True
    assert parse_yes_no("<answer>NO</answer>") is False
    assert parse_yes_no("<answer>maybe</answer>") is None
    assert parse_class("<answer>south america</answer>", CONTINENTS) == "South America"
    assert parse_class("<answer>Europe or Asia</answer>", CONTINENTS) is None  # two answers: none
    assert parse_class("It drives on the left.", ("Left", "Right")) == "Left"
    assert parse_class("<answer>Dry</answer>", CLIMATES) == "Dry"


def test_geolocation_metrics_definitions() -> None:
    preds = [(0.0, 0.0), None, (0.0, 1.0), (10.0, 0.0)]
    km = geolocation_errors_km(preds, [0.0, 5.0, 0.0, 0.0], [0.0, 5.0, 0.0, 0.0])
    assert km[0] == 0.0 and math.isnan(km[1])
    assert km[2] == pytest.approx(111.2, abs=0.2) and km[3] == pytest.approx(1111.9, abs=1)
    m = geolocation_metrics(km)
    assert m["n"] == 4 and m["n_parsed"] == 3 and m["share_unparseable"] == 0.25
    assert m["acc_km"] == {"1": 0.25, "25": 0.25, "200": 0.5, "750": 0.5, "2500": 0.75}
    assert m["median_km"] == pytest.approx(km[2]) and m["mean_km"] == pytest.approx(np.nanmean(km))
    assert m["geoscore"] == pytest.approx((5000 + 0 + geoscore(km[2]) + geoscore(km[3])) / 4)
    assert geoscore(0.0) == 5000.0 and geoscore(1492.7) == pytest.approx(5000 / math.e)


def verdicts(answers: list[str], solutions: list[str], *, require_tags: bool = False) -> list:
    return [
        judge(a, s, require_tags=require_tags, n_options=4) for a, s in zip(answers, solutions, strict=True)
    ]


def test_pairing_and_mcq_metrics() -> None:
    answers, solutions = ["A", "none", "<answer>C</answer>", "B"], ["A", "B", "C", "D"]
    lenient, strict = verdicts(answers, solutions), verdicts(answers, solutions, require_tags=True)
    m = pairing_metrics(lenient, strict, ["easy", "easy", "hard", "hard"], ["s→t", "t→s", "s→t", "t→s"])
    assert m["accuracy"] == 0.5 and m["n_parsed"] == 3
    assert m["accuracy_strict"] == 0.25 and m["n_parsed_strict"] == 1  # only the tagged answer counts
    assert m["by_band"] == {"easy": {"n": 2, "accuracy": 0.5}, "hard": {"n": 2, "accuracy": 0.5}}
    assert m["by_direction"]["s→t"]["accuracy"] == 1.0 and m["by_direction"]["t→s"]["accuracy"] == 0.0
    mcq = verdict_metrics(
        verdicts(["a", "?"], ["A", "B"]), verdicts(["a", "?"], ["A", "B"], require_tags=True)
    )
    assert mcq == {"n": 2, "n_parsed": 1, "accuracy": 0.5, "n_parsed_strict": 0, "accuracy_strict": 0.0}


def test_bootstrap_ci_is_deterministic_and_covers_the_mean() -> None:
    rng = np.random.default_rng(123)
    truth, covered, trials = 0.3, 0, 200
    for i in range(trials):
        sample = (rng.random(150) < truth).astype(float)
        low, high = bootstrap_ci(sample, n_boot=400, seed=i)
        covered += low <= truth <= high
    # nominal 95 %: the coverage of 200 intervals lies well inside [0.88, 0.99]
    assert 0.88 <= covered / trials <= 0.99
    x = rng.normal(size=50)
    assert bootstrap_ci(x, seed=7) == bootstrap_ci(x, seed=7)
    low, high = bootstrap_ci(x, "median", seed=1)
    assert low <= point_estimate(x, "median") <= high
    assert bootstrap_ci([np.nan, np.nan]) is None and bootstrap_ci([2.0]) == (2.0, 2.0)
    with pytest.raises(ValueError):
        bootstrap_ci(x, "mode")


def test_place_name_normalisation() -> None:
    assert fold("  São Paulo! ") == "sao paulo"
    for name in ("USA", "United States", "U.S.A.", "united states of america", "US"):
        assert country_code(name) == "US", name
    assert country_key("Russia") == country_key("Russian Federation") == "RU"
    assert country_key("Côte d'Ivoire") == country_key("Ivory Coast")
    assert country_code("Atlantis") is None and country_key("Atlantis") == "atlantis"
    assert subdivision_key("Michigan", "USA") == subdivision_key("MI", "United States") == "US-MI"
    assert subdivision_key("Île-de-France", "FR") == subdivision_key("Ile de France", "France")
    assert city_key("New York City") == city_key("new york") and city_key("Saint-Étienne") == city_key(
        "St Etienne"
    )


def test_ground_truth_rules() -> None:
    assert {"GB", "JP", "AU", "IN", "ZA"} <= LEFT_DRIVING_COUNTRIES and not {
        "US",
        "FR",
        "CN",
    } & LEFT_DRIVING_COUNTRIES
    assert climate_class(70, None, False) == "Polar"
    assert climate_class(23, "Barren", True) == "Dry"
    assert climate_class(5, "Evergreen Broadleaf Forests", False) == "Tropical"
    assert climate_class(40, "Croplands", False) == "Temperate"
    assert climate_class(55, "Mixed Forests", False) == "Continental"


def test_parse_choice_reads_the_answer_not_the_reasoning():
    text = "<think>Candidate A is desert, B is forest like the query.</think><answer>B</answer>"
    assert parse_choice(text, 4) == "B"
    assert parse_choice("I pick C.", 4) == "C"  # no tags: the whole text is the answer


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("<think>(1,2)</think><answer>none</answer>", None),
        ("<think>maybe (10, 20) or (30, 40)</think><answer>(30, 40)</answer>", (30.0, 40.0)),
        ("<think>first guess 48.85 N, 2.35 E</think><answer>I cannot tell</answer>", None),
        ("(12.5, -3.25) is my guess", (12.5, -3.25)),  # no answer block: the whole text
    ],
)
def test_parse_coordinates_reads_the_answer_not_the_reasoning(text: str, want: tuple | None) -> None:
    got = parse_coordinates(text)
    assert got == (pytest.approx(want) if want else None)


@settings(max_examples=100, deadline=None)
@given(
    st.floats(-90, 90, allow_nan=False),
    st.floats(-180, 180, allow_nan=False),
    st.text(alphabet=st.characters(blacklist_characters="0123456789<>"), max_size=40),
)
def test_coordinates_in_the_reasoning_never_count(lat: float, lon: float, answer: str) -> None:
    text = f"<think>It could be ({lat:.4f}, {lon:.4f}).</think><answer>{answer}</answer>"
    assert parse_coordinates(text) is None
