"""OpenAI-compatible HTTP teacher: any chat-completions endpoint (OpenAI, vLLM, Ollama, geor1's server).

Images go as base64 data URLs; the ground-truth answer goes as a hint for rationalisation. Requests run
concurrently on an asyncio loop in a background thread (``concurrency`` in flight at most), each with
a wall-clock timeout, retried with exponential backoff and jitter on 429, 5xx, timeouts, connection
errors and unreadable responses (``Retry-After`` is honoured). Faults are counted per kind; tokens and
cost are reported per request. The API key is read from the environment only and is scrubbed from
every error message this module returns.
"""

from __future__ import annotations

import asyncio
import os
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from geor1.cot.teachers.base import (
    TEACHER_SYSTEM_PROMPT,
    TeacherJob,
    TeacherResult,
    rationalisation_hint,
)
from geor1.errors import ConfigError, RecordError
from geor1.images import image_data_url
from geor1.redact import redact_url, scrub_secret

# How a request caps the completion: OpenAI's reasoning models reject ``max_tokens`` (HTTP 400) and take
# ``max_completion_tokens``; older servers (vLLM, Ollama) know only ``max_tokens``.
MAX_TOKENS_PARAMS = ("max_tokens", "max_completion_tokens")


@dataclass
class HttpTeacherConfig:
    """Settings of the HTTP teacher (prices in currency units per million tokens). ``temperature=None``
    sends none (reasoning models reject any but their default); ``max_tokens_param`` names the request
    field that carries ``max_tokens`` (one of ``MAX_TOKENS_PARAMS``)."""

    model: str
    base_url: str | None = None  # None: the client's default (OPENAI_BASE_URL or api.openai.com)
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    temperature: float | None = 0.7
    max_tokens: int = 1024
    max_tokens_param: str = "max_tokens"
    price_input_per_mtok: float = 0.0
    price_output_per_mtok: float = 0.0
    system_prompt: str = TEACHER_SYSTEM_PROMPT

    def __post_init__(self) -> None:
        if not self.model:
            raise ConfigError("model", "the HTTP teacher needs a model name")
        if self.concurrency < 1:
            raise ConfigError("concurrency", "must be at least 1")
        if self.timeout_s <= 0:
            raise ConfigError("timeout_s", "must be positive")
        if self.max_retries < 0:
            raise ConfigError("max_retries", "must be >= 0")
        if self.max_tokens_param not in MAX_TOKENS_PARAMS:
            raise ConfigError(
                "max_tokens_param",
                f"must be one of {', '.join(MAX_TOKENS_PARAMS)}, got {self.max_tokens_param!r}",
            )

    def sampling_params(self) -> dict[str, Any]:
        """Return the request's length cap under ``max_tokens_param`` and the temperature when set."""
        params: dict[str, Any] = {self.max_tokens_param: self.max_tokens}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        return params


# The same image is sent once per sample of an example: read and encode it once.
_cached_data_url = lru_cache(maxsize=512)(image_data_url)


def build_messages(
    example: dict[str, Any], system_prompt: str = TEACHER_SYSTEM_PROMPT
) -> list[dict[str, Any]]:
    """Return chat-completions messages for ``example`` (a task line with absolute image paths, as
    ``TaskExample.to_dict`` gives it): the system prompt, then the example's prompt with image blocks as
    data URLs in order, then the rationalisation hint with the example's solution."""
    images = iter(example.get("images") or [])
    content: list[dict[str, Any]] = []
    for message in example["prompt"]:
        blocks = message.get("content")
        if isinstance(blocks, str):
            content.append({"type": "text", "text": blocks})
            continue
        for block in blocks or []:
            if block.get("type") == "image":
                image = next(images, None)
                if image is None:
                    raise RecordError(
                        f"example {example.get('id')!r}: the prompt has more image blocks than images",
                        field="prompt",
                    )
                url = _cached_data_url(str(image))
                content.append({"type": "image_url", "image_url": {"url": url}})
            elif block.get("text"):
                content.append({"type": "text", "text": block["text"]})
    content.append({"type": "text", "text": rationalisation_hint(str(example["solution"]))})
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": content}]


