"""Free-text answers for evaluation: yes/no answers and one of a fixed set of class names.

Option letters and coordinates are judged by :func:`geor1.judge.judge` (the rewards' judge); this module
adds only what GeoChain's free-text questions need, reading the answer leniently (the ``<answer>``
content, else the whole text) as :func:`answer_text` does.
"""

from __future__ import annotations

import re

from geor1.eval.placenames import fold
from geor1.judge import answer_text as _answer_text

_YES = {"yes", "y", "true", "correct", "affirmative"}
_NO = {"no", "n", "false", "incorrect", "negative"}


def answer_text(completion: object) -> str:
    """Return the answer part of a completion read leniently: the content of its last ``<answer>`` block
    when present, else the whole completion stripped ("" for non-strings)."""
    return _answer_text(completion, require_tags=False) or ""


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
