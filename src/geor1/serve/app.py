"""The FastAPI application: ``POST /v1/chat/completions`` (OpenAI-compatible), ``GET /`` page, ``GET /health``.

Limits: request body size (413), images per request and pixels per image (400/413), a request
timeout (504) and bounded concurrency. The one loaded model generates for one request at a time (a
torch model is not safe to call from several threads at once); up to ``max_queue`` more requests
wait their turn, and anything past that gets 503 at once, before its JSON or images are decoded.
Decoding and generation run in worker threads, so /health and other requests stay responsive.
After a 504 a generation already running cannot be interrupted: its request keeps its place in the
count until that thread ends, so the bound holds. An API key, when the environment variable named by
``api_key_env`` is set, is required as ``Authorization: Bearer <key>`` (scheme in any case) everywhere except the page, its
static files and ``/health`` (which says whether a key is required).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from geor1.serve.page import index_html, static_file, world_map_jpeg
from geor1.serve.requests import ChatRequest, RequestRejected, parse_chat_request


@dataclass
class Generation:
    """What an engine returns for one request."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"


class ChatEngine(Protocol):
    """Anything that answers one validated chat request (the HF engine in ``geor1.serve.engine``)."""

    model_name: str

    def generate(self, request: ChatRequest) -> Generation:
        """Return the model's answer to ``request``."""
        ...


@dataclass
class ServeSettings:
    """Server limits and identity."""

    max_body_bytes: int = 20 * 1024 * 1024
    max_images: int = 8
    max_pixels: int = 4096 * 4096
    max_tokens_limit: int = 2048
    default_max_tokens: int = 256
    request_timeout_s: float = 120.0
    max_queue: int = 16  # requests waiting while the model generates for another one
    api_key_env: str = "GEOR1_API_KEY"


def _error(
    status: int,
    message: str,
    param: str | None = None,
    code: str = "invalid_request_error",
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": {"message": message, "type": code, "param": param, "code": code}},
        headers=headers,
    )


def _bearer_token(header: str) -> str | None:
    """Return the token of an ``Authorization: Bearer <token>`` header (the scheme in any case, as
    RFC 9110 makes auth schemes case-insensitive), or None for any other header."""
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


_T = TypeVar("_T")
log = logging.getLogger(__name__)


class _Abandoned(Exception):
    """The client already got its 504; the request stops before generating."""


@dataclass
class _Job:
    """One admitted request: its task, whether a worker thread runs for it now, whether its client left."""

    task: asyncio.Task[Generation] | None = None
    in_thread: bool = False
    abandoned: bool = False


def _parse_body(body: bytes, settings: ServeSettings) -> ChatRequest:
    """Return the validated request in ``body`` (JSON, images decoded); raise RequestRejected otherwise."""
    try:
        data = json.loads(body or b"null")
    except ValueError:
        raise RequestRejected(400, "request body is not valid JSON") from None
    except RecursionError:  # nesting deeper than the parser follows: the client's fault, not a 500
        raise RequestRejected(400, "request body is nested too deeply") from None
    return parse_chat_request(
        data,
        max_images=settings.max_images,
        max_pixels=settings.max_pixels,
        max_tokens_limit=settings.max_tokens_limit,
        default_max_tokens=settings.default_max_tokens,
    )


def _consume_outcome(task: asyncio.Task[Generation]) -> None:
    """Retrieve a finished job's exception, so one whose client already left is not logged as lost."""
    exc = None if task.cancelled() else task.exception()
    if exc is not None and not isinstance(exc, (RequestRejected, _Abandoned)):
        log.error("request failed", exc_info=exc)


