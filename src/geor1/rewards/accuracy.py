"""Multiple-choice accuracy: does the completion's answer name the solution letter?"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from geor1.errors import ConfigError
from geor1.geo import haversine_km
from geor1.parsing import MAX_OPTIONS, extract_answer, extract_choice, parse_latlon, solution_letter
from geor1.rewards import vlmr1
from geor1.rewards.base import RecentBatches, Reward, check_number, column, completion_texts

_MEMO_MAX_CHARS = 64  # answers up to this long are parsed once per option count (they repeat: "B", "(B)" …)
_MEMO_SIZE = 8192  # entries per option count before the memo is cleared (bounds its memory)
_choice_memos: dict[int, dict[str, str | None]] = {}
_MISSING = object()


def _answer_choice(text: str, n: int) -> str | None:
    """``extract_choice(extract_answer(text), n)``, with short answers looked up in a memo."""
    answer = extract_answer(text)
    if answer is None:
        return None
    if len(answer) > _MEMO_MAX_CHARS:
        return extract_choice(answer, n)
    memo = _choice_memos.get(n)
    if memo is None:
        memo = _choice_memos.setdefault(n, {})
    choice = memo.get(answer, _MISSING)
    if choice is _MISSING:
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        choice = memo[answer] = extract_choice(answer, n)
    return choice  # type: ignore[return-value]


def _solution_key(solution: object, n_options: int, paper_compatible: bool) -> str | tuple[str, int] | None:
    """What a completion's answer is compared with: ``None`` when ``solution`` is not a letter; else the
    reference's correct choice (paper mode) or ``(letter, option count widened to include it)``."""
    letter = solution_letter(solution)
    if letter is None:
        return None
    if paper_compatible:
        return vlmr1.correct_choice(solution)  # type: ignore[arg-type]  # a letter solution is a str
    return letter, max(n_options, ord(letter) - ord("A") + 1)


def mcq_verdicts(
    texts: Sequence[str], solutions: Sequence[object], n_options: int = 8, paper_compatible: bool = False
) -> list[bool | None]:
    """Return :func:`mcq_correct` for each ``(text, solution)`` pair, each solution parsed once per call.

    The verdicts of the last batches are kept (see :class:`~geor1.rewards.base.RecentBatches`): the length reward
    judges the same completions as the accuracy reward in a GRPO step and finds them there.
    """
    cacheable = all(type(solution) is str for solution in solutions)
    if cacheable:
        key = (tuple(solutions), n_options, paper_compatible)
        found = _recent_verdicts.get(texts, key)
        if found is not None:
            return list(found)  # type: ignore[call-overload]
    verdicts = _mcq_verdicts(texts, solutions, n_options, paper_compatible)
    if cacheable:
        _recent_verdicts.put(texts, key, verdicts)
        return list(verdicts)
    return verdicts


_recent_verdicts = RecentBatches()


def _mcq_verdicts(
    texts: Sequence[str], solutions: Sequence[object], n_options: int, paper_compatible: bool
) -> list[bool | None]:
    keys: dict[str, str | tuple[str, int] | None] = {}
    out: list[bool | None] = []
    append = out.append
    for text, solution in zip(texts, solutions, strict=True):
        if type(solution) is str and len(solution) <= 256:
            key = keys.get(solution, _MISSING)
            if key is _MISSING:
                key = keys[solution] = _solution_key(solution, n_options, paper_compatible)
        else:
            key = _solution_key(solution, n_options, paper_compatible)
        if key is None:
            append(None)
        elif paper_compatible:
            choice = vlmr1.student_choice(text)
            append(bool(choice) and choice == key)
        else:
            append(_answer_choice(text, key[1]) == key[0])  # type: ignore[index]
    return out


def mcq_correct(
    text: str, solution: object, n_options: int = 8, paper_compatible: bool = False
) -> bool | None:
    """Return whether ``text`` answers the multiple-choice ``solution`` letter; ``None`` if it is not a letter.

    Default rule: the letter named by the LAST ``<answer>…</answer>`` block (see
    :func:`geor1.parsing.extract_choice`; no block, no letter or two different letters = wrong). The option range
    is widened to include the solution letter if needed. ``paper_compatible=True`` uses VLM-R1's ``mcq_reward``
    instead (first block, whole text when there is none, its keyword heuristics).
    """
    return mcq_verdicts([text], [solution], n_options, paper_compatible)[0]


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
        verdicts = mcq_verdicts(
            completion_texts(completions), solutions, self.n_options, self.paper_compatible
        )
        return [values[verdict] for verdict in verdicts]
