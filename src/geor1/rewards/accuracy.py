"""Multiple-choice accuracy: does the completion's answer name the solution letter?"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from geor1.errors import ConfigError
from geor1.geo import haversine_km
from geor1.parsing import MAX_OPTIONS, extract_answer, extract_choice, parse_latlon, solution_letter
from geor1.rewards import vlmr1
from geor1.rewards.base import Reward, check_number, column, completion_text

_CACHE_MAX_CHARS = 16_384  # verdicts on longer texts are not kept (bounds the cache's memory)


def _verdict(text: str, solution: object, n_options: int, paper_compatible: bool) -> bool | None:
    letter = solution_letter(solution)
    if letter is None:
        return None
    if paper_compatible:
        return vlmr1.mcq_correct(text, solution)  # type: ignore[arg-type]  # a letter solution is a str
    answer = extract_answer(text)
    if answer is None:
        return False
    n = max(n_options, ord(letter) - ord("A") + 1)
    return extract_choice(answer, n) == letter


@functools.lru_cache(maxsize=1024)
def _cached_verdict(text: str, solution: str, n_options: int) -> bool | None:
    # The accuracy and the length rewards judge the same completions in a step: the second call is a lookup.
    return _verdict(text, solution, n_options, False)


def mcq_correct(
    text: str, solution: object, n_options: int = 8, paper_compatible: bool = False
) -> bool | None:
    """Return whether ``text`` answers the multiple-choice ``solution`` letter; ``None`` if it is not a letter.

    Default rule: the letter named by the LAST ``<answer>…</answer>`` block (see
    :func:`geor1.parsing.extract_choice`; no block, no letter or two different letters = wrong). The option range
    is widened to include the solution letter if needed. ``paper_compatible=True`` uses VLM-R1's ``mcq_reward``
    instead (first block, whole text when there is none, its keyword heuristics).
    """
    if paper_compatible or not isinstance(solution, str) or max(len(text), len(solution)) > _CACHE_MAX_CHARS:
        return _verdict(text, solution, n_options, paper_compatible)
    return _cached_verdict(text, solution, n_options)


def answer_correct(
    text: str,
    solution: object,
    *,
    n_options: int = 8,
    correct_within_km: float = 25.0,
    paper_compatible: bool = False,
) -> bool | None:
    """Return whether ``text`` answers ``solution`` (a letter, or ``"(lat, lon)"``); ``None`` for other solutions.

    Letters follow :func:`mcq_correct`; coordinates are correct when the answered point lies within
    ``correct_within_km`` of the solution (an unparseable answer is wrong).
    """
    verdict = mcq_correct(text, solution, n_options, paper_compatible)
    if verdict is not None:
        return verdict
    target = parse_latlon(solution)
    if target is None:
        return None
    answer = parse_latlon(extract_answer(text))
    if answer is None:
        return False
    return haversine_km(answer[0], answer[1], target[0], target[1]) <= correct_within_km


def check_n_options(value: object) -> int:
    """Return ``value`` as an option count in 1..26, or raise ConfigError('n_options')."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_OPTIONS:
        raise ConfigError("n_options", f"must be an integer in 1..{MAX_OPTIONS}, got {value!r}")
    return value


class AccuracyMCQ(Reward):
    """Multiple-choice accuracy: ``correct_value`` if the answer names the solution letter, else ``wrong_value``.

    Returns per completion ``correct_value`` (default 1.0) or ``wrong_value`` (default 0.0; the paper's
    r_acc ∈ {−1, +1} is ``wrong_value=-1.0``), or ``None`` when the example's ``solution`` is not a letter
    (e.g. a geolocation row in a mixed dataset), which TRL leaves out of the sum.

    Args:
        n_options: option letters A.. that count as answers (default 8: A–H).
        paper_compatible: score with VLM-R1's ``mcq_reward`` (first ``<answer>`` block, whole text when there is
            none, keyword heuristics when several letters appear) instead of the rule in
            :func:`geor1.parsing.extract_choice` (last block; two different letters are wrong).
    """

    name = "accuracy"

    def __init__(
        self,
        *,
        correct_value: float = 1.0,
        wrong_value: float = 0.0,
        n_options: int = 8,
        paper_compatible: bool = False,
    ):
        self.correct_value = check_number("correct_value", correct_value)
        self.wrong_value = check_number("wrong_value", wrong_value)
        self.n_options = check_n_options(n_options)
        self.paper_compatible = bool(paper_compatible)

    def __call__(self, completions: Sequence[object], **kwargs: Any) -> list[float | None]:
        solutions = column(kwargs, "solution", len(completions), self.name)
        values = {True: self.correct_value, False: self.wrong_value, None: None}
        n, paper = self.n_options, self.paper_compatible
        return [
            values[mcq_correct(completion_text(completion), solution, n, paper)]
            for completion, solution in zip(completions, solutions, strict=True)
        ]
