"""Cosine length shaping: a reward that falls along a half cosine as the completion grows to ``max_len``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from geor1.errors import ConfigError
from geor1.judge import judge
from geor1.rewards.accuracy import check_n_options
from geor1.rewards.base import Reward, check_number, column, completion_texts

LENGTH_UNITS = ("auto", "words", "tokens", "completion_ids")


def cosine_schedule(length: float, max_len: float, start: float, end: float) -> float:
    """Return the value at ``length`` of a half cosine from ``start`` (length 0) to ``end`` (``max_len``).

    Lengths beyond ``max_len`` stay at ``end`` (the schedule is clamped, not periodic).
    """
    progress = min(max(length, 0.0), max_len) / max_len
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


def token_lengths(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Return ``len(tokenizer.encode(text))`` for each text (one batched call for 🤗 tokenizers)."""
    tokenizer = getattr(tokenizer, "tokenizer", tokenizer)  # a processor wraps its tokenizer
    if callable(tokenizer) and hasattr(tokenizer, "convert_tokens_to_ids"):
        return [len(ids) for ids in tokenizer(list(texts))["input_ids"]]
    return [len(tokenizer.encode(text)) for text in texts]


def measure_lengths(
    texts: Sequence[str], unit: str, tokenizer: Any, kwargs: dict[str, Any], reward: str
) -> list[int]:
    """Return the length of each text in ``unit`` (see :class:`CosineLength`); ``kwargs`` are the reward call's
    columns (``completion_ids``, ``processing_class``) and ``reward`` names the reward in errors."""
    tokenizer = tokenizer if tokenizer is not None else kwargs.get("processing_class")
    if unit == "auto":
        unit = "tokens" if tokenizer is not None else "words"
    if unit == "completion_ids":
        return [len(ids) for ids in column(kwargs, "completion_ids", len(texts), reward)]
    if unit == "words":
        return [len(text.split()) for text in texts]
    if tokenizer is None:
        raise ConfigError("tokenizer", "unit='tokens' needs tokenizer=... or a processing_class in the call")
    return token_lengths(tokenizer, texts)


def check_unit(unit: object, tokenizer: Any) -> str:
    """Return ``unit`` if it is a length unit (and ``tokenizer`` fits it), or raise ConfigError."""
    if unit not in LENGTH_UNITS:
        raise ConfigError("unit", f"must be one of {', '.join(LENGTH_UNITS)}; got {unit!r}")
    if (
        unit == "tokens"
        and tokenizer is not None
        and not hasattr(getattr(tokenizer, "tokenizer", tokenizer), "encode")
    ):
        raise ConfigError("tokenizer", f"has no encode() method: {type(tokenizer).__name__}")
    return unit  # type: ignore[return-value]


def check_max_len(max_len: object) -> int:
    """Return ``max_len`` if it is a positive integer, or raise ConfigError('max_len')."""
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
        raise ConfigError("max_len", f"must be a positive integer, got {max_len!r}")
    return max_len


class CosineLength(Reward):
    """Cosine length reward, with separate curves for correct and wrong answers (Geo-R1 / VLM-R1 style).

    For a completion of length ``L`` (see ``unit``), with ``p = min(L, max_len) / max_len``::

        value = end + (start - end) * (1 + cos(pi * p)) / 2

    where ``(start, end)`` is ``(correct_start, correct_end) = (1.0, 0.5)`` for a correct answer and
    ``(wrong_start, wrong_end) = (0.0, -0.5)`` for a wrong one: short correct answers earn most, long wrong
    answers lose most. Values lie between the curve ends (default range [−0.5, 1.0]); ``None`` when the
    example's ``solution`` is neither a letter nor a ``(lat, lon)`` pair. Correctness is :func:`geor1.judge.judge`
    with ``require_tags=True``, as for the accuracy reward (coordinates: within ``correct_within_km``).

    The schedule is TRL's ``get_cosine_scaled_reward`` formula (clamped at ``max_len``); correctness comes from
    the MCQ/geodesic rule instead of math verification, and the wrong-answer curve runs 0.0 → −0.5 (the end
    values the reference names ``min_len_value_wrong``/``max_len_value_wrong``), so that long wrong answers cost
    most. TRL/"Demystifying long CoT" orient it the other way (short wrong answers cost most, −1.0 → −0.5);
    set ``wrong_start``/``wrong_end`` for that. (The reference's own wrong branch, which never runs, would
    evaluate to −0.5 → 0.0 because it swaps the two names.)

    The reference's own reward (VLM-R1 ``cosine_reward``, correctness forced to "correct", periodic past
    ``max_len``) is the separate reward ``vlmr1_length``.

    Args:
        max_len: the length at which the curve reaches its end value (reference: 1024).
        unit: ``"words"`` (whitespace tokens), ``"tokens"`` (``len(tokenizer.encode(text))``, with ``tokenizer``
            or a ``processing_class`` passed in the call), ``"completion_ids"`` (the token ids TRL passes), or
            ``"auto"`` (default): tokens when a tokenizer is available, else words.
        tokenizer: a tokenizer (or processor) for ``unit="tokens"``/``"auto"``.
        n_options, correct_within_km: forwarded to the correctness rule.
    """

    name = "length"

    def __init__(
        self,
        *,
        max_len: int = 1024,
        correct_start: float = 1.0,
        correct_end: float = 0.5,
        wrong_start: float = 0.0,
        wrong_end: float = -0.5,
        unit: str = "auto",
        tokenizer: Any = None,
        n_options: int = 8,
        correct_within_km: float = 25.0,
    ):
        self.max_len = check_max_len(max_len)
        self.correct_start = check_number("correct_start", correct_start)
        self.correct_end = check_number("correct_end", correct_end)
        self.wrong_start = check_number("wrong_start", wrong_start)
        self.wrong_end = check_number("wrong_end", wrong_end)
        self.unit = check_unit(unit, tokenizer)
        self.tokenizer = tokenizer
        self.n_options = check_n_options(n_options)
        self.correct_within_km = check_number("correct_within_km", correct_within_km, positive=True)

    def lengths(self, texts: Sequence[str], kwargs: dict[str, Any]) -> list[int]:
        """Return the length of each text in this reward's unit (``kwargs`` are the reward call's columns)."""
        return measure_lengths(texts, self.unit, self.tokenizer, kwargs, self.name)

    def __call__(self, completions: Sequence[object], **kwargs: Any) -> list[float | None]:
        """Return one value per completion (``None`` where the solution is neither a letter nor a point)."""
        texts = completion_texts(completions)
        lengths = self.lengths(texts, kwargs)
        solutions = column(kwargs, "solution", len(texts), self.name)
        out: list[float | None] = []
        for text, solution, n in zip(texts, solutions, lengths, strict=True):
            verdict = judge(
                text,
                solution,
                require_tags=True,
                n_options=self.n_options,
                within_km=self.correct_within_km,
            )
            if verdict.kind not in ("letter", "point"):
                out.append(None)
            elif verdict.correct:
                out.append(cosine_schedule(n, self.max_len, self.correct_start, self.correct_end))
            else:
                out.append(cosine_schedule(n, self.max_len, self.wrong_start, self.wrong_end))
        return out