class _Scheduler:
    """Admission and turn-taking for one engine: one generation at a time, ``max_queue`` waiting, the rest 503.

    Every admitted request holds a place from admission until no worker thread runs for it any more.
    """

    def __init__(self, engine: ChatEngine, settings: ServeSettings):
        self._engine = engine
        self._settings = settings
        self._capacity = 1 + settings.max_queue
        self._inside = 0  # only touched on the event loop
        self._engine_lock = asyncio.Lock()
        # Threads in use never exceed admitted requests, so this pool never makes work wait.
        self._pool = ThreadPoolExecutor(max_workers=self._capacity, thread_name_prefix="geor1-serve")

    def admit(self, body: bytes) -> _Job | None:
        """Return the started job for ``body``, or None when the server is full (the caller answers 503)."""
        if self._inside >= self._capacity:
            return None
        self._inside += 1
        job = _Job()
        job.task = asyncio.get_running_loop().create_task(self._run(job, body))
        job.task.add_done_callback(_consume_outcome)
        return job

    async def result(self, job: _Job) -> Generation:
        """Return the job's Generation; on the request timeout abandon the job and raise TimeoutError."""
        assert job.task is not None
        try:
            return await asyncio.wait_for(asyncio.shield(job.task), self._settings.request_timeout_s)
        except asyncio.TimeoutError:
            job.abandoned = True
            if not job.in_thread:
                job.task.cancel()  # only waiting for its turn: nothing runs for it, its place is free now
            raise

    def close(self) -> None:
        """Stop accepting work in the thread pool (threads running finish on their own)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self, job: _Job, body: bytes) -> Generation:
        try:
            parsed = await self._in_thread(job, _parse_body, body, self._settings)
            if job.abandoned:
                raise _Abandoned
            async with self._engine_lock:
                if job.abandoned:
                    raise _Abandoned
                return await self._in_thread(job, self._engine.generate, parsed)
        finally:
            self._inside -= 1

    async def _in_thread(self, job: _Job, fn: Callable[..., _T], *args: Any) -> _T:
        # Never cancelled while the thread runs (see result()), so this returns only when the thread is done.
        job.in_thread = True
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            job.in_thread = False


def _completion(out: Generation, model_name: str, started: float) -> dict[str, Any]:
    """Return the OpenAI chat.completion object for ``out``."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": out.text},
                "finish_reason": out.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": out.prompt_tokens,
            "completion_tokens": out.completion_tokens,
            "total_tokens": out.prompt_tokens + out.completion_tokens,
        },
        "system_fingerprint": f"geor1-{time.monotonic() - started:.3f}s",
    }


OPEN_PATHS = frozenset({"/", "/health", "/world.jpg"})


def _is_open_path(path: str) -> bool:
    """Return whether ``path`` is served without the API key (the page, its static files, /health)."""
    return path in OPEN_PATHS or path.startswith("/static/")


async def _read_body(request: Request, limit: int) -> bytes | None:
    """Return the request body, or None as soon as it grows past ``limit`` bytes."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            return None
    return bytes(body)


def create_app(engine: ChatEngine, settings: ServeSettings | None = None) -> FastAPI:
    """Return the FastAPI app serving ``engine`` under ``settings``."""
    settings = settings or ServeSettings()
    scheduler = _Scheduler(engine, settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        scheduler.close()

    app = FastAPI(title="geor1", version="0.1.0", lifespan=lifespan)
    api_key = os.environ.get(settings.api_key_env) or None

    @app.middleware("http")
    async def limit_body(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.method == "POST":
            declared = request.headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > settings.max_body_bytes):
                return _error(413, f"request body over {settings.max_body_bytes} bytes", code="too_large")
        if api_key is not None and not _is_open_path(request.url.path):
            given = _bearer_token(request.headers.get("authorization", "")) or ""
            if not hmac.compare_digest(given.encode(), api_key.encode()):
                return _error(
                    401,
                    "missing or wrong API key",
                    code="invalid_api_key",
                    headers={"WWW-Authenticate": 'Bearer realm="geor1"'},
                )
        return await call_next(request)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": engine.model_name, "auth_required": api_key is not None}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": engine.model_name, "object": "model", "owned_by": "geor1"}]}

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return index_html(engine.model_name)

    @app.get("/world.jpg")
    async def world() -> Response:
        return Response(world_map_jpeg(), media_type="image/jpeg", headers={"Cache-Control": "max-age=86400"})

    @app.get("/static/{name:path}")
    async def static(name: str) -> Response:
        found = static_file(name)  # a fixed allow-list: the name is a key, never a filesystem path
        if found is None:
            return _error(404, "no such file", code="not_found")
        content, media_type = found
        return Response(content, media_type=media_type, headers={"Cache-Control": "max-age=86400"})

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> JSONResponse:
        started = time.monotonic()
        body = await _read_body(request, settings.max_body_bytes)
        if body is None:
            return _error(413, f"request body over {settings.max_body_bytes} bytes", code="too_large")
        job = scheduler.admit(body)
        if job is None:
            return _error(503, "server busy: too many queued requests, retry later", code="server_busy")
        try:
            out = await scheduler.result(job)
        except asyncio.TimeoutError:
            return _error(504, f"generation took longer than {settings.request_timeout_s} s", code="timeout")
        except RequestRejected as exc:
            return _error(exc.status, exc.message, exc.param, exc.code)
        except Exception:
            return _error(500, "the model failed to answer this request", code="server_error")
        return JSONResponse(_completion(out, engine.model_name, started))

    return app
