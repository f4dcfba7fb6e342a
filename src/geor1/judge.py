"""The one judge of "is this answer right", used by the rewards, the CoT filter and every eval task.

A completion's answer is the content of its LAST complete ``<answer>…</answer>`` block. With
``require_tags=True`` (what the rewards and the CoT filter use) a completion without such a block has
no answer and is wrong; with ``require_tags=False`` (evaluation's lenient reading, for models that
ignore the tag instruction) the whole stripped text is the answer instead. Evaluation reports both.

The solution decides how the answer is read (:mod:`geor1.parsing` does the reading):

- a letter (``"B"``, ``"(b)"``, ``"<answer>B</answer>"``): the answer must name that single option
  letter among the first ``n_options`` (widened to include the solution's letter);
- coordinates (``"(lat, lon)"`` or a ``(lat, lon)`` tuple): the answered point must lie within
  ``within_km`` of the solution;
- any other string: the same text up to case and spacing.

Everything here is total: any completion and solution give a :class:`Verdict`, never an exception.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from geor1.geo import haversine_km
from geor1.parsing import extract_answer, extract_choice, parse_latlon, solution_letter

SolutionKind = Literal["letter", "point", "text"]
DEFAULT_N_OPTIONS = 8
DEFAULT_WITHIN_KM = 25.0  # city-level accuracy, the tightest of the usual geolocation levels

_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


@dataclass(frozen=True)
class Verdict:
    """The judgement of one completion against one solution.

    ``kind`` is how the solution was read (``None``: there is nothing to judge against, and ``correct``
    is ``None`` too). ``answer`` is the text read as the answer (``None`` when there is none);
    ``choice``/``point`` what it names for a letter/coordinate solution and ``km`` the point's distance
    to the solution.
    """

    kind: SolutionKind | None
    answer: str | None
    correct: bool | None
    choice: str | None = None
    point: tuple[float, float] | None = None
    km: float | None = None

    @property
    def parsed(self) -> bool:
        """True when the answer could be read as the kind of answer the solution asks for."""
        if self.kind == "letter":
            return self.choice is not None
        if self.kind == "point":
            return self.point is not None
        return self.answer is not None


def answer_text(completion: object, *, require_tags: bool) -> str | None:
    """Return the answer part of a completion: the stripped content of its last ``<answer>`` block; else
    ``None`` (``require_tags=True``) or the whole stripped text (``require_tags=False``). Non-strings give
    ``None``."""
    return extract_answer(completion, fallback_to_text=not require_tags)


def read_choice(completion: object, n_options: int, *, require_tags: bool) -> str | None:
    """Return the option letter (among the first ``n_options``) a completion's answer names, or None."""
    return extract_choice(answer_text(completion, require_tags=require_tags), n_options)


def read_point(completion: object, *, require_tags: bool) -> tuple[float, float] | None:
    """Return the ``(lat, lon)`` a completion's answer states, or None."""
    return parse_latlon(answer_text(completion, require_tags=require_tags))


def solution_point(solution: object) -> tuple[float, float] | None:
    """Return the coordinates of a coordinate solution (a ``"(lat, lon)"`` string or a pair), else None."""
    if isinstance(solution, str):
        return parse_latlon(solution)
    if isinstance(solution, (tuple, list)) and len(solution) == 2:
        lat, lon = solution
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lat, lon)):
            if math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180:
                return float(lat), float(lon)
    return None


def solution_kind(solution: object) -> SolutionKind | None:
    """Return how ``solution`` is judged: ``"letter"``, ``"point"``, ``"text"``, or None (not judgeable)."""
    if solution_letter(solution) is not None:
        return "letter"
    if solution_point(solution) is not None:
        return "point"
    if isinstance(solution, str) and solution.strip():
        return "text"
    return None


def _words(text: str) -> str:
    return " ".join(text.lower().split())


def judge(
    completion: object,
    solution: object,
    *,
    require_tags: bool,
    n_options: int = DEFAULT_N_OPTIONS,
    within_km: float = DEFAULT_WITHIN_KM,
) -> Verdict:
    """Return whether ``completion`` answers ``solution`` (see the module docstring for the rules).

    ``require_tags`` chooses the strict (no ``<answer>`` block = wrong) or lenient reading;
    ``n_options`` is the number of option letters that count as answers for a letter solution;
    ``within_km`` is the distance within which a coordinate answer is right.
    """
    kind = solution_kind(solution)
    answer = answer_text(completion, require_tags=require_tags)
    if kind is None:
        return Verdict(None, answer, None)
    if kind == "letter":
        letter = solution_letter(solution)
        assert letter is not None  # the kind says so
        n = max(n_options, ord(letter) - ord("A") + 1)
        choice = extract_choice(answer, n)
        return Verdict(kind, answer, choice == letter, choice=choice)
    if kind == "point":
        target = solution_point(solution)
        point = parse_latlon(answer)
        if target is None or point is None:
            return Verdict(kind, answer, False)
        km = float(haversine_km(point[0], point[1], target[0], target[1]))
        return Verdict(kind, answer, km <= within_km, point=point, km=km)
    return Verdict(kind, answer, answer is not None and _words(answer) == _words(str(solution)))


def think_answer_format(text: str) -> bool:
    """True iff ``text`` is exactly one ``<think>…</think>`` then one ``<answer>…</answer>``.

    Whitespace is allowed before, between and after the two blocks; each of the four tags must appear exactly
    once (so no nested ``<think>``, no second answer, nothing outside the blocks). Block contents may be empty.
    """
    if not isinstance(text, str):
        return False
    body = text.strip()
    if not (body.startswith("<think>") and body.endswith("</answer>")):
        return False
    if any(body.count(tag) != 1 for tag in _TAGS):
        return False
    think_end = body.find("</think>") + len("</think>")
    answer_start = body.find("<answer>")
    return think_end <= answer_start and not body[think_end:answer_start].strip()


def split_completion(text: object) -> tuple[str, str] | None:
    """Return the stripped ``(thinking, answer)`` of a completion in the strict format
    (:func:`think_answer_format`), else None."""
    if not isinstance(text, str) or not think_answer_format(text):
        return None
    think = text[text.index("<think>") + len("<think>") : text.index("</think>")]
    answer = text[text.index("<answer>") + len("<answer>") : text.index("</answer>")]
    return think.strip(), answer.strip()
