"""Repetition penalty: the share of repeated word n-grams, scaled to ``[max_penalty, 0]``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from geor1.errors import ConfigError
from geor1.rewards import vlmr1
from geor1.rewards.base import Reward, check_number, column, completion_texts
from geor1.rewards.words import ngram_counts

REPETITION_UNITS = ("words", "completion_ids")


class RepetitionPenalty(Reward):
    """n-gram repetition penalty ``(1 - distinct/total) * max_penalty`` in ``[max_penalty, 0]`` (default [−1, 0]).

    With ``unit="words"`` (default, the Geo-R1/VLM-R1 reference) the n-grams are over ``text.lower().split()``:
    ``total = words - n + 1`` and a completion with fewer than ``n`` words (or empty) gets 0.0, exactly like the
    reference's ``repetition_reward`` (n=6, max_penalty=−1). ``unit="completion_ids"`` counts n-grams of the
    generated token ids TRL passes as ``completion_ids`` instead, via TRL's own
    ``trl.rewards.get_repetition_penalty_reward`` (same formula, tokenizer-defined units).

    ``paper_compatible=True`` (with ``unit="words"``) adds the reference's JSON path: a completion holding a
    JSON list of boxes (a ```` ```json ```` fence, else any ```` ``` ```` fence, else a bare
    ``[{… "bbox_2d" … "label" …}]`` span) is scored on those boxes instead of its words: the share of repeated
    ``"{bbox_2d}_{label}"`` items × ``max_penalty`` (0.0 for a list without such items). The reference's
    quirks are kept: an empty ```` ```json ```` fence stops the search, and any other block that is not a JSON
    list is scored as plain text. Where the reference raises or repairs malformed JSON with ``json_repair``
    (not a geor1 dependency), the completion is scored as plain text; see
    :func:`geor1.rewards.vlmr1.json_box_items`. The default mode scores every completion on its words. Word
    n-grams are counted with numpy for a whole batch (see :mod:`geor1.rewards.words`).
    """

    name = "repetition"

    def __init__(
        self,
        *,
        ngram_size: int = 6,
        max_penalty: float = -1.0,
        unit: str = "words",
        paper_compatible: bool = False,
    ):
        if isinstance(ngram_size, bool) or not isinstance(ngram_size, int) or ngram_size < 1:
            raise ConfigError("ngram_size", f"must be an integer >= 1, got {ngram_size!r}")
        self.ngram_size = ngram_size
        self.max_penalty = check_number("max_penalty", max_penalty)
        if self.max_penalty > 0:
            raise ConfigError("max_penalty", f"must be <= 0 (a penalty), got {max_penalty!r}")
        if unit not in REPETITION_UNITS:
            raise ConfigError("unit", f"must be one of {', '.join(REPETITION_UNITS)}; got {unit!r}")
        self.unit = unit
        self.paper_compatible = bool(paper_compatible)

    def __call__(self, completions: Sequence[object], **kwargs: Any) -> list[float | None]:
        if self.unit == "completion_ids":
            from trl.rewards import get_repetition_penalty_reward

            ids = column(kwargs, "completion_ids", len(completions), self.name)
            return get_repetition_penalty_reward(self.ngram_size, self.max_penalty)(completion_ids=ids)
        n, max_penalty = self.ngram_size, self.max_penalty
        texts = completion_texts(completions)
        values = [
            0.0 if n_words < n else (1 - distinct / (n_words - n + 1)) * max_penalty
            for n_words, distinct in ngram_counts(texts, n)
        ]
        if self.paper_compatible:
            for i, text in enumerate(texts):
                boxes = vlmr1.json_repetition(text, max_penalty)
                if boxes is not None:
                    values[i] = boxes
        return values
