"""The graded pairing reward: credit by the distance from the query to the chosen candidate."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geor1.errors import ConfigError
from geor1.geo import haversine_km
from geor1.geography import GEOSCORE_SCALE_KM
from geor1.rewards import PairingGPS, build_reward_funcs

PARIS, LYON, TOKYO, QUITO = (48.85, 2.35), (45.76, 4.84), (35.68, 139.69), (-0.18, -78.47)
META = {
    "lat": PARIS[0],
    "lon": PARIS[1],
    "candidate_coords": [list(LYON), list(PARIS), list(TOKYO), list(QUITO)],
}


def answer(letter: str) -> str:
    return f"<think>compare</think><answer>{letter}</answer>"


def test_true_candidate_earns_one_and_distractors_earn_by_their_distance():
    reward = PairingGPS()
    completions = [answer(letter) for letter in "ABCD"]
    values = reward(completions, solution=["B"] * 4, meta=[json.dumps(META)] * 4)
    expected = [
        math.exp(-haversine_km(*PARIS, *place) / GEOSCORE_SCALE_KM) for place in (LYON, PARIS, TOKYO, QUITO)
    ]
    assert values == pytest.approx(expected)
    assert (
        values[1] == 1.0 and values[0] > 0.7 > 0.01 > max(values[2:]) > min(values[2:]) > 0.0
    )  # Lyon: 392 km


def test_meta_may_be_a_mapping_and_the_scale_is_an_option():
    (reward,) = build_reward_funcs(["pairing_gps"], pairing_gps={"scale_km": 100.0})
    (value,) = reward([[{"role": "assistant", "content": answer("A")}]], solution=["B"], meta=[META])
    assert value == pytest.approx(math.exp(-haversine_km(*PARIS, *LYON) / 100.0))


def test_unreadable_or_out_of_range_choices_earn_nothing():
    reward = PairingGPS()
    completions = ["B", "<answer>B", answer("no idea"), answer("E"), answer("A and C")]
    assert reward(completions, solution=["B"] * 5, meta=[META] * 5) == [0.0] * 5


def test_rows_without_candidate_coordinates_or_a_letter_solution_are_left_out():
    reward = PairingGPS()
    metas = [
        json.dumps({"lat": 1.0, "lon": 2.0}),
        "not json",
        {"lat": "x", "lon": 1, "candidate_coords": [[0, 0]]},
        META,
    ]
    solutions = ["B", "B", "B", "(48.85, 2.35)"]
    assert reward([answer("B")] * 4, solution=solutions, meta=metas) == [None] * 4


def test_it_agrees_with_accuracy_on_the_true_candidate():
    accuracy, graded = build_reward_funcs(["accuracy", "pairing_gps"])
    completions = [answer(letter) for letter in "ABCDE"] + ["B"]
    kwargs = {"solution": ["B"] * 6, "meta": [META] * 6}
    assert [g == 1.0 for g in graded(completions, **kwargs)] == [
        a == 1.0 for a in accuracy(completions, **kwargs)
    ]


def test_missing_meta_column_and_bad_scale_name_the_key():
    with pytest.raises(ConfigError) as info:
        PairingGPS()([answer("B")], solution=["B"])
    assert info.value.key == "meta"
    with pytest.raises(ConfigError) as info:
        PairingGPS(scale_km=0)
    assert info.value.key == "scale_km"


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80), letter=st.sampled_from("ABCD"))
def test_total_and_bounded(text, letter):
    (value,) = PairingGPS()([text], solution=[letter], meta=[META])
    assert value is not None and 0.0 <= value <= 1.0
