"""Tests for geor1.rewards and geor1.parsing: fixed cases, reference (VLM-R1) parity, totality, adversarial inputs."""

from __future__ import annotations

import importlib.util
import json
import math
import pickle
import random
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geor1.errors import ConfigError
from geor1.geo import haversine_km
from geor1.parsing import MAX_LATLON_CHARS, extract_answer, extract_choice, parse_latlon, solution_letter
from geor1.rewards import (
    REWARD_FUNCS,
    VLMR1_REWARDS,
    AccuracyMCQ,
    CosineLength,
    GeodesicReward,
    RepetitionPenalty,
    ThinkAnswerFormat,
    VLMR1Accuracy,
    VLMR1Format,
    VLMR1Length,
    VLMR1Repetition,
    build_reward_funcs,
    completion_text,
    completion_texts,
    compute_score,
    cosine_schedule,
    reward_weights_for,
    vlmr1,
)
from geor1.rewards.repetition import word_repetition

_BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "rewards.py"
_spec = importlib.util.spec_from_file_location("bench_rewards", _BENCH)
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)  # the reference (VLM-R1-style) rewards kept in the benchmark


def conv(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def one(func, text, solution="B", **kwargs):
    return func([text], solution=[solution], **kwargs)[0]


# ------------------------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>x</think><answer> B </answer>", "B"),
        ("<answer>A</answer> then <answer>C</answer>", "C"),
        ("<answer>A</answer> <answer>unclosed C", "A"),
        ("no tags", None),
        ("<answer>open only", None),
        ("</answer><answer>", None),
        (None, None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_extract_answer_fallback():
    assert extract_answer("  just B ", fallback_to_text=True) == "just B"


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("B", "B"),
        ("(B)", "B"),
        ("B.", "B"),
        ("Answer: B", "B"),
        ("answer is b", "B"),
        ("The answer is b.", "B"),
        ("b", "B"),
        ("**B**", "B"),
        ("[c]", "C"),
        ("Option D", "D"),
        ("the correct choice is (c)", "C"),
        ("B. B", "B"),
        ("B) a desert with dunes", "B"),
        ("A. Tokyo", "A"),
        ("A", "A"),
        ("a", "A"),
        ("A is correct", "A"),
        ("A matches the query", "A"),
        ("A satellite view like C.", "C"),  # the article "A" is not an option
        ("A satellite view of a coast", None),
        ("a desert", None),  # bare lower-case "a" is the article
        ("the answer is a desert", None),
        ("the answer is a.", "A"),
        ("B, C", None),  # two different letters: wrong
        ("B or C", None),
        ("A and B", None),
        ("Bay of Biscay", None),  # letters inside words do not count
        ("B2", None),
        ("", None),
        ("none of them", None),
    ],
)
def test_extract_choice(answer, expected):
    assert extract_choice(answer) == expected


def test_extract_choice_option_range():
    assert extract_choice("E", n_options=4) is None
    assert extract_choice("E", n_options=5) == "E"
    assert extract_choice("Candidate E looks right, B", n_options=4) == "B"  # E is outside A-D
    assert extract_choice("I think B", n_options=9) == "B"  # the pronoun "I" is not option I
    assert extract_choice("I", n_options=9) == "I"
    assert extract_choice(12345) is None


@pytest.mark.parametrize(
    "solution, expected",
    [
        ("B", "B"),
        (" (b) ", "B"),
        ("<answer> C </answer>", "C"),
        ("(48.85, 2.35)", None),
        ("BC", None),
        (None, None),
    ],
)
def test_solution_letter(solution, expected):
    assert solution_letter(solution) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("(48.8566, 2.3522)", (48.8566, 2.3522)),
        ("48.8566, 2.3522", (48.8566, 2.3522)),
        ("[-33.87; 151.21]", (-33.87, 151.21)),
        ("-33.87, -151.21", (-33.87, -151.21)),
        ("\u221233.87, 151.21", (-33.87, 151.21)),
        ("48.85° N, 2.35° E", (48.85, 2.35)),
        ("48.85N 2.35E", (48.85, 2.35)),
        ("33.9S, 151.2E", (-33.9, 151.2)),
        ("40.7 N 74.0 W", (40.7, -74.0)),
        ("S 33.9, E 151.2", (-33.9, 151.2)),
        ("2.35E 48.85N", (48.85, 2.35)),  # hemisphere letters fix the order
        ("lat: 48.85, lon: 2.35", (48.85, 2.35)),
        ("latitude 48.85 longitude 2.35", (48.85, 2.35)),
        ("It is Paris (48.85, 2.35).", (48.85, 2.35)),
        ("(51.5, -0.12) or rather (48.85, 2.35)", (48.85, 2.35)),  # the last pair
        ("(90, 180)", (90.0, 180.0)),
        ("(91, 10)", None),  # out of range
        ("(10, 181)", None),
        ("(120.5, 30.2)", None),  # swapped lon/lat is not guessed
        ("-48.8 N, 2.3 E", None),  # contradictory sign
        ("48.85 N, 2.35 S", None),  # both latitudes
        ("48.85 km from 2.35", None),
        ("Paris", None),
        ("2024, 2025", None),  # 4-digit numbers are not degrees
        ("", None),
        (None, None),
    ],
)
def test_parse_latlon(text, expected):
    got = parse_latlon(text)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


