"""Format: is the completion a ``<think>…</think>`` block followed by an ``<answer>…</answer>`` block?"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from geor1.judge import think_answer_format
from geor1.rewards.base import Reward, completion_texts

__all__ = ["ThinkAnswerFormat", "think_answer_format"]


class ThinkAnswerFormat(Reward):
    """Format reward: 1.0 if the completion is ``<think>…</think>`` then ``<answer>…</answer>``, else 0.0.

    The rule is :func:`geor1.judge.think_answer_format` (each tag exactly once, only whitespace around and
    between the blocks), the same one the CoT filter keeps exemplars by. The reference's regex is the
    separate reward ``vlmr1_format``.
    """

    name = "format"

    def __call__(self, completions: Sequence[object], **kwargs: Any) -> list[float | None]:
        """Return 1.0 or 0.0 per completion."""
        return [1.0 if think_answer_format(text) else 0.0 for text in completion_texts(completions)]
