"""Turning a completion into a scorable answer, on top of the shared parsers in ``geor1.parsing``.

Letters and coordinates are parsed by ``geor1.parsing`` (the same parsers the rewards use, so training
and evaluation agree), both from the answer part only. This module adds only what evaluation needs beyond them: the free-text answer
of a completion (the ``<answer>`` content, else the whole text), yes/no answers and picking one of a
fixed set of class names out of a free-text answer.
"""

from __future__ import annotations

import re

from geor1.eval.placenames import fold

_YES = {"yes", "y", "true", "correct", "affirmative"}
_NO = {"no", "n", "false", "incorrect", "negative"}


def answer_text(completion: object) -> str:
    """Return the answer part of a completion: the content of its ``<answer>`` tags when present, else
    the whole completion stripped ("" for non-strings)."""
    if not isinstance(completion, str):
        return ""
    from geor1.parsing import extract_answer

    inner = extract_answer(completion)
    return (inner if inner is not None else completion).strip()


def parse_choice(completion: object, n_options: int) -> str | None:
    """Return the option letter a completion chose (``geor1.parsing.extract_choice`` on its answer part,
    so letters named in the reasoning do not count), or None."""
    if not isinstance(completion, str):
        return None
    from geor1.parsing import extract_choice

    return extract_choice(answer_text(completion), n_options)


def parse_coordinates(completion: object) -> tuple[float, float] | None:
    """Return the (lat, lon) a completion answered (``geor1.parsing.parse_latlon`` on its answer part:
    the ``<answer>`` content when there is one, else the whole text), or None. Coordinates named only
    in the reasoning of a completion with an answer block do not count."""
    if not isinstance(completion, str):
        return None
    from geor1.parsing import parse_latlon

    return parse_latlon(answer_text(completion))


def parse_yes_no(completion: object) -> bool | None:
    """Return True/False for an answer that starts with yes/no (or true/false), else None."""
    words = fold(answer_text(completion)).split()
    if not words:
        return None
    if words[0] in _YES:
        return True
    if words[0] in _NO:
        return False
    return None


def parse_class(completion: object, classes: tuple[str, ...]) -> str | None:
    """Return the one class name of ``classes`` the answer mentions (whole words, accent/case-folded);
    None when it names none or several."""
    text = f" {fold(answer_text(completion))} "
    hits = [c for c in classes if re.search(rf"(?<![a-z]){re.escape(fold(c))}(?![a-z])", text)]
    # a name inside a longer matched name is not a separate answer (e.g. "Dry" inside "Dry Temperate")
    hits = [h for h in hits if not any(h != o and fold(h) in fold(o) for o in hits)]
    return hits[0] if len(hits) == 1 else None