def test_parse_latlon_reads_the_tail_of_long_text():
    pair = "(48.85, 2.35)"
    assert parse_latlon(pair + " x" * 1000) == (48.85, 2.35)
    assert parse_latlon(pair + " x" * (MAX_LATLON_CHARS // 2 + 10)) is None  # beyond the bounded tail
    assert (
        parse_latlon("1" * (MAX_LATLON_CHARS + 5) + "48.85, 2.35") is None
    )  # glued digits, as in the full text


def test_parse_latlon_dms():
    lat, lon = parse_latlon("48°51′24″N 2°21′03″E")
    assert lat == pytest.approx(48 + 51 / 60 + 24 / 3600)
    assert lon == pytest.approx(2 + 21 / 60 + 3 / 3600)
    assert parse_latlon("48°61′N 2°E") is None  # 61 minutes


# ------------------------------------------------------------------------------------------------ completions


def test_completion_text_shapes():
    assert completion_text("plain") == "plain"
    assert completion_text(conv("hi")) == "hi"
    multimodal = [
        {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]
    assert completion_text(multimodal) == "ab"
    assert completion_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": "x"}]) == "x"
    for weird in (None, 3, [], [None], [{"content": None}], {"content": 5}, [{"role": "assistant"}]):
        assert completion_text(weird) == ""


# ------------------------------------------------------------------------------------------------ accuracy


def test_accuracy_fixed_cases():
    acc = AccuracyMCQ()
    good = "<think>coast</think><answer>B</answer>"
    assert acc([good, conv(good)], solution=["B", "B"]) == [1.0, 1.0]
    assert one(acc, "<think>x</think><answer>(b)</answer>") == 1.0
    assert one(acc, "<think>x</think><answer>C</answer>") == 0.0
    assert one(acc, "<think>x</think><answer>B, C</answer>") == 0.0
    assert one(acc, "the answer is B") == 0.0  # no answer block
    assert one(acc, "<answer>C</answer><answer>B</answer>") == 1.0  # the last block counts
    assert one(acc, "<answer>B</answer>", solution="(48.8, 2.3)") is None  # not a multiple-choice row
    assert one(acc, "<answer>B</answer>", solution=None) is None
    multimodal = [{"role": "assistant", "content": [{"type": "text", "text": "<answer>B</answer>"}]}]
    assert acc([multimodal], solution=["B"]) == [1.0]


def test_accuracy_scale_and_range():
    acc = AccuracyMCQ(wrong_value=-1.0)
    assert acc(["<answer>B</answer>", "<answer>A</answer>"], solution=["B", "B"]) == [1.0, -1.0]
    assert (
        one(AccuracyMCQ(n_options=4), "<answer>F</answer>", solution="F") == 1.0
    )  # range widened to the key


def test_accuracy_option_count_and_checked_values():
    # the default is 8 options (A..H): "I" is not one, so "B or I" names B alone
    assert one(AccuracyMCQ(), "<answer>B or I</answer>") == 1.0
    assert one(AccuracyMCQ(n_options=9), "<answer>B or I</answer>") == 0.0  # two options named: wrong
    assert one(AccuracyMCQ(n_options=4), "<answer>B or E</answer>") == 1.0  # the count reaches the judge
    assert AccuracyMCQ(n_options=1).n_options == 1 and AccuracyMCQ(n_options=26).n_options == 26
    for bad in (0, 27, True, 4.0, "4"):
        with pytest.raises(ConfigError, match=r"must be an integer in 1\.\.26") as info:
            AccuracyMCQ(n_options=bad)
        assert info.value.key == "n_options"
    for key in ("correct_value", "wrong_value"):
        with pytest.raises(ConfigError, match="must be a number") as info:
            AccuracyMCQ(**{key: "high"})
        assert info.value.key == key
    with pytest.raises(ConfigError, match="reward 'accuracy' needs a dataset column 'solution'"):
        AccuracyMCQ()(["<answer>B</answer>"])


def test_vlmr1_accuracy_quirks():
    paper = VLMR1Accuracy()
    # The reference reads the FIRST answer block, and the whole text when there is none.
    assert one(paper, "<answer>C</answer><answer>B</answer>") == 0.0
    assert one(AccuracyMCQ(), "<answer>C</answer><answer>B</answer>") == 1.0
    assert one(paper, "so the answer is B") == 1.0
    # Its letter must be followed by punctuation or the end: "(B)" is not read.
    assert one(paper, "<answer>(B)</answer>") == 0.0


def test_accuracy_needs_solution_column():
    with pytest.raises(ConfigError, match="solution"):
        AccuracyMCQ()(["<answer>B</answer>"])
    with pytest.raises(ConfigError, match="solution"):
        AccuracyMCQ()(["a", "b"], solution=["B"])


# ------------------------------------------------------------------------------------------------ format


@pytest.mark.parametrize(
    "text, strict, paper",
    [
        ("<think>r</think><answer>B</answer>", 1.0, 1.0),
        ("<think>r</think>\n <answer>B</answer>", 1.0, 1.0),
        ("<think></think><answer></answer>", 1.0, 1.0),
        ("  <think>r</think><answer>B</answer>\n", 1.0, 0.0),  # outer whitespace: ours allows it
        (
            "<think>r</think><answer>B</answer><answer>C</answer>",
            0.0,
            1.0,
        ),  # extra answer: the regex passes it
        ("<think><think>r</think></think><answer>B</answer>", 0.0, 1.0),  # nested think
        ("<think>r</think>x<answer>B</answer>", 0.0, 0.0),
        ("<answer>B</answer><think>r</think>", 0.0, 0.0),
        ("<think>r<answer>B</answer>", 0.0, 0.0),
        ("<think>r</think><answer>B", 0.0, 0.0),
        ("<think>a < b</think><answer>B</answer>", 1.0, 1.0),
        ("B", 0.0, 0.0),
        ("", 0.0, 0.0),
    ],
)
def test_format(text, strict, paper):
    assert ThinkAnswerFormat()([text, conv(text)]) == [strict, strict]
    assert VLMR1Format()([text]) == [paper]


# ------------------------------------------------------------------------------------------------ length


def words(n: int) -> str:
    return " ".join(["w"] * n)


def test_length_curves():
    length = CosineLength(max_len=100, unit="words")
    right = lambda n: f"<think>{words(n - 1)}</think> <answer>B</answer>"  # noqa: E731  (n words in total)
    wrong = lambda n: f"<think>{words(n - 1)}</think> <answer>C</answer>"  # noqa: E731
    assert one(length, right(1)) == pytest.approx(1.0, abs=1e-3)
    assert one(length, right(50)) == pytest.approx(0.75)
    assert one(length, right(37)) == cosine_schedule(37, 100, 1.0, 0.5)
    assert one(length, wrong(63)) == cosine_schedule(63, 100, 0.0, -0.5)
    assert one(length, right(100)) == pytest.approx(0.5)
    assert one(length, right(300)) == pytest.approx(0.5)  # clamped past max_len
    assert one(length, wrong(1)) == pytest.approx(0.0, abs=1e-3)
    assert one(length, wrong(100)) == pytest.approx(-0.5)
    assert one(length, wrong(300)) == pytest.approx(-0.5)
    assert one(length, right(10), solution="not a key") is None


def test_vlmr1_length_quirks():
    paper = VLMR1Length(max_len=100, unit="words")
    wrong = "<answer>C</answer> " + words(99)  # 100 words, wrong answer
    assert one(paper, wrong) == pytest.approx(0.5)  # a wrong answer gets the "correct" curve
    assert one(paper, words(200)) == pytest.approx(1.0)  # periodic: back up to 1.0 at 2 * max_len
    assert one(paper, words(150)) == pytest.approx(0.75)  # rising again past max_len
    assert paper([words(3)]) == [
        pytest.approx(1.0 - 0.5 * (1 - math.cos(3 * math.pi / 100)) / 2)
    ]  # no solution


class _Tok:
    """A tokenizer whose tokens are characters (so token and word lengths differ)."""

    def encode(self, text: str) -> list[str]:
        return list(text)


def test_length_units():
    text = "<answer>B</answer>"
    n_chars = len(text)
    by_tokens = CosineLength(max_len=100, tokenizer=_Tok())
    assert one(by_tokens, text) == pytest.approx(0.5 + 0.25 * (1 + math.cos(math.pi * n_chars / 100)))
    by_words = CosineLength(max_len=100)
    assert one(by_words, text) == pytest.approx(0.5 + 0.25 * (1 + math.cos(math.pi / 100)))
    # TRL may pass a processing_class; a processor's .tokenizer is used.
    processor = type("Processor", (), {"tokenizer": _Tok()})()
    assert one(by_words, text, processing_class=processor) == one(by_tokens, text)
    by_ids = CosineLength(max_len=100, unit="completion_ids")
    assert one(by_ids, text, completion_ids=[[1] * 50]) == pytest.approx(0.75)
    with pytest.raises(ConfigError, match="tokenizer"):
        one(CosineLength(unit="tokens"), text)


def test_length_reference_measure_matches():
    """vlmr1_length with the reference's tokenizer.encode length gives the reference's values."""
    tok = ref.WhitespaceTokenizer()
    texts = ["", "a", words(500), words(1024), words(1500), words(2048) + " <answer>B</answer>"]
    ours = VLMR1Length(tokenizer=tok)(texts)
    theirs = ref.make_ref_cosine_rewards(tok)([conv(t) for t in texts], solution=["B"] * len(texts))
    assert ours == theirs


def test_length_defaults_and_options_reach_the_judge():
    default = CosineLength(unit="words")
    assert (default.max_len, default.n_options, default.correct_within_km) == (1024, 8, 25.0)
    # correctness picks the curve (correct stays above 0.5, wrong at or below 0): with 4 options "E" is no
    # option, so "B or E" names B alone; with the default 8 it names two options and is wrong
    assert one(CosineLength(unit="words", n_options=4), "<answer>B or E</answer>") > 0.5
    assert one(default, "<answer>B or E</answer>") <= 0.0
    near = "<answer>(48.90, 2.35)</answer>"  # about 5 km from the solution
    assert one(default, near, solution="(48.8566, 2.3522)") > 0.5
    assert one(CosineLength(unit="words", correct_within_km=1.0), near, solution="(48.8566, 2.3522)") <= 0.0
    with pytest.raises(ConfigError, match="reward 'length' needs a dataset column 'solution'"):
        default(["<answer>B</answer>"])
    with pytest.raises(ConfigError, match="reward 'length' needs a dataset column 'completion_ids'"):
        CosineLength(unit="completion_ids")(["<answer>B</answer>"], solution=["B"])


def test_length_geolocation_correctness():
    length = CosineLength(max_len=100, unit="words", correct_within_km=25.0)
    near = "<answer>(48.86, 2.35)</answer>"
    far = "<answer>(51.5, -0.12)</answer>"
    assert one(length, near, solution="(48.8566, 2.3522)") > 0.9
    assert one(length, far, solution="(48.8566, 2.3522)") <= 0.0


# ------------------------------------------------------------------------------------------------ repetition


def test_repetition_fixed_cases():
    rep = RepetitionPenalty()
    assert rep([""]) == [0.0]
    assert rep(["one two three four five"]) == [0.0]  # fewer than 6 words
    assert rep(["one two three four five six seven"]) == [0.0]
    looped = " ".join(["the coast bends north again"] * 40)
    value = rep([looped])[0]
    assert -1.0 <= value < -0.9
    assert rep([looped.upper()]) == [value]  # case-insensitive, like the reference
    assert rep([conv(looped)]) == [value]


def test_repetition_matches_reference_formula():
    texts = [
        "a b c d e f a b c d e f",
        " ".join(["x y z"] * 10),
        "é é é é é é é",
        "Tab\tseparated  words\nand\x1cmore words here now",
    ]
    assert RepetitionPenalty()(texts) == [ref.ref_repetition_reward(t) for t in texts]


def test_repetition_options():
    assert RepetitionPenalty(max_penalty=-0.5)(["a a a a a a a a"]) == [pytest.approx(-0.5 * (1 - 1 / 3))]
    ids = RepetitionPenalty(ngram_size=2, unit="completion_ids")(
        ["x", "y"], completion_ids=[[1, 2, 3, 4], [5] * 5]
    )
    assert ids == [0.0, -0.75]  # TRL's get_repetition_penalty_reward on token ids
    assert RepetitionPenalty(max_penalty=0)(["a a a a a a a a"]) == [0.0]  # zero is allowed: no penalty
    by_ids = RepetitionPenalty(ngram_size=2, max_penalty=-0.5, unit="completion_ids")
    assert by_ids(["x"], completion_ids=[[5] * 5]) == [-0.375]  # max_penalty reaches TRL's reward
    with pytest.raises(ConfigError, match="reward 'repetition' needs a dataset column 'completion_ids'"):
        by_ids(["x"])
    for options, key, message in [
        ({"max_penalty": 0.5}, "max_penalty", "must be <= 0"),
        ({"max_penalty": "low"}, "max_penalty", "must be a number"),
        ({"ngram_size": 0}, "ngram_size", "must be an integer >= 1, got 0"),
        ({"ngram_size": True}, "ngram_size", "must be an integer >= 1, got True"),
        ({"ngram_size": 2.0}, "ngram_size", "must be an integer >= 1, got 2.0"),
        ({"unit": "tokens"}, "unit", "must be one of words, completion_ids; got 'tokens'"),
    ]:
        with pytest.raises(ConfigError, match=message) as info:
            RepetitionPenalty(**options)
        assert info.value.key == key


def _boxes(*pairs: tuple[list[int], str]) -> str:
    return json.dumps([{"bbox_2d": box, "label": label} for box, label in pairs])


_CAR, _BUS = ([1, 2, 3, 4], "car"), ([5, 6, 7, 8], "bus")
_LOOPED = " ".join(["the coast bends north again"] * 40)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"```json\n{_boxes(_CAR, _CAR, _BUS)}\n```", -1 / 3),  # a repeated box, out of 3
        (f"<think>{_LOOPED}</think><answer>```json\n{_boxes(_CAR, _BUS)}\n```</answer>", 0.0),
        (f"```\n{_boxes(_CAR, _CAR)}\n```", -0.5),  # any fence
        (f"I see {_boxes(_CAR, _CAR, _CAR, _BUS)} here", -0.5),  # a bare box array
        (f"```json\n{_boxes(_CAR, _CAR)}", -0.5),  # unclosed fence: the bare array is found
        (f'{_LOOPED} ```json\n[{{"x": 1}}, {{"label": "car"}}]\n```', 0.0),  # a JSON list without boxes
        (f"{_LOOPED} ```python\nprint(1)\n```", None),  # not JSON: plain text
        (f'{_LOOPED} ```json\n{{"bbox_2d": [1], "label": "a"}}\n```', None),  # not a list: plain text
        (f"{_LOOPED} ```json\n[]\n```", None),  # empty list: plain text
        (f"{_LOOPED} ```json``` {_boxes(_CAR, _CAR)}", None),  # empty json fence: the reference stops looking
        (f"{_LOOPED} ```json\n[{{'bbox_2d': [1], 'label': 'a'}}]\n```", None),  # malformed (no json_repair)
        (f"{_LOOPED} ```json\n[1, 2]\n```", None),  # the reference raises TypeError
        (f'{_LOOPED} ```json\n["bbox_2d label"]\n```', None),  # ... and here
        (f"{_LOOPED} ```json\n{'[' * 5000}{']' * 5000}\n```", None),  # ... and here (RecursionError)
    ],
)
def test_vlmr1_repetition_scores_json_boxes(text, expected):
    paper, words = VLMR1Repetition(), RepetitionPenalty()
    plain = words([text])[0]
    assert plain <= 0.0
    value = paper([text, conv(text)])
    assert value[0] == value[1] == pytest.approx(plain if expected is None else expected)
    if expected is not None:
        assert expected != pytest.approx(plain)  # the JSON path really changes the value
    try:
        reference = ref.ref_repetition_reward(text)
    except (TypeError, RecursionError):
        reference = plain  # where the reference raises, geor1 scores the words
    assert value[0] == reference


