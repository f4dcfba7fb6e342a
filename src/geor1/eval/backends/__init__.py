"""Generation backends behind one interface: ``generate(examples, sampling) -> list[str]`` (one
completion per example, same order). ``hf`` runs a local model with batched generation, ``http`` calls
any OpenAI-compatible chat-completions endpoint, ``vllm`` runs vLLM offline (optional extra, GPU)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from geor1.errors import GeoR1Error
from geor1.eval.types import EvalExample, SamplingConfig


@dataclass(frozen=True)
class GenerationFailure:
    """An example the backend could not answer (e.g. an HTTP request that failed after its retries);
    ``error`` is safe to write to disk (no API key)."""

    error: str


class Backend(ABC):
    """A text generator for evaluation prompts."""

    #: how many examples the runner hands over at once (and caches right after)
    chunk_size: int = 8

    def __init__(self, model: str):
        self.model = model

    @property
    def model_id(self) -> str:
        """Return the id that keys this model's cached generations."""
        return self.model

    @abstractmethod
    def generate(self, examples: Sequence[EvalExample], sampling: SamplingConfig) -> list[str]:
        """Return one completion per example (same order)."""

    def iter_generate(
        self, examples: Sequence[EvalExample], sampling: SamplingConfig
    ) -> Iterator[tuple[int, str | GenerationFailure]]:
        """Yield ``(index into examples, completion or GenerationFailure)`` once per example as each one
        finishes; the default generates them all with ``generate`` and yields them in order (a failure
        there is an exception)."""
        yield from enumerate(self.generate(examples, sampling))

    def close(self) -> None:
        """Release resources (threads, models); the default has none to release."""
        return None


def make_backend(name: str, model: str, **options: Any) -> Backend:
    """Return the backend called ``name`` ("hf", "http" or "vllm") for ``model``."""
    if name == "hf":
        from geor1.eval.backends.hf import HFBackend

        return HFBackend(model, batch_size=options.get("batch_size", 8))
    if name == "http":
        from geor1.eval.backends.http import HTTPBackend

        return HTTPBackend(
            model,
            base_url=options.get("base_url"),
            api_key=options.get("api_key"),
            api_key_env=options.get("api_key_env") or "OPENAI_API_KEY",
            concurrency=options.get("concurrency", 8),
        )
    if name == "vllm":
        from geor1.eval.backends.vllm import VLLMBackend

        return VLLMBackend(model, batch_size=options.get("batch_size", 64))
    raise GeoR1Error(f"unknown backend {name!r}; use hf, http or vllm")
