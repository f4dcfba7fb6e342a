"""Repetition penalty: the share of repeated word n-grams, scaled to ``[max_penalty, 0]``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from geor1.errors import ConfigError
from geor1.rewards.base import Reward, check_number, column, completion_texts

REPETITION_UNITS = ("words", "completion_ids")


def word_repetition(text: str, ngram_size: int, max_penalty: float) -> float:
    """Return ``(1 - distinct/total) * max_penalty`` over the word ``ngram_size``-grams of ``text.lower().split()``
    (``total = words - ngram_size + 1``); 0.0 for a text with fewer than ``ngram_size`` words."""
    words = text.lower().split()
    total = len(words) - ngram_size + 1
    if total < 1:
        return 0.0
    distinct = len(set(zip(*(words[i:] for i in range(ngram_size)), strict=False)))
    return (1 - distinct / total) * max_penalty


def check_ngram_size(value: object) -> int:
    """Return ``value`` if it is an integer >= 1, or raise ConfigError('ngram_size')."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError("ngram_size", f"must be an integer >= 1, got {value!r}")
    return value


def check_penalty(value: object) -> float:
    """Return ``value`` as a float if it is a number <= 0, or raise ConfigError('max_penalty')."""
    penalty = check_number("max_penalty", value)
    if penalty > 0:
        raise ConfigError("max_penalty", f"must be <= 0 (a penalty), got {value!r}")
    return penalty


class RepetitionPenalty(Reward):
    """n-gram repetition penalty ``(1 - distinct/total) * max_penalty`` in ``[max_penalty, 0]`` (default [−1, 0]).

    With ``unit="words"`` (default, the Geo-R1/VLM-R1 reference) the n-grams are over ``text.lower().split()``
    (:func:`word_repetition`): a completion with fewer than ``n`` words (or empty) gets 0.0, exactly like the
    reference's ``repetition_reward`` (n=6, max_penalty=−1) on plain text. ``unit="completion_ids"`` counts
    n-grams of the generated token ids TRL passes as ``completion_ids`` instead, via TRL's own
    ``trl.rewards.get_repetition_penalty_reward`` (same formula, tokenizer-defined units). The reference's extra
    path for completions holding JSON box lists is the separate reward ``vlmr1_repetition``.
    """

    name = "repetition"

    def __init__(self, *, ngram_size: int = 6, max_penalty: float = -1.0, unit: str = "words"):
        self.ngram_size = check_ngram_size(ngram_size)
        self.max_penalty = check_penalty(max_penalty)
        if unit not in REPETITION_UNITS:
            raise ConfigError("unit", f"must be one of {', '.join(REPETITION_UNITS)}; got {unit!r}")
        self.unit = unit

    def __call__(self, completions: Sequence[object], **kwargs: Any) -> list[float | None]:
        """Return one penalty per completion."""
        if self.unit == "completion_ids":
            from trl.rewards import get_repetition_penalty_reward

            ids = column(kwargs, "completion_ids", len(completions), self.name)
            return get_repetition_penalty_reward(self.ngram_size, self.max_penalty)(completion_ids=ids)
        return [
            word_repetition(text, self.ngram_size, self.max_penalty) for text in completion_texts(completions)
        ]