_BOX_A = '{"bbox_2d": [1, 2, 3, 4], "label": "car"}'
_BOX_B = '{"bbox_2d": [5, 6, 7, 8], "label": "bus"}'
_DUP, _DISTINCT = f"[{_BOX_A}, {_BOX_A}]", f"[{_BOX_A}, {_BOX_B}]"


# Where the reference's searches start and stop: which fence or array it reads decides the value (-0.5 for a
# repeated box, 0.0 for none repeated, else the words' penalty, about -0.9 after _LOOPED).
@pytest.mark.parametrize(
    "text",
    [
        f'{_LOOPED} "bbox_2d" [{{"label": 1}}]',  # "bbox_2d" only before the array: no box array
        f'{_LOOPED} [{{"bbox_2d": 1, "label": 2}}, {{"bbox_2d": 3}}]',  # the first "bbox_2d" starts the span
        f'{_LOOPED} [{{"label": 1, "bbox_2d": 2}}]',  # "label" only before "bbox_2d": no box array
        f'{_LOOPED} [{{"bbox_2d": 1, "label": 2}}, {{"bbox_2d": 1, "label": 2}}] and "label"',  # first "label"
        f'{_LOOPED} [{{"bbox_2d": 1}}]',  # no "label" at all
        f'{_LOOPED} [{{"bbox_2d": 1}}] , "label" }}]',  # the closing "}]" after "label", not before
        f'{_LOOPED} [{{"bbox_2d": 1}}]"label"}}]',
        f"{_LOOPED} ```json\n{_DUP}\n``` ```json\n{_DISTINCT}\n```",  # the first json fence
        f"{_LOOPED} ```json\n{_DUP}\n``` and ``` later",  # ... up to its first closing fence
        f"{_LOOPED} ```\n{_DUP}\n``` ```\n{_DISTINCT}\n```",  # the first plain fence
        f"```\nboxes: {_DUP}\n``` {_LOOPED}",  # a plain fence at position 0, not JSON: plain text
        f"{_LOOPED} ```{_DUP}```{_DISTINCT}```",  # ... up to its first closing fence, no newline after it
        f"{_LOOPED} ``````{_DUP}```",  # an empty plain fence: the bare array decides
        f'{_LOOPED} ```json\n["bbox_2d", {_BOX_A}, {_BOX_A}]\n```',  # a string naming one key is skipped
    ],
)
def test_vlmr1_repetition_reads_the_block_the_reference_reads(text):
    assert VLMR1Repetition()([conv(text)]) == [ref.ref_repetition_reward(text)]


