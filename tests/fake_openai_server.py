"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks (stdlib only).

``POST /v1/chat/completions`` answers with a rationale that ends in the answer named by the teacher's
hint ("The correct final answer is X."), after ``latency_s``. Faults can be scripted per request, in
order (``faults=["429", "500", "timeout", "malformed", ...]``), or drawn at random at ``fault_rate``:

- ``"429"``, ``"500"``, ``"503"``: that HTTP status with an OpenAI-style error body;
- ``"timeout"``: sleeps ``timeout_sleep_s`` before answering (the client should give up first);
- ``"malformed"``: HTTP 200 with a completion that is not ``<think>…</think><answer>…</answer>``;
- ``"wrong"``: a well-formed completion with a wrong answer;
- ``"leak"``: a well-formed completion that admits it was given the answer;
- ``"duplicate"``: the same completion text every time;
- ``"broken_json"``: HTTP 200 whose body is not JSON.

``echo_auth=True`` puts the request's ``Authorization`` header into the error messages (as some proxies
do), to check that clients scrub the key. ``reject_params=("max_tokens", …)`` answers 400 to a request
carrying any of them, as OpenAI's reasoning models do for ``max_tokens`` and ``temperature``.

Run standalone: ``python tests/fake_openai_server.py --latency 0.05`` prints ``PORT <n>`` and serves.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_HINT = re.compile(r"The correct final answer is (.+?)\. Write")
_WORDS = {
    "cue": "forest cropland grassland shrubland savanna wetland snowfield dune river lake bay delta ridge plateau "
    "valley floodplain reef lagoon estuary terrace canyon basin mesa tundra steppe marsh orchard".split(),
    "colour": "green brown ochre grey dark pale mottled bright olive tan rust blue-green sandy deep".split(),
    "verb": "shows matches mirrors repeats echoes contradicts lacks shares reflects displays".split(),
    "place": "coastal inland upland lowland arid humid temperate tropical northern southern".split(),
}


def scripted_completion(answer: str, rng: random.Random) -> str:
    """Return a well-formed, varied rationale ending in ``answer``."""
    w = _WORDS
    sentences = []
    for _ in range(rng.randint(5, 8)):
        sentences.append(
            f"The {rng.choice(w['colour'])} {rng.choice(w['cue'])} in one view {rng.choice(w['verb'])} the "
            f"{rng.choice(w['colour'])} {rng.choice(w['cue'])} of a {rng.choice(w['place'])} scene near "
            f"{rng.choice(w['cue'])} {rng.randint(1, 999)}."
        )
    return f"<think>{' '.join(sentences)} Hence {answer}.</think><answer>{answer}</answer>"


class FakeOpenAIServer:
    """A chat-completions server on a background thread; use as a context manager."""

    def __init__(
        self,
        latency_s: float = 0.0,
        faults: list[str] | None = None,
        fault_rate: float = 0.0,
        fault_kinds: tuple[str, ...] = ("429", "500", "timeout", "malformed"),
        timeout_sleep_s: float = 3.0,
        seed: int = 0,
        port: int = 0,
        echo_auth: bool = False,
        reject_params: tuple[str, ...] = (),
    ):
        self.latency_s = latency_s
        self.script = list(faults or [])
        self.fault_rate = fault_rate
        self.fault_kinds = fault_kinds
        self.timeout_sleep_s = timeout_sleep_s
        self.echo_auth = echo_auth
        self.reject_params = reject_params
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.outcomes: Counter[str] = Counter()
        self.auth_headers: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.record_requests = True
        self.count = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle on, the body waits for the client's
            # delayed ACK (~40 ms) on every keep-alive request.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                    return
                status, payload = server.handle(json.loads(body), self.headers.get("Authorization", ""))
                if isinstance(payload, bytes):
                    self._send_raw(status, payload, "application/json")
                else:
                    self._send(status, payload)

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                self._send_raw(status, json.dumps(payload).encode(), "application/json")

            def _send_raw(self, status: int, data: bytes, content_type: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    if status == 429:
                        self.send_header("Retry-After", "0")
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout fault)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self._httpd = Server(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """Return the TCP port the server listens on."""
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Return the base URL for an OpenAI client (``…/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        """Start serving in a background thread; return self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next_behaviour(self) -> tuple[str, random.Random]:
        with self.lock:
            self.count += 1
            if self.script:
                kind = self.script.pop(0)
            elif self.fault_rate and self.rng.random() < self.fault_rate:
                kind = self.rng.choice(self.fault_kinds)
            else:
                kind = "ok"
            self.outcomes[kind] += 1
            return kind, random.Random(self.rng.random())

    def handle(self, request: dict[str, Any], authorization: str) -> tuple[int, dict[str, Any] | bytes]:
        """Return (status, JSON payload or raw bytes) for one chat-completions request."""
        kind, rng = self._next_behaviour()
        with self.lock:
            self.auth_headers.append(authorization)
            if self.record_requests:
                self.requests.append(request)
        time.sleep(self.latency_s)
        rejected = [p for p in self.reject_params if p in request]
        if rejected:
            message = f"Unsupported parameter: '{rejected[0]}' is not supported with this model."
            return 400, {"error": {"message": message, "type": "invalid_request_error", "param": rejected[0]}}
        if kind in ("429", "500", "503"):
            message = f"injected {kind}" + (
                f" (request authorization: {authorization})" if self.echo_auth else ""
            )
            return int(kind), {"error": {"message": message, "type": "server_error", "code": kind}}
        if kind == "timeout":
            time.sleep(self.timeout_sleep_s)
        if kind == "broken_json":
            return 200, b'{"id": "chatcmpl-x", "choices": [ {"message": '
        texts = [
            block.get("text", "")
            for message in request.get("messages", [])
            if isinstance(message.get("content"), list)
            for block in message["content"]
            if block.get("type") == "text"
        ]
        hint = _HINT.search(" ".join(texts))
        answer = hint.group(1) if hint else "A"
        if kind == "malformed":
            content = "I think it is probably " + answer + " but I am not sure"
        elif kind == "wrong":
            content = scripted_completion("Z" if answer != "Z" else "Y", rng)
        elif kind == "leak":
            content = scripted_completion(answer, rng).replace("<think>", "<think>I was told the answer. ", 1)
        elif kind == "duplicate":
            content = scripted_completion(answer, random.Random(0))
        else:
            content = scripted_completion(answer, rng)
        prompt_tokens = sum(len(t.split()) for t in texts) + 100 * sum(
            1
            for message in request.get("messages", [])
            if isinstance(message.get("content"), list)
            for block in message["content"]
            if block.get("type") == "image_url"
        )
        completion_tokens = len(content.split())
        return 200, {
            "id": f"chatcmpl-{self.count}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "fake"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def main() -> None:
    """Serve until killed; print ``PORT <n>`` first."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    server = FakeOpenAIServer(
        latency_s=args.latency, fault_rate=args.fault_rate, seed=args.seed, port=args.port
    )
    server.record_requests = False
    print(f"PORT {server.port}", flush=True)
    server._httpd.serve_forever()


if __name__ == "__main__":
    main()
