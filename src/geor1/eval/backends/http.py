"""OpenAI-compatible chat-completions backend (vLLM server, OpenAI, geor1's own server …).

Uses the official ``openai`` client: images go as base64 data URLs, requests run concurrently in a
bounded thread pool, and the client retries connection errors, 408/409/429 and 5xx answers with
exponential backoff (``max_retries``). The API key comes from ``api_key`` or else the environment variable
``api_key_env``; it is never part of the model id, and credentials in ``base_url`` are redacted from it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from geor1.errors import ConfigError, GeoR1Error
from geor1.eval.backends import Backend, GenerationFailure
from geor1.eval.fingerprint import sampling_seed
from geor1.eval.types import EvalExample, SamplingConfig
from geor1.images import image_data_url
from geor1.redact import redact_url, scrub_secret


def to_openai_messages(example: EvalExample) -> list[dict[str, Any]]:
    """Return the example's prompt in OpenAI's format, image blocks replaced by data-URL parts in order."""
    images = iter(example.images)
    messages = []
    for message in example.prompt:
        content = message.get("content")
        if isinstance(content, str):
            messages.append({"role": message["role"], "content": content})
            continue
        parts = []
        for block in content or []:
            if block.get("type") == "image":
                parts.append({"type": "image_url", "image_url": {"url": image_data_url(next(images))}})
            else:
                parts.append({"type": "text", "text": block.get("text") or ""})
        messages.append({"role": message["role"], "content": parts})
    return messages


class HTTPBackend(Backend):
    """Concurrent chat-completions requests with retries."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        max_retries: int = 5,
        timeout_s: float = 600.0,
    ):
        super().__init__(model)
        from openai import OpenAI

        if not base_url:
            raise ConfigError(
                "base_url", "the http backend needs the server's base URL (e.g. http://127.0.0.1:8000/v1)"
            )
        self.base_url = base_url
        self._key = api_key or os.environ.get(api_key_env) or ""
        # local servers (vLLM, geor1 serve) accept any key; the client insists on a non-empty one
        self.client = OpenAI(
            base_url=base_url, api_key=self._key or "EMPTY", max_retries=max_retries, timeout=timeout_s
        )
        self.concurrency = concurrency
        self.chunk_size = max(1, concurrency * 2)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="geor1-http")

    @property
    def model_id(self) -> str:
        """Return "model@base_url" (credentials in the URL redacted: the id is written to the generation
        cache and the results) so two servers with one model name never share cached answers."""
        return f"{self.model}@{redact_url(self.base_url)}"

    def _one(self, example: EvalExample, sampling: SamplingConfig) -> str:
        kwargs: dict[str, Any] = {"max_tokens": sampling.max_new_tokens, "temperature": sampling.temperature}
        if not sampling.greedy:
            kwargs.update(top_p=sampling.top_p, seed=sampling_seed(sampling, example))
        response = self.client.chat.completions.create(
            model=self.model, messages=to_openai_messages(example), **kwargs
        )
        return response.choices[0].message.content or ""

    def _safe_message(self, exc: BaseException) -> str:
        """Return the error text of ``exc`` without the API key or credentials of the base URL."""
        text = f"{type(exc).__name__}: {exc}"
        if self.base_url:
            text = text.replace(self.base_url, redact_url(self.base_url) or "")
        return scrub_secret(text, self._key)

    def _one_or_failure(self, example: EvalExample, sampling: SamplingConfig) -> str | GenerationFailure:
        import openai

        try:
            return self._one(example, sampling)
        # API errors left after the client's retries, unreadable images, malformed response bodies
        except (
            openai.APIError,
            GeoR1Error,
            OSError,
            LookupError,
            AttributeError,
            TypeError,
            ValueError,
        ) as exc:
            return GenerationFailure(self._safe_message(exc))

    def iter_generate(
        self, examples: Sequence[EvalExample], sampling: SamplingConfig
    ) -> Iterator[tuple[int, str | GenerationFailure]]:
        """Yield ``(index, completion or GenerationFailure)`` as requests finish, ``concurrency`` in flight;
        a request that still fails after its retries is a failure of its example, not of the call."""
        futures = {self._pool.submit(self._one_or_failure, e, sampling): i for i, e in enumerate(examples)}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()

    def generate(self, examples: Sequence[EvalExample], sampling: SamplingConfig) -> list[str]:
        """Return one completion per example (requests run ``concurrency`` at a time); GeoR1Error naming
        the example when one still fails after its retries."""
        out: list[str] = [""] * len(examples)
        for index, result in self.iter_generate(examples, sampling):
            if isinstance(result, GenerationFailure):
                raise GeoR1Error(f"example {examples[index].id}: {result.error}")
            out[index] = result
        return out

    def close(self) -> None:
        """Stop the thread pool and the HTTP client."""
        self._pool.shutdown(wait=True)
        self.client.close()