@pytest.mark.parametrize(
    ("completion", "solution"),
    [
        ("<answer>B</answer>", "<answer>B</answer>"),  # a tagged solution at position 0
        ("<answer>C</answer>", "x <answer>B</answer> <answer>C</answer>"),  # the solution's FIRST block: 0.0
        ("<answer>B</answer>", "<answer>\nB\n</answer>"),  # no DOTALL: the whole solution text, 0.0
        ("<answer>C</answer>", "<answer>A\n</answer><answer>C</answer>"),  # the first block on one line
        ("<answer>B</answer>", "<answer>B</answer>\n<answer>C</answer>"),
        ("B", " <answer>B</answer> "),
        ("<answer>B</answer>", "</answer> <answer>B</answer>"),  # the closing tag after the opening one
        ("<answer>B</answer>", "(B)"),  # no letter the reference reads: the solution text itself, 0.0
        ("<answer>B</answer>", "<answer> B </answer>"),  # spaces inside one line's block
        ("A. no, </answer>", "A"),  # a closing tag without an opening one: the whole text
        ("</answer><answer>B</answer>", "B"),
    ],
)
def test_vlmr1_accuracy_reads_the_solution_as_the_reference_does(completion, solution):
    assert VLMR1Accuracy()([conv(completion)], solution=[solution]) == ref.ref_accuracy_reward(
        [conv(completion)], [solution]
    )


