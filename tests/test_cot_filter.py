"""The CoT filter: format, answer, length, hint leakage, near-duplicates — one rejection reason each."""

from __future__ import annotations

import random

import pytest

from geor1.cot.filter import (
    DEFAULT_LEAK_PATTERNS,
    CotFilter,
    FilterConfig,
    split_completion,
)
from geor1.judge import judge

WORDS = (
    "query candidate forest river coast ridge valley field road lake shore dune plateau delta bay "
    "hill village canal marsh orchard terrace cliff meadow harbour island glacier basin mesa"
).split()


def reasoning(seed: int, n: int = 40) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n))


def completion(think: str, answer: str = "B") -> str:
    return f"<think>{think}</think><answer>{answer}</answer>"


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "B",
        "<think>no answer block</think>",
        "<answer>B</answer><think>wrong order</think>",
        "preamble <think>x</think><answer>B</answer>",
        "<think>x</think><answer>B</answer> trailing",
        "<think>a <think>nested</think></think><answer>B</answer>",
        "<think>x</think><answer>B</answer><answer>C</answer>",
        "<think>x<answer>B</answer>",
    ],
)
def test_malformed_completions_are_rejected_without_crashing(text) -> None:
    verdict = CotFilter().check(text, "B")
    assert not verdict.keep and verdict.reason == "malformed"


def test_split_completion_allows_whitespace_between_blocks() -> None:
    assert split_completion("  <think> a b </think>\n<answer> C </answer>\n") == ("a b", "C")


@pytest.mark.parametrize(
    ("answer", "solution", "ok"),
    [
        ("B", "B", True),
        ("b", "B", True),
        ("(B)", "B", True),
        ("B.", "B", True),
        ("Candidate B", "B", True),
        ("C", "B", False),
        ("B or C", "B", False),
        ("Because", "B", False),
        ("(48.8566, 2.3522)", "(48.8566, 2.3522)", True),
        ("(48.8600, 2.3500)", "(48.8566, 2.3522)", True),  # ~0.4 km off
        ("(48.9566, 2.3522)", "(48.8566, 2.3522)", False),  # ~11 km off
        ("(148.0, 2.0)", "(48.8566, 2.3522)", False),
        ("Coastal", "coastal", True),
    ],
)
def test_answer_matching(answer, solution, ok) -> None:
    # The filter's answer check is the rewards' judge, strict, within FilterConfig's 1 km.
    text = f"<think>{reasoning(30)}</think><answer>{answer}</answer>"
    assert judge(text, solution, require_tags=True, within_km=FilterConfig().geo_tolerance_km).correct is ok
    assert (CotFilter().check(text, solution).reason != "wrong_answer") is ok


def test_each_rejection_reason() -> None:
    f = CotFilter(FilterConfig(min_think_words=10, max_think_words=60))
    assert f.check(completion(reasoning(1)), "C").reason == "wrong_answer"
    assert f.check(completion("too few words here"), "B").reason == "too_short"
    assert f.check(completion(reasoning(2, 80)), "B").reason == "too_long"
    leak = f.check(completion(reasoning(3) + " as I was told the answer"), "B")
    assert leak.reason == "hint_leak" and leak.detail == "I was told"
    assert f.judge("a", completion(reasoning(4)), "B").keep
    duplicate = f.judge("b", completion(reasoning(4)), "B")
    assert duplicate.reason == "near_duplicate" and duplicate.detail.startswith("a (")
    assert f.judge("c", completion(reasoning(5)), "B").keep
    assert len(f) == 2


@pytest.mark.parametrize(
    "phrase",
    [
        "I was told that",
        "we were given the result",
        "the answer is given as B",
        "given the correct answer",
        "the hint says",
        "matching the ground truth",
        "as instructed",
        "the prompt says so",
        "without mentioning it",
    ],
)
def test_leak_phrases(phrase) -> None:
    verdict = CotFilter(FilterConfig(min_think_words=5)).check(completion(reasoning(7) + " " + phrase), "B")
    assert verdict.reason == "hint_leak", phrase


def test_leak_check_does_not_flag_ordinary_reasoning() -> None:
    text = (
        "The query shows a coastline and croplands; candidate B has the same coast and a similar share of "
        "croplands, while A and C are inland. So the answer is B because every cue agrees."
    )
    assert CotFilter(FilterConfig(min_think_words=5)).check(completion(text), "B").keep


def test_trigger_precheck_matches_a_full_search() -> None:
    # Every default pattern contains a trigger word, so skipping texts without one loses nothing.
    fast = CotFilter(FilterConfig(min_think_words=1))
    slow = CotFilter(FilterConfig(min_think_words=1, leak_triggers=None))
    assert len(DEFAULT_LEAK_PATTERNS) >= 8
    for phrase in [
        "I had been informed",
        "answer was supplied",
        "hinted",
        "ground-truth",
        "the instructions said",
    ]:
        text = completion(f"cue cue {phrase} cue")
        assert fast.check(text, "B").reason == slow.check(text, "B").reason


def test_near_duplicate_catches_small_edits_but_not_different_texts() -> None:
    f = CotFilter(FilterConfig(min_think_words=10))
    base = reasoning(11, 80)
    assert f.judge("x", completion(base), "B").keep
    edited = base.split()
    edited[40] = "volcano"
    assert f.judge("y", completion(" ".join(edited)), "B").reason == "near_duplicate"
    kept = sum(f.judge(f"z{i}", completion(reasoning(100 + i, 80)), "B").keep for i in range(50))
    assert kept == 50


def test_threshold_one_turns_deduplication_off_and_seed_restores_an_index() -> None:
    off = CotFilter(FilterConfig(min_think_words=10, near_duplicate_threshold=1.0))
    text = completion(reasoning(21))
    assert off.judge("a", text, "B").keep and off.judge("b", text, "B").keep
    restored = CotFilter(FilterConfig(min_think_words=10))
    restored.seed([("earlier", text)])
    assert restored.check(text, "B").reason == "near_duplicate"
