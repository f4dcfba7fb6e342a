"""Format: is the completion a ``<think>…</think>`` block followed by an ``<answer>…</answer>`` block?"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from geor1.rewards import vlmr1
from geor1.rewards.base import Reward, completion_texts

_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_LEADING_SPACE = re.compile(r"\s*")


def think_answer_format(text: str) -> bool:
    """True iff ``text`` is exactly one ``<think>…</think>`` then one ``<answer>…</answer>``.

    Whitespace is allowed before, between and after the two blocks; each of the four tags must appear exactly
    once (so no nested ``<think>``, no second answer, nothing outside the blocks). Block contents may be empty.
    """
    start = 0 if text.startswith("<think>") else _LEADING_SPACE.match(text).end()  # type: ignore[union-attr]
    end = len(text.rstrip()) if text[-1:].isspace() else len(text)
    if not (text.startswith("<think>", start) and text.endswith("</answer>", start, end)):
        return False
    # Usual case, one pass: the tags are the only "<" in the text, in order, with only whitespace between blocks.
    close_think = text.find("<", start + len("<think>"), end)
    if text.startswith("</think>", close_think):
        open_answer = text.find("<", close_think + len("</think>"), end)
        if (
            text.startswith("<answer>", open_answer)
            and text.find("<", open_answer + len("<answer>"), end) == end - len("</answer>")
            and not text[close_think + len("</think>") : open_answer].strip()
        ):
            return True
    # Otherwise ("<" inside a block, or a wrong shape): each tag exactly once, in order.
    if any(text.count(tag) != 1 for tag in _TAGS):
        return False
    think_end = text.find("</think>") + len("</think>")
    answer_start = text.find("<answer>", think_end)
    if (
        think_end < len("</think>")
        or answer_start < 0
        or answer_start + len("<answer>") > end - len("</answer>")
    ):
        return False
    return not text[think_end:answer_start].strip()


class ThinkAnswerFormat(Reward):
    """Format reward: 1.0 if the completion is ``<think>…</think>`` then ``<answer>…</answer>``, else 0.0.

    Default (strict): :func:`think_answer_format`. ``paper_compatible=True`` is VLM-R1/Geo-R1's
    ``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", text, re.DOTALL)``, which differs in two ways:
    no whitespace is allowed before ``<think>`` or after ``</answer>``, and extra tags inside the blocks pass
    (``"<think>a</think><answer>b</answer><answer>c</answer>"`` and a nested ``<think><think>…`` score 1.0).
    The result is the same as that regex on every input but computed in linear time.
    """

    name = "format"

    def __init__(self, *, paper_compatible: bool = False):
        self.paper_compatible = bool(paper_compatible)

    def __call__(self, completions: Sequence[object], **kwargs: Any) -> list[float | None]:
        check = vlmr1.format_ok if self.paper_compatible else think_answer_format
        return [1.0 if check(text) else 0.0 for text in completion_texts(completions)]