# Several letters: the keyword/position score decides, on the text with whitespace collapsed (a leading or
# trailing space moves every position and the 70 % mark). Found by searching short texts for each mutant of
# the collapsing; the first three are answers as the reward sees them (stripped).
@pytest.mark.parametrize(
    "text",
    ["X.A", "A X.B.", ",\nX,B", "    X.A", "ANSWER X,B", "\n  B,.A,", "\nX,X,\n    A.  ", " ANSWER X,B.,\n"],
)
def test_vlmr1_choice_scores_positions_on_collapsed_whitespace(text):
    assert vlmr1.extract_choice(text) == ref.ref_extract_choice(text)
    if text == text.strip():
        completion = conv(f"<answer>{text}</answer>")
        for solution in "ABX":
            assert VLMR1Accuracy()([completion], solution=[solution]) == ref.ref_accuracy_reward(
                [completion], [solution]
            )


# Over 256 characters the letters are read at the punctuation marks: a letter at position 0 counts, and with
# the last character a letter too, the keyword score keeps the first (A: "THINK" near it and "." after it).
@pytest.mark.parametrize("text", ["A." + "x " * 150, "A. I think the answer is this " + "x " * 120 + "z"])
def test_vlmr1_choice_on_long_text_reads_a_letter_at_position_0(text):
    assert vlmr1.extract_choice(text) == ref.ref_extract_choice(text) == "A"


def test_vlmr1_options_reach_the_values_and_errors_name_the_reward():
    class Chars:
        def encode(self, text: str) -> list[str]:
            return list(text)

    texts = ["a bc", "d e f g h"]  # characters, not words, with this tokenizer
    length = VLMR1Length(max_len=10, tokenizer=Chars())
    assert length([conv(t) for t in texts]) == [vlmr1.cosine_length(len(t), 10) for t in texts]
    with pytest.raises(ConfigError) as err:
        VLMR1Length(unit="tokens", tokenizer=object())
    assert str(err.value) == "config key 'tokenizer': has no encode() method: object"
    with pytest.raises(ConfigError) as err:
        VLMR1Length(unit="completion_ids")([conv("a")])
    assert str(err.value) == (
        "config key 'completion_ids': reward 'vlmr1_length' needs a dataset column 'completion_ids' "
        "(one value per example)"
    )
    with pytest.raises(ConfigError) as err:
        VLMR1Accuracy()([conv("a")])
    assert str(err.value) == (
        "config key 'solution': reward 'vlmr1_accuracy' needs a dataset column 'solution' (one value per example)"
    )
    # a repeated box out of two, scaled by max_penalty (-1 in the reference)
    assert VLMR1Repetition(max_penalty=-0.5)([conv(f"```json\n{_DUP}\n```")]) == [-0.25]
    # the reference's fullmatch: nothing before <think>, however long the text
    text = "x<think>a</think><answer>b</answer>"
    assert VLMR1Format()([conv(text)]) == ref.ref_format_reward([conv(text)]) == [0.0]


# The score's edges: a keyword at position 0, one 21 characters before a letter (the window is 20 either
# side), and a letter followed by the text's last character, a full stop (+1). Found by searching short
# texts for each mutant of the scoring.
@pytest.mark.parametrize("text", ["对   qq Z?X.Z?是Z?X?", "是 xx ANSWER   qq X.  qq Z?对 X.", "B? A."])
def test_vlmr1_choice_score_edges(text):
    assert vlmr1.extract_choice(text) == ref.ref_extract_choice(text)


_JSON_PIECES = [
    "```json",
    "```",
    "[",
    "]",
    "{",
    "}",
    '"bbox_2d"',
    '"label"',
    ": ",
    ", ",
    " ",
    "\n",
    "1",
    '"car"',
    "[1, 2, 3, 4]",
    "null",
    '"x"',
    "a b c d e f",
    "a b c d e f g",
    '{"bbox_2d": [1, 2, 3, 4], "label": "car"}',
    '{"bbox_2d": [5, 6, 7, 8], "label": "car"}',
    '"bbox_2d label"',
    "\u00a0",
]


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(st.sampled_from(_JSON_PIECES), max_size=40))
def test_vlmr1_repetition_matches_reference_on_json(pieces):
    text = "".join(pieces)
    value = VLMR1Repetition()([conv(text)])[0]
    assert -1.0 <= value <= 0.0
    try:
        expected = ref.ref_repetition_rewards([conv(text)], ["B"])[0]
    except (TypeError, RecursionError):  # the reference fails; geor1 scores the words
        expected = RepetitionPenalty()([text])[0]
    assert value == expected


