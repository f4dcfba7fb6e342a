"""Cosine length shaping: a reward that falls along a half cosine as the completion grows to ``max_len``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from geor1.errors import ConfigError
from geor1.rewards.accuracy import answer_correct, check_n_options, mcq_verdicts
from geor1.rewards.base import Reward, check_number, column, completion_texts
from geor1.rewards.words import word_counts

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


class CosineLength(Reward):
    """Cosine length reward, with separate curves for correct and wrong answers (Geo-R1 / VLM-R1 style).

    For a completion of length ``L`` (see ``unit``), with ``p = min(L, max_len) / max_len``::

        value = end + (start - end) * (1 + cos(pi * p)) / 2

    where ``(start, end)`` is ``(correct_start, correct_end) = (1.0, 0.5)`` for a correct answer and
    ``(wrong_start, wrong_end) = (0.0, -0.5)`` for a wrong one: short correct answers earn most, long wrong
    answers lose most. Values lie between the curve ends (default range [−0.5, 1.0]); ``None`` when the
    example's ``solution`` is neither a letter nor a ``(lat, lon)`` pair. Correctness follows the accuracy
    rule (:func:`geor1.rewards.accuracy.answer_correct`: the letter of the last answer block; coordinates within
    ``correct_within_km``).

    The schedule is TRL's ``get_cosine_scaled_reward`` formula (clamped at ``max_len``); correctness comes from
    the MCQ/geodesic rule instead of math verification, and the wrong-answer curve runs 0.0 → −0.5 (the end
    values the reference names ``min_len_value_wrong``/``max_len_value_wrong``), so that long wrong answers cost
    most. TRL/"Demystifying long CoT" orient it the other way (short wrong answers cost most, −1.0 → −0.5);
    set ``wrong_start``/``wrong_end`` for that. (The reference's own wrong branch, which never runs, would
    evaluate to −0.5 → 0.0 because it swaps the two names.)

    ``paper_compatible=True`` reproduces the reference (VLM-R1 ``cosine_reward`` as used by Geo-R1) exactly:
    correctness is forced to "correct" for every completion (so wrong answers also get 1.0 → 0.5), the length is
    not clamped (the cosine is periodic: the value climbs back to 1.0 at ``2 * max_len``), and the
    ``solution`` column is not read. The reference measures ``len(tokenizer.encode(text))`` with the policy's
    tokenizer and ``max_len=1024``: pass ``tokenizer=`` to get the same measure.

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
        paper_compatible: bool = False,
    ):
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
            raise ConfigError("max_len", f"must be a positive integer, got {max_len!r}")
        self.max_len = max_len
        self.correct_start = check_number("correct_start", correct_start)
        self.correct_end = check_number("correct_end", correct_end)
        self.wrong_start = check_number("wrong_start", wrong_start)
        self.wrong_end = check_number("wrong_end", wrong_end)
        if unit not in LENGTH_UNITS:
            raise ConfigError("unit", f"must be one of {', '.join(LENGTH_UNITS)}; got {unit!r}")
        if (
            unit == "tokens"
            and tokenizer is not None
            and not hasattr(getattr(tokenizer, "tokenizer", tokenizer), "encode")
        ):
            raise ConfigError("tokenizer", f"has no encode() method: {type(tokenizer).__name__}")
        self.unit = unit
        self.tokenizer = tokenizer
        self.n_options = check_n_options(n_options)
        self.correct_within_km = check_number("correct_within_km", correct_within_km, positive=True)
        self.paper_compatible = bool(paper_compatible)

    def lengths(self, texts: Sequence[str], kwargs: dict[str, Any]) -> list[int]:
        """Return the length of each text in this reward's unit (``kwargs`` are the reward call's columns)."""
        tokenizer = self.tokenizer if self.tokenizer is not None else kwargs.get("processing_class")
        unit = self.unit
        if unit == "auto":
            unit = "tokens" if tokenizer is not None else "words"
        if unit == "completion_ids":
            return [len(ids) for ids in column(kwargs, "completion_ids", len(texts), self.name)]
        if unit == "words":
            return word_counts(texts)  # numpy over the whole batch: no need to deduplicate
        if tokenizer is None:
            raise ConfigError(
                "tokenizer", "unit='tokens' needs tokenizer=... or a processing_class in the call"
            )
        unique = list(dict.fromkeys(texts))  # a tokenizer call is dear: each distinct text once
        by_text = dict(zip(unique, token_lengths(tokenizer, unique), strict=True))
        return [by_text[text] for text in texts]

    def __call__(self, completions: Sequence[object], **kwargs: Any) -> list[float | None]:
        texts = completion_texts(completions)
        lengths = self.lengths(texts, kwargs)
        cos, pi, max_len = math.cos, math.pi, self.max_len
        if self.paper_compatible:
            # vlmr1.cosine_length, inlined (same expression, so the same floats): this runs per completion.
            return [1.0 - 0.5 * (1 - cos(n * pi / max_len)) / 2 for n in lengths]
        solutions = column(kwargs, "solution", len(texts), self.name)
        verdicts = mcq_verdicts(texts, solutions, self.n_options)
        curves = {True: (self.correct_start, self.correct_end), False: (self.wrong_start, self.wrong_end)}
        out: list[float | None] = []
        for text, solution, n, correct in zip(texts, solutions, lengths, verdicts, strict=True):
            if correct is None:  # not a letter: a coordinate solution, or none at all
                correct = answer_correct(text, solution, correct_within_km=self.correct_within_km)
                if correct is None:
                    out.append(None)
                    continue
            start, end = curves[correct]  # cosine_schedule, inlined: this loop runs per completion
            progress = min(max(n, 0.0), max_len) / max_len
            out.append(end + (start - end) * 0.5 * (1.0 + cos(pi * progress)))
        return out
