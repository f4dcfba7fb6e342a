"""Plain data types shared by eval tasks, backends, the generation cache and reports."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class EvalExample:
    """One prompt to answer: TRL conversational ``prompt`` with image blocks, absolute ``images`` (one per
    image block, in order), the ``solution`` to score against and task-specific ``meta``."""

    id: str
    prompt: list[dict[str, Any]]
    images: list[str]
    solution: Any
    meta: dict[str, Any] = field(default_factory=dict)
    source: str | None = None  # "file:line" of the task example it came from, for error messages


@dataclass(frozen=True)
class SamplingConfig:
    """Decoding settings; ``temperature == 0`` means greedy decoding."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int = 0

    @property
    def greedy(self) -> bool:
        """True when decoding is greedy (deterministic)."""
        return self.temperature <= 0.0

    def stream_seed(self, key: str) -> int:
        """Return the 31-bit seed of one sampling stream: the run seed mixed with ``key`` (stable across
        runs and machines; see ``geor1.eval.fingerprint.sampling_seed``)."""
        digest = hashlib.sha256(f"{self.seed}\x00{key}".encode()).digest()
        return int.from_bytes(digest[:4], "little") & (2**31 - 1)

    def settings_hash(self) -> str:
        """Return a short stable hash of the settings (the seed only matters when sampling)."""
        data = asdict(self)
        if self.greedy:
            data.pop("seed")
            data.pop("top_p")
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class TaskResult:
    """What a task's scoring returns.

    ``metrics`` is the JSON summary; ``headline`` lists the metrics compared across runs, each as
    ``{"metric": name, "values": per-example numbers (NaN allowed), "statistic": "mean"|"median",
    "higher_is_better": bool}`` so bootstrap CIs can be recomputed later; ``examples`` holds one record
    per example (id, parsed answer, verdict, and fields the plots need).
    """

    task: str
    metrics: dict[str, Any]
    headline: list[dict[str, Any]]
    examples: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready dict."""
        return asdict(self)
