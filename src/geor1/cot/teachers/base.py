"""The teacher interface: a teacher turns task examples into candidate chain-of-thought completions.

A teacher receives a batch of :class:`TeacherJob` (one example, one sample index, one seed) and yields a
:class:`TeacherResult` per job, in any order (HTTP teachers finish out of order). A result carries either
the raw completion text, or an ``error`` (a transient failure: the runner retries it later), or an
``abstain`` reason (the teacher cannot write a supported rationale for this example: a rejection),
written "cause: details" so runs can count abstentions by cause.
Teachers never raise for a single bad example.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class TeacherJob:
    """One request to a teacher: write sample ``sample`` for ``example`` with ``seed``."""

    example: dict[str, Any]
    sample: int
    seed: int
    attempt: int = 0

    @property
    def example_id(self) -> str:
        """Return the id of the example this job is for."""
        return str(self.example["id"])


@dataclass
class TeacherResult:
    """What a teacher returned for one job (exactly one of text / error / abstain is set)."""

    job: TeacherJob
    text: str | None = None
    error: str | None = None
    abstain: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    retries: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    latency_s: float = 0.0
    claims: list[Any] | None = None


class Teacher(Protocol):
    """A source of chain-of-thought completions."""

    name: str

    def generate(self, jobs: Sequence[TeacherJob]) -> Iterator[TeacherResult]:
        """Yield one TeacherResult per job, in any order."""
        ...

    def describe(self) -> dict[str, Any]:
        """Return a JSON-safe description of the teacher (name, model, settings; never secrets)."""
        ...

    def close(self) -> None:
        """Release clients, threads or models."""
        ...


def derive_seed(seed: int, example_id: str, sample: int) -> int:
    """Return a 63-bit seed that depends only on the run seed, the example id and the sample index."""
    digest = hashlib.blake2b(f"{seed}\x1f{example_id}\x1f{sample}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def rationalisation_hint(answer: str) -> str:
    """Return the instruction that gives the teacher the ground truth to rationalise, not to quote."""
    return (
        f"The correct final answer is {answer}. Write the reasoning that a careful expert would follow "
        "from the images to this answer: describe the visual cues, compare the views, bring in geographic "
        f"knowledge, and end with <answer>{answer}</answer>. Write as if you worked it out yourself: never "
        "mention that you were told or given the answer, and never mention a hint."
    )


TEACHER_SYSTEM_PROMPT = (
    "You are an expert in geography and remote sensing. You reason step by step about images of places: "
    "first the visual cues in each image (land cover, water, coastline, relief, vegetation, settlement), "
    "then the evidence across views (which cues agree or disagree), then geographic knowledge (climate "
    "zone, hemisphere, continent), and finally the answer. Put the reasoning inside <think> </think> and "
    "only the final answer inside <answer> </answer>."
)