def _reference_words(text: str, n: int) -> float:
    """The reference's word n-gram penalty, spelled out (max_penalty -1)."""
    if len(text.split()) < n:
        return 0.0
    grams = list(zip(*[text.lower().split()[i:] for i in range(n)], strict=False))
    return (1 - len(set(grams)) / len(grams)) * -1.0 if grams else 0.0


def _random_ascii_texts(rng: random.Random, count: int) -> list[str]:
    """ASCII texts that stress the numpy word path: words of 1..100 bytes (chunk edges 8/16/24/32 included),
    every whitespace and non-whitespace control byte, mixed case, repeated phrases, empty texts."""
    junk = "abAB\x7f~<>/" + "".join(map(chr, [*range(0, 9), *range(14, 28)]))  # controls that are no space
    spaces = [" ", "\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x1f", "  \n "]
    texts = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.3:
            texts.append("".join(rng.choice(junk + "".join(spaces)) for _ in range(rng.randint(0, 80))))
        elif kind < 0.7:
            vocab = [
                "".join(
                    rng.choice(junk) for _ in range(rng.choice([1, 2, 7, 8, 9, 15, 16, 17, 24, 32, 33, 100]))
                )
                for _ in range(rng.randint(1, 6))
            ]
            texts.append("".join(rng.choice(vocab) + rng.choice(spaces) for _ in range(rng.randint(0, 60))))
        else:
            vocab = ["Ab", "ab", "aB", "AB", "a", "b", "</think><answer>B</answer>"]
            texts.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 40))))
    return texts


def test_word_repetition_matches_the_reference_on_random_texts():
    rng = random.Random(7)
    texts = _random_ascii_texts(rng, 300) + [
        "",
        " ",
        "A a",
        "x\x00 y",
        "a\x1cb\x1fc",
        "Ünïcode ü Ü",
        "n" * 3000,
    ]
    for n in (1, 2, 3, 6, 7):
        assert [word_repetition(t, n, -1.0) for t in texts] == [_reference_words(t, n) for t in texts], n
        assert RepetitionPenalty(ngram_size=n)(texts) == [_reference_words(t, n) for t in texts]


def test_rewards_depend_on_the_values_not_the_objects():
    # Equal texts as different objects, the same objects with other solutions, and a text list reused after a
    # different batch: every call must give what a fresh call gives.
    acc, length, rep = build_reward_funcs(["accuracy", "length", "repetition"], unit="words")
    texts = ["<think>a b c d e f a b c d e f</think><answer>B</answer>", "<answer>C</answer>"]
    copies = ["".join(list(t)) for t in texts]
    assert acc(texts, solution=["B", "C"]) == [1.0, 1.0]
    assert length(texts, solution=["C", "B"]) == [one(length, texts[0], "C"), one(length, texts[1], "B")]
    assert length(copies, solution=["B", "C"]) == [one(length, texts[0], "B"), one(length, texts[1], "C")]
    assert acc(texts, solution=["A", "C"]) == [0.0, 1.0]
    assert rep(texts) == rep(copies) == [one(rep, texts[0]), one(rep, texts[1])]
    assert acc(texts, solution=[None, "C"]) == [None, 1.0]


def test_completion_texts_match_completion_text():
    shapes = [
        "plain",
        conv("hi"),
        [{"content": "no role"}],
        [{"role": "user", "content": "q"}],
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": "x"}],
        [{"role": "assistant", "content": [{"type": "text", "text": "a"}]}],
        None,
        3,
        [],
        [None],
        [{"content": None}],
        {"content": 5},
    ]
    assert completion_texts(shapes) == [completion_text(c) for c in shapes]


# ------------------------------------------------------------------------------------------------ geodesic


def test_geodesic():
    geo = GeodesicReward()
    key = "(48.8566, 2.3522)"
    assert one(geo, "<answer>(48.8566, 2.3522)</answer>", key) == pytest.approx(1.0)
    d = haversine_km(48.8566, 2.3522, 51.5074, -0.1278)
    assert one(geo, "<answer>51.5074 N, 0.1278 W</answer>", key) == pytest.approx(math.exp(-d / 1492.7))
    assert one(geo, "<answer>somewhere in France</answer>", key) == 0.0
    assert one(geo, "(48.8566, 2.3522) without tags", key) == 0.0
    assert one(GeodesicReward(fallback_to_text=True), "(48.8566, 2.3522) without tags", key) == pytest.approx(
        1.0
    )
    assert one(geo, "<answer>B</answer>", "B") is None


def test_geodesic_thresholds():
    geo = GeodesicReward(mode="thresholds")
    key = "(0, 0)"
    # 1 degree of longitude at the equator is about 111 km.
    assert one(geo, "<answer>(0, 0.1)</answer>", key) == 1.0
    assert one(geo, "<answer>(0, 1)</answer>", key) == 0.75
    assert one(geo, "<answer>(0, 5)</answer>", key) == 0.5
    assert one(geo, "<answer>(0, 20)</answer>", key) == 0.25
    assert one(geo, "<answer>(0, 90)</answer>", key) == 0.0
    custom = GeodesicReward(mode="thresholds", thresholds=[[1000, 2.0]])
    assert one(custom, "<answer>(0, 5)</answer>", key) == 2.0
    for bad, message in [
        ([1, 2], r"must be a list of \[km, value\] pairs, got \[1, 2\]"),
        ([["near", 1.0]], "must be a list of"),
        ([], r"'thresholds': must hold at least one \[km, value\] pair$"),
        ([[-1, 1.0]], r"needs finite km > 0 and finite values, got \[-1.0, 1.0\]"),
        ([[0, 1.0]], "needs finite km > 0"),
    ]:
        with pytest.raises(ConfigError, match=message) as info:
            GeodesicReward(mode="thresholds", thresholds=bad)
        assert info.value.key == "thresholds"
    assert GeodesicReward(mode="thresholds", thresholds=[[0.5, 1.0]]).thresholds == ((0.5, 1.0),)
    for options, key, message in [
        ({"mode": "linear"}, "mode", "must be one of exp, thresholds; got 'linear'"),
        ({"scale_km": 0}, "scale_km", "must be > 0"),
        ({"scale_km": "far"}, "scale_km", "must be a number"),
    ]:
        with pytest.raises(ConfigError, match=message) as info:
            GeodesicReward(**options)
        assert info.value.key == key