class HttpTeacher:
    """Asks an OpenAI-compatible chat-completions endpoint, ``concurrency`` requests at a time."""

    name = "http"

    def __init__(self, config: HttpTeacherConfig):
        from openai import AsyncOpenAI

        self.config = config
        self._key = os.environ.get(config.api_key_env) or ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="http-teacher", daemon=True)
        self._thread.start()

        async def make_client() -> Any:
            # Local servers (vLLM, Ollama) accept any key; the client insists on a non-empty one.
            return AsyncOpenAI(
                api_key=self._key or "EMPTY",
                base_url=config.base_url,
                timeout=config.timeout_s,
                max_retries=0,  # retries are ours, so each fault is counted
            )

        self._client = asyncio.run_coroutine_threadsafe(make_client(), self._loop).result()
        self._semaphore = asyncio.Semaphore(config.concurrency)

    def describe(self) -> dict[str, Any]:
        """Return the teacher's name, model and endpoint (never the key)."""
        return {"name": self.name, "model": self.config.model, "base_url": redact_url(self.config.base_url)}

    def close(self) -> None:
        """Close the HTTP client and stop the event loop thread."""
        if not self._loop.is_running():
            return
        asyncio.run_coroutine_threadsafe(self._client.close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def generate(self, jobs: Sequence[TeacherJob]) -> Iterator[TeacherResult]:
        """Yield one result per job as the responses arrive."""
        results: queue.Queue[TeacherResult] = queue.Queue()
        futures = [asyncio.run_coroutine_threadsafe(self._guarded(job, results), self._loop) for job in jobs]
        try:
            for _ in futures:
                yield results.get()
        finally:
            for future in futures:
                future.cancel()

    def scrub(self, text: str) -> str:
        """Return ``text`` with the API key replaced by ``***``."""
        return scrub_secret(text, self._key)

    async def _guarded(self, job: TeacherJob, results: queue.Queue[TeacherResult]) -> None:
        try:
            result = await self._request(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or an unexpected client error must not hang the consumer
            result = TeacherResult(job, error=self.scrub(f"{type(exc).__name__}: {exc}"))
        results.put(result)

    async def _request(self, job: TeacherJob) -> TeacherResult:
        import openai

        config = self.config
        try:
            messages = build_messages(job.example, config.system_prompt)
        except (OSError, ValueError) as exc:
            return TeacherResult(job, abstain=f"unreadable input: {exc}")
        faults: Counter[str] = Counter()
        rng = random.Random(job.seed + job.attempt)
        last = ""
        for attempt in range(config.max_retries + 1):
            retry_after: float | None = None
            started = time.perf_counter()
            try:
                async with self._semaphore:
                    started = time.perf_counter()
                    response = await asyncio.wait_for(
                        self._client.chat.completions.create(
                            model=config.model,
                            # The messages are already plain JSON in the API's shape. Passed as ``messages``
                            # the client walks them through its TypedDict transform, ~5 ms per multi-image
                            # request (measured), which caps a run near 200 requests/s per core; in
                            # ``extra_body`` they are sent unchanged (it overrides the empty list).
                            messages=[],
                            extra_body={"messages": messages},
                            seed=job.seed % (2**31),
                            **config.sampling_params(),
                        ),
                        timeout=config.timeout_s,
                    )
                text = response.choices[0].message.content if response.choices else None
                usage = response.usage
                prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
                completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
                return TeacherResult(
                    job,
                    text=text if isinstance(text, str) else "",
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    cost=(
                        prompt_tokens * config.price_input_per_mtok
                        + completion_tokens * config.price_output_per_mtok
                    )
                    / 1e6,
                    retries=attempt,
                    faults=dict(faults),
                    latency_s=time.perf_counter() - started,
                )
            except (asyncio.TimeoutError, openai.APITimeoutError):
                kind = "timeout"
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status != 429 and status < 500 and status not in (408, 409):
                    faults[str(status)] += 1
                    return TeacherResult(
                        job,
                        error=self.scrub(f"HTTP {status}: {exc.message}"),
                        retries=attempt,
                        faults=dict(faults),
                    )
                kind = str(status)
                retry_after = _retry_after(exc)
                last = self.scrub(f"HTTP {status}: {exc.message}")
            except openai.APIConnectionError as exc:
                kind = "connection"
                last = self.scrub(f"{type(exc).__name__}: {exc}")
            except (
                openai.APIResponseValidationError,
                ValueError,
                TypeError,
                AttributeError,
                IndexError,
            ) as exc:
                kind = "bad_response"
                last = self.scrub(f"{type(exc).__name__}: {exc}")
            faults[kind] += 1
            if not last or kind == "timeout":
                last = f"{kind} after {time.perf_counter() - started:.1f}s"
            if attempt < config.max_retries:
                backoff = min(config.backoff_max_s, config.backoff_base_s * 2**attempt) * (
                    0.5 + rng.random() / 2
                )
                if retry_after is not None:
                    backoff = max(backoff, min(retry_after, config.backoff_max_s))
                await asyncio.sleep(backoff)
        return TeacherResult(
            job,
            error=f"gave up after {config.max_retries + 1} attempts; last: {last}",
            retries=config.max_retries,
            faults=dict(faults),
        )


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
