"""OpenAI-compatible chat-completions backend (vLLM server, OpenAI, geor1's own server …).

Uses the official ``openai`` client: images go as base64 data URLs, requests run concurrently in a
bounded thread pool, and the client retries connection errors, 408/409/429 and 5xx answers with
exponential backoff (``max_retries``). The API key comes from ``api_key`` or else the environment variable
``api_key_env``; it is never part of the model id, and credentials in ``base_url`` are redacted from it.
"""

from __future__ import annotations

import base64
import mimetypes
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from geor1.cot.teachers.http import redact_url
from geor1.errors import GeoR1Error
from geor1.eval.backends import Backend
from geor1.eval.fingerprint import sampling_seed
from geor1.eval.types import EvalExample, SamplingConfig


def image_data_url(path: str | Path) -> str:
    """Return the file as a ``data:<mime>;base64,…`` URL."""
    path = Path(path)
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    if not path.is_file():
        raise GeoR1Error(f"image file not found: {path}")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


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
            raise GeoR1Error("--backend http needs --base-url (e.g. http://127.0.0.1:8000/v1)")
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

    def generate(self, examples: Sequence[EvalExample], sampling: SamplingConfig) -> list[str]:
        """Return one completion per example; requests run ``concurrency`` at a time."""
        return list(self._pool.map(lambda e: self._one(e, sampling), examples))

    def close(self) -> None:
        """Stop the thread pool and the HTTP client."""
        self._pool.shutdown(wait=True)
        self.client.close()