# ------------------------------------------------------------------------------------------------ registry


def test_registry_names_and_options():
    funcs = build_reward_funcs([*_ALL, *VLMR1_REWARDS], n_options=4)
    assert [f.__name__ for f in funcs] == [*_ALL, *VLMR1_REWARDS]
    assert funcs[0].n_options == 4 and funcs[2].n_options == 4
    assert set(REWARD_FUNCS) == {*_ALL, "pairing_gps", *VLMR1_REWARDS}
    (length,) = build_reward_funcs(["length"], length={"max_len": 2048}, n_options=4)
    assert (length.max_len, length.n_options) == (2048, 4)
    restored = pickle.loads(pickle.dumps(funcs))  # TRL's async rollout worker pickles reward functions
    assert [f.__name__ for f in restored] == [f.__name__ for f in funcs]
    assert restored[0](["<answer>B</answer>"], solution=["B"]) == [1.0]


@pytest.mark.parametrize(
    "names, options, key",
    [
        (["accuracy", "acuracy"], {}, "reward_funcs[1]"),
        (["format", "format"], {}, "reward_funcs[1]"),
        ([], {}, "reward_funcs"),
        ("accuracy", {}, "reward_funcs"),
        (["format"], {"max_len": 10}, "reward_options.max_len"),
        (["length"], {"length": {"max_lenght": 10}}, "reward_options.length.max_lenght"),
        (["length"], {"length": {"max_len": 0}}, "reward_options.length.max_len"),
        (["length"], {"unit": "chars"}, "reward_options.length.unit"),
        (["format"], {"length": {"max_len": 10}}, "reward_options.length"),
        (["accuracy"], {"accuracy": 3}, "reward_options.accuracy"),
        (["accuracy"], {"wrong_value": "low"}, "reward_options.accuracy.wrong_value"),
        (["accuracy"], {"paper_compatible": True}, "reward_options.paper_compatible"),
        (["length"], {"length": {"paper_compatible": True}}, "reward_options.length.paper_compatible"),
        (["vlmr1_format"], {"vlmr1_format": {"n_options": 4}}, "reward_options.vlmr1_format.n_options"),
    ],
)
def test_registry_errors_name_the_key(names, options, key):
    with pytest.raises(ConfigError) as info:
        build_reward_funcs(names, **options)
    assert info.value.key == key
    assert key in str(info.value)


def test_reward_weights():
    names = ["accuracy", "format", "length", "repetition"]
    assert reward_weights_for(names, None) == [1.0, 1.0, 1.0, 1.0]
    assert reward_weights_for(names, {"accuracy": 2, "length": 0.5}) == [2.0, 1.0, 0.5, 1.0]
    assert reward_weights_for(names, [1, 2, 3, 4]) == [1.0, 2.0, 3.0, 4.0]
    for weights, key in [
        ({"acc": 1.0}, "reward_weights.acc"),
        ({"format": float("nan")}, "reward_weights.format"),
        ({"format": True}, "reward_weights.format"),
        ({"format": "1"}, "reward_weights.format"),
        ([1.0, 2.0], "reward_weights"),
        ([1.0, 2.0, None, 1.0], "reward_weights[2]"),
        ("1,2,3,4", "reward_weights"),
    ]:
        with pytest.raises(ConfigError) as info:
            reward_weights_for(names, weights)
        assert info.value.key == key


def test_compute_score_components():
    score = compute_score("<think>coast</think><answer>B</answer>", "B")
    assert set(score) == {"overall", "accuracy", "format", "length", "repetition", "geodesic"}
    assert score["accuracy"] == 1.0 and score["format"] == 1.0 and score["geodesic"] is None
    assert score["overall"] == pytest.approx(1.0 + 1.0 + score["length"] + score["repetition"])
    geo = compute_score(
        "<think>x</think><answer>(48.85, 2.35)</answer>", "(48.8566, 2.3522)", weights={"geodesic": 2}
    )
    assert geo["accuracy"] is None and geo["geodesic"] > 0.99
    assert geo["overall"] == pytest.approx(
        geo["format"] + geo["length"] + geo["repetition"] + 2 * geo["geodesic"]
    )


# ------------------------------------------------------------------------------------------------ totality

_PIECES = [
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "<answer",
    "A",
    "B",
    "b",
    "a",
    "C",
    "I",
    " ",
    "\n",
    "\t",
    ".",
    ",",
    ":",
    "(",
    ")",
    "**",
    "answer is",
    "Answer:",
    "option",
    "satellite",
    "é",
    "\x1c",
    "ß",
    "是",
    "48.85",
    "-2.35",
    "°",
    "N",
    "E",
    ";",
    "x",
    "\u00a0",
]
texts = st.one_of(st.text(max_size=200), st.lists(st.sampled_from(_PIECES), max_size=60).map("".join))
completions_strategy = st.lists(st.one_of(texts, texts.map(conv)), min_size=1, max_size=8)
solutions = st.one_of(
    st.sampled_from(["A", "B", "C", "D", "(48.85, 2.35)", "b", "<answer> C </answer>"]), texts
)

