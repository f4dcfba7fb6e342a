"""What every reward shares: reading completion text, reading the ``solution`` column, the callable base class."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from geor1.errors import ConfigError


def content_text(content: object) -> str:
    """Return the text of a message ``content``: a string, or the ``"text"`` parts of a multimodal list joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                if part.get("type", "text") == "text":
                    parts.append(part["text"])
        return "".join(parts)
    return ""


def completion_text(completion: object) -> str:
    """Return the text of one completion as TRL passes it; ``""`` for anything unreadable (never raises).

    Accepts a plain string (standard format) or a conversational list of messages
    ``[{"role": "assistant", "content": str | [{"type": "text", "text": ...}, ...]}]``; for a list the LAST
    assistant message is read (the only one in GRPO rollouts, where VLM-R1 reads ``completion[0]["content"]``).
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return content_text(completion.get("content"))
    if isinstance(completion, (list, tuple)):
        messages = [m for m in completion if isinstance(m, dict)]
        for message in reversed(messages):
            if message.get("role", "assistant") == "assistant":
                return content_text(message.get("content"))
        return content_text(messages[-1].get("content")) if messages else ""
    return ""


def completion_texts(completions: Sequence[object]) -> list[str]:
    """Return :func:`completion_text` of every completion."""
    return [completion_text(completion) for completion in completions]


def column(kwargs: dict[str, Any], name: str, n: int, reward: str) -> Sequence[Any]:
    """Return dataset column ``name`` from the reward kwargs, checked to hold one value per completion."""
    values = kwargs.get(name)
    if values is None:
        raise ConfigError(name, f"reward '{reward}' needs a dataset column '{name}' (one value per example)")
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ConfigError(
            name, f"reward '{reward}' expected a list for column '{name}', got {type(values).__name__}"
        )
    if len(values) != n:
        raise ConfigError(name, f"reward '{reward}' got {len(values)} values in '{name}' for {n} completions")
    return values


def check_number(key: str, value: object, *, positive: bool = False, finite: bool = True) -> float:
    """Return ``value`` as a float, or raise ConfigError naming ``key`` (bools and NaN are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(key, f"must be a number, got {value!r}")
    number = float(value)
    if finite and not math.isfinite(number):
        raise ConfigError(key, f"must be finite, got {value!r}")
    if positive and not number > 0:
        raise ConfigError(key, f"must be > 0, got {value!r}")
    return number


class Reward:
    """Base of geor1's reward callables: ``reward(completions, **columns) -> list[float | None]``.

    Instances are plain picklable objects (TRL's async rollout worker pickles reward functions) whose
    ``__name__`` is the short name TRL logs as ``rewards/<name>/mean``. ``None`` means "not applicable to
    this example" (TRL turns it into NaN and leaves it out of the weighted sum).
    """

    name = "reward"

    @property
    def __name__(self) -> str:  # type: ignore[override]
        return self.name

    def __call__(self, completions: Sequence[object], **kwargs: Any) -> list[float | None]:
        """Return one value per completion (``None`` where the reward does not apply)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"
