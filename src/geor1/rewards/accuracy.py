"""Multiple-choice accuracy: does the completion's answer name the solution letter?"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from geor1.errors import ConfigError
from geor1.judge import judge
from geor1.parsing import MAX_OPTIONS
from geor1.rewards.base import Reward, check_number, column, completion_text


def check_n_options(value: object) -> int:
    """Return ``value`` as an option count in 1..26, or raise ConfigError('n_options')."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_OPTIONS:
        raise ConfigError("n_options", f"must be an integer in 1..{MAX_OPTIONS}, got {value!r}")
    return value


class AccuracyMCQ(Reward):
    """Multiple-choice accuracy: ``correct_value`` if the answer names the solution letter, else ``wrong_value``.

    The verdict is :func:`geor1.judge.judge` with ``require_tags=True``: the letter named by the LAST
    ``<answer>…</answer>`` block (no block, no letter or two different letters = wrong), among the first
    ``n_options`` letters widened to include the solution's. Returns per completion ``correct_value``
    (default 1.0) or ``wrong_value`` (default 0.0; the paper's r_acc ∈ {−1, +1} is ``wrong_value=-1.0``), or
    ``None`` when the example's ``solution`` is not a letter (e.g. a geolocation row in a mixed dataset),
    which TRL leaves out of the sum. The reference's own rule is the separate reward ``vlmr1_accuracy``.
    """

    name = "accuracy"

    def __init__(self, *, correct_value: float = 1.0, wrong_value: float = 0.0, n_options: int = 8):
        self.correct_value = check_number("correct_value", correct_value)
        self.wrong_value = check_number("wrong_value", wrong_value)
        self.n_options = check_n_options(n_options)

    def __call__(self, completions: Sequence[object], **kwargs: Any) -> list[float | None]:
        """Return one value per completion (``None`` where the solution is not a letter)."""
        solutions = column(kwargs, "solution", len(completions), self.name)
        out: list[float | None] = []
        for completion, solution in zip(completions, solutions, strict=True):
            verdict = judge(
                completion_text(completion), solution, require_tags=True, n_options=self.n_options
            )
            if verdict.kind != "letter":
                out.append(None)
            else:
                out.append(self.correct_value if verdict.correct else self.wrong_value)
        return out