_ALL = ["accuracy", "format", "length", "repetition", "geodesic"]
_BOUNDS = {
    "accuracy": (0, 1),
    "format": (0, 1),
    "length": (-0.5, 1),
    "repetition": (-1, 0),
    "geodesic": (0, 1),
    "vlmr1_accuracy": (0, 1),
    "vlmr1_format": (0, 1),
    "vlmr1_length": (0.5, 1),
    "vlmr1_repetition": (-1, 0),
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(completions=completions_strategy, data=st.data())
def test_rewards_are_total_and_bounded(completions, data):
    sols = data.draw(st.lists(solutions, min_size=len(completions), max_size=len(completions)))
    for func in build_reward_funcs([*_ALL, *VLMR1_REWARDS]):
        values = func(completions, solution=sols)
        assert len(values) == len(completions)
        low, high = _BOUNDS[func.__name__]
        for value in values:
            assert value is None or (isinstance(value, float) and low - 1e-9 <= value <= high + 1e-9)


@settings(max_examples=300, deadline=None)
@given(text=texts, solution=solutions)
def test_paper_mode_matches_reference(text, solution):
    completion = [conv(text)]
    acc, fmt, length, rep = build_reward_funcs(VLMR1_REWARDS, unit="words")
    if solution_letter(solution) is not None:  # the reference MCQ path applies to letter solutions
        assert acc(completion, solution=[solution]) == ref.ref_accuracy_reward(completion, [solution])
    assert fmt(completion) == ref.ref_format_reward(completion)
    assert rep(completion) == ref.ref_repetition_rewards(completion, [solution])
    assert length(completion) == ref.make_ref_cosine_rewards(ref.WhitespaceTokenizer())(
        completion, [solution]
    )


_LONG_PIECES = [*_PIECES, "?", "!", ";", "AB", "the answer", "ﬀ", "ı", "ſ", "。", "正确"]


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(st.sampled_from(_LONG_PIECES), min_size=60, max_size=400), ascii_only=st.booleans())
def test_paper_choice_matches_reference_on_long_text(pieces, ascii_only):
    # Answers over 256 characters take the punctuation-mark path (and ASCII ones skip upper-casing).
    text = "".join(pieces)
    if ascii_only:
        text = text.encode("ascii", "ignore").decode()
    assert vlmr1.extract_choice(text) == ref.ref_extract_choice(text)


def test_paper_mode_matches_reference_on_benchmark_completions():
    # The benchmark's generator (every completion shape it times), scored in batches like GRPOTrainer.
    texts, solutions = ref.make_completions(1500, seed=3)
    completions = [conv(t) for t in texts]
    ours = build_reward_funcs(VLMR1_REWARDS, unit="words")
    theirs = [
        ref.ref_accuracy_reward,
        ref.ref_format_reward,
        ref.make_ref_cosine_rewards(ref.WhitespaceTokenizer()),
        ref.ref_repetition_rewards,
    ]
    for start in range(0, len(texts), 64):
        batch, sols = completions[start : start + 64], solutions[start : start + 64]
        for func, reference in zip(ours, theirs, strict=True):
            assert func(batch, solution=sols) == reference(batch, solution=sols), (func.__name__, start)


@settings(max_examples=300, deadline=None)
@given(text=texts)
def test_parsers_are_total(text):
    answer = extract_answer(text)
    assert answer is None or (answer == answer.strip() and answer in text and "</answer>" in text)
    choice = extract_choice(text)
    assert choice is None or choice in "ABCDEFGH"
    pair = parse_latlon(text)
    assert pair is None or (abs(pair[0]) <= 90 and abs(pair[1]) <= 180)


# 1 MB adversarial inputs: every one of these would take minutes with a backtracking regex.
_MB = 1_000_000
_ADVERSARIAL = {
    "answer_open": "<answer>" * 125_000,
    "think_nested": "<think>" * 142_857,
    "think_then_many": "<think>" + "</think> <answer>" * 58_000,
    "open_no_close": "<think>x</think><answer>" + "B, " * 330_000,
    "letters": "A " * (_MB // 2),
    "punct_letters": "B." * (_MB // 2),
    "spaces": "<think>" + " " * _MB + "x",
    "cue_spaces": "<answer>answer" + " " * _MB + "</answer>",
    "digits": "<answer>" + "1" * _MB + "</answer>",
    "numbers": "<answer>" + "48.8 " * (_MB // 5) + "</answer>",
    "number_gap": "<answer>48.85" + " " * _MB + "x2.35</answer>",
    "commas": "<answer>" + "," * _MB + "</answer>",
    "unicode": "é Ü 是 " * (_MB // 6),
    "one_word": "w" * _MB,
    "repeat": "<think>" + "the same six word phrase here " * (_MB // 30) + "</think><answer>B</answer>",
    # the vlmr1_repetition reward's JSON path: fences and box arrays without an end, deep nesting, boxes
    "json_fences": "```json" * (_MB // 7),
    "fence_no_close": "```json" + "x " * (_MB // 2),
    "bbox_no_close": '[{"bbox_2d" "label"' * (_MB // 18),
    "bbox_open_arrays": "[ {" * (_MB // 3) + '"bbox_2d" "label"',
    "json_deep": "```json\n" + "[" * _MB + "\n```",
    "json_boxes": "```json\n[" + '{"bbox_2d": [1, 2, 3, 4], "label": "car"}, ' * (_MB // 43) + "1]\n```",
    "json_boxes_ok": "```json\n[" + '{"bbox_2d": [1, 2, 3, 4], "label": "car"}, ' * (_MB // 43) + "{}]\n```",
}


@pytest.mark.parametrize("name", sorted(_ADVERSARIAL))
def test_adversarial_megabyte_inputs(name):
    text = _ADVERSARIAL[name]
    funcs = build_reward_funcs([*_ALL, *VLMR1_REWARDS])
    for solution in ("B", "(48.85, 2.35)"):
        for func in funcs:
            start = time.perf_counter()
            values = func([text, conv(text)], solution=[solution, solution])
            elapsed = time.perf_counter() - start
            assert len(values) == 2
            assert all(v is None or math.isfinite(v) for v in values)
            low, high = _BOUNDS[func.__name__]  # each reward's documented range
            assert all(v is None or low - 1e-9 <= v <= high + 1e-9 for v in values), (name, func.__name__)
            # Generous bound (the machine is shared): a catastrophic regex would need hours, not seconds.
            assert elapsed < 5.0, (name, func.__name__, elapsed)
    for parse in (extract_answer, extract_choice, parse_latlon):
        start = time.perf_counter()
        parse(text)
        assert time.perf_counter() - start < 5.0
