"""The FastAPI application: ``POST /v1/chat/completions`` (OpenAI-compatible), ``GET /`` page, ``GET /health``.

Limits: request body size (413), images per request and pixels per image (400/413), a request
timeout (504) and bounded concurrency: ``max_concurrency`` generations run at once, up to
``max_queue`` more wait, and anything past that gets 503 at once. An API key, when the environment
variable named by ``api_key_env`` is set, is required as ``Authorization: Bearer <key>``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from geor1.serve.page import index_html, world_map_jpeg
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
    max_concurrency: int = 1
    max_queue: int = 16
    api_key_env: str = "GEOR1_API_KEY"


def _error(
    status: int, message: str, param: str | None = None, code: str = "invalid_request_error"
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": {"message": message, "type": code, "param": param, "code": code}},
    )


class _Gate:
    """Admission control: at most ``running`` at once, ``queue`` waiting, the rest refused."""

    def __init__(self, running: int, queue: int):
        self._slots = asyncio.Semaphore(running)
        self._capacity = running + queue
        self._inside = 0
        self._lock = threading.Lock()

    def try_enter(self) -> bool:
        with self._lock:
            if self._inside >= self._capacity:
                return False
            self._inside += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._inside -= 1

    @property
    def slots(self) -> asyncio.Semaphore:
        return self._slots


def create_app(engine: ChatEngine, settings: ServeSettings | None = None) -> FastAPI:
    """Return the FastAPI app serving ``engine`` under ``settings``."""
    settings = settings or ServeSettings()
    app = FastAPI(title="geor1", version="0.1.0")
    gate = _Gate(settings.max_concurrency, settings.max_queue)
    api_key = os.environ.get(settings.api_key_env) or None
    # One generation at a time per engine: torch models are not safe to call from many threads at once.
    engine_lock = threading.Lock()

    def run_engine(request: ChatRequest) -> Generation:
        with engine_lock:
            return engine.generate(request)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.method == "POST":
            declared = request.headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > settings.max_body_bytes):
                return _error(413, f"request body over {settings.max_body_bytes} bytes", code="too_large")
            if api_key is not None:
                given = request.headers.get("authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
                    return _error(401, "missing or wrong API key", code="invalid_api_key")
        return await call_next(request)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": engine.model_name}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": engine.model_name, "object": "model", "owned_by": "geor1"}]}

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return index_html(engine.model_name)

    @app.get("/world.jpg")
    async def world() -> Response:
        return Response(world_map_jpeg(), media_type="image/jpeg", headers={"Cache-Control": "max-age=86400"})

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> JSONResponse:
        body_bytes = bytearray()
        async for chunk in request.stream():
            body_bytes.extend(chunk)
            if len(body_bytes) > settings.max_body_bytes:
                return _error(413, f"request body over {settings.max_body_bytes} bytes", code="too_large")
        try:
            body = json.loads(body_bytes or b"null")
        except ValueError:
            return _error(400, "request body is not valid JSON")
        try:
            parsed = parse_chat_request(
                body,
                max_images=settings.max_images,
                max_pixels=settings.max_pixels,
                max_tokens_limit=settings.max_tokens_limit,
                default_max_tokens=settings.default_max_tokens,
            )
        except RequestRejected as exc:
            return _error(exc.status, exc.message, exc.param, exc.code)
        if not gate.try_enter():
            return _error(503, "server busy: too many queued requests, retry later", code="server_busy")
        try:
            started = time.monotonic()

            async def admitted() -> Generation:
                async with gate.slots:
                    return await run_in_threadpool(run_engine, parsed)

            try:
                # On timeout the client gets 504 at once; a generation already running finishes in its thread.
                out = await asyncio.wait_for(admitted(), settings.request_timeout_s)
            except asyncio.TimeoutError:
                return _error(
                    504, f"generation took longer than {settings.request_timeout_s} s", code="timeout"
                )
        finally:
            gate.leave()
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": engine.model_name,
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
        )

    return app
