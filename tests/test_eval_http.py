"""The OpenAI-compatible HTTP backend against a real local server, and resuming from the generation
cache after the eval process is SIGKILLed mid-run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai_server import FakeOpenAIServer  # noqa: E402
from geor1.cli import build_app  # noqa: E402
from geor1.errors import GeoR1Error  # noqa: E402
from geor1.eval.backends.http import HTTPBackend  # noqa: E402
from geor1.eval.examples import examples_from_task_file  # noqa: E402
from geor1.eval.fingerprint import sampling_seed  # noqa: E402
from geor1.eval.runner import EvalConfig, run_eval  # noqa: E402
from geor1.eval.types import SamplingConfig  # noqa: E402
from geor1.io import read_jsonl, write_jsonl  # noqa: E402
from geor1.records import user_prompt  # noqa: E402

_EXAMPLE = re.compile(r"Example (\S+) near \(([-\d.]+), ([-\d.]+)\)")


class ScriptedServer:
    """``POST /v1/chat/completions`` on 127.0.0.1: answers "<answer>(lat, lon)</answer>" about 0.1°
    off the coordinates named in the prompt; the first ``fail_first`` requests of each example get a
    500; every request is logged (example id, whether it had an image, status)."""

    def __init__(self, *, fail_first: int = 0, latency_s: float = 0.0):
        self.fail_first, self.latency_s = fail_first, latency_s
        self.log: list[tuple[str, bool, int]] = []
        self.auth: list[str] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                parts = body["messages"][-1]["content"]
                text = " ".join(p.get("text", "") for p in parts if p["type"] == "text")
                has_image = any(
                    p["type"] == "image_url" and p["image_url"]["url"].startswith("data:image/png;base64,")
                    for p in parts
                )
                match = _EXAMPLE.search(text)
                example = match.group(1) if match else "?"
                with server.lock:
                    server.auth.append(self.headers.get("Authorization", ""))
                    seen = sum(1 for e, _, _ in server.log if e == example)
                    status = 500 if seen < server.fail_first else 200
                    server.log.append((example, has_image, status))
                time.sleep(server.latency_s)
                if status == 500:
                    payload = {"error": {"message": "injected failure", "type": "server_error"}}
                else:
                    lat, lon = float(match.group(2)) + 0.1, float(match.group(3)) - 0.1
                    content = f"<think>looks like {example}</think><answer>({lat:.4f}, {lon:.4f})</answer>"
                    payload = {
                        "id": "cmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": content}}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }  # fmt: skip
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def url_with_user(self, userinfo: str) -> str:
        return self.base_url.replace("http://", f"http://{userinfo}@")

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def write_geolocation_tasks(folder: Path, n: int) -> Path:
    """Write ``n`` geolocation task examples whose prompt names their id and (rounded) coordinates."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        lat, lon = -60.0 + 7.0 * i, -170.0 + 13.0 * i
        Image.new("RGB", (16, 16), (10 * i % 256, 80, 160)).save(folder / "images" / f"g{i}.png")
        rows.append(
            {
                "id": f"g{i}",
                "task": "geolocation",
                "images": [f"images/g{i}.png"],
                "prompt": user_prompt(f"Example g{i} near ({lat:.1f}, {lon:.1f}). Where is this?", 1),
                "solution": f"({lat}, {lon})",
                "meta": {"lat": lat, "lon": lon},
            }
        )
    path = folder / "geolocation.jsonl"
    write_jsonl(path, rows)
    return path


def test_http_backend_concurrent_with_retries(tmp_path: Path) -> None:
    examples = examples_from_task_file(write_geolocation_tasks(tmp_path, 6), "geolocation")
    with ScriptedServer(fail_first=1) as server:
        backend = HTTPBackend("scripted", base_url=server.base_url, concurrency=3, max_retries=3)
        try:
            out = backend.generate(examples, SamplingConfig(max_new_tokens=32))
        finally:
            backend.close()
    assert len(out) == 6
    for e, completion in zip(examples, out, strict=True):
        assert f"looks like {e.id}</think>" in completion  # same order as the examples
    statuses = [s for _, _, s in server.log]
    assert statuses.count(500) == 6 and statuses.count(200) == 6  # each example failed once, then retried
    assert all(has_image for _, has_image, _ in server.log)


def test_cli_default_spelling_runs_http_eval_and_writes_report(tmp_path: Path) -> None:
    tasks = write_geolocation_tasks(tmp_path / "data", 5)
    with ScriptedServer() as server:
        result = CliRunner().invoke(
            build_app(),
            ["eval", "--model", "scripted", "--backend", "http", "--base-url", server.base_url,
             "--tasks", "geolocation", "--data", f"geolocation={tasks}", "--run", "r1",
             "--runs-dir", str(tmp_path / "runs"), "--concurrency", "2"],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "results: r1" in result.output and "acc@25km" in result.output  # the headline table, printed
    assert "1.000 [1.000, 1.000]" in result.output
    out = tmp_path / "runs/r1/eval"
    doc = json.loads((out / "geolocation.json").read_text())
    assert doc["metrics"]["n"] == 5 and doc["metrics"]["n_parsed"] == 5
    assert doc["metrics"]["acc_km"]["25"] == 1.0 and doc["metrics"]["acc_km"]["1"] == 0.0  # ~14 km off
    assert (out / "report.md").read_text().count("geolocation") >= 2
    for name in ("tasks_bar.png", "geolocation_cdf.png", "error_map.png"):
        assert (out / name).stat().st_size > 5_000, name
    table = CliRunner().invoke(build_app(), ["eval", "compare", "r1", "--runs-dir", str(tmp_path / "runs")])
    assert table.exit_code == 0 and "acc@25km" in table.output


def test_resume_after_sigkill_recomputes_nothing(tmp_path: Path) -> None:
    n = 14
    tasks = write_geolocation_tasks(tmp_path / "data", n)
    runs = tmp_path / "runs"
    cache = runs / "r/eval/generations.jsonl"
    with ScriptedServer(latency_s=0.15) as server:
        cmd = [sys.executable, "-m", "geor1.cli", "eval", "--model", "scripted", "--backend", "http",
               "--base-url", server.base_url, "--tasks", "geolocation", "--data", f"geolocation={tasks}",
               "--run", "r", "--runs-dir", str(runs), "--concurrency", "1", "--no-plots"]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline and (not cache.exists() or len(cache.read_text().splitlines()) < 4):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        before = {row["id"] for row in read_jsonl(cache)}
        assert 4 <= len(before) < n, "the kill must land mid-run"
        requests_before = len(server.log)
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        second_run = [e for e, _, _ in server.log[requests_before:]]
    rows = read_jsonl(cache)
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)) == n  # no duplicates, everything cached once
    assert not before & set(second_run), "cached examples were generated again"
    assert sorted(second_run) == sorted(set(ids) - before)
    doc = json.loads((runs / "r/eval/geolocation.json").read_text())
    assert doc["metrics"]["n_parsed"] == n


def files_text(folder: Path) -> str:
    return "".join(p.read_text(encoding="utf-8", errors="replace") for p in folder.rglob("*") if p.is_file())


def eval_http_args(base_url: str, tasks: Path, runs: Path, *extra: str) -> list[str]:
    return ["eval", "--model", "scripted", "--backend", "http", "--base-url", base_url, "--tasks", "geolocation",
            "--data", f"geolocation={tasks}", "--run", "r", "--runs-dir", str(runs), "--no-plots", *extra]  # fmt: skip


def test_api_key_from_the_named_env_var_reaches_the_server_and_no_file(tmp_path: Path, monkeypatch) -> None:
    secret = "sk-eval-env-0123456789"
    monkeypatch.setenv("GEOR1_EVAL_TEST_KEY", secret)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    tasks = write_geolocation_tasks(tmp_path / "data", 3)
    with ScriptedServer() as server:
        args = eval_http_args(
            server.base_url, tasks, tmp_path / "runs", "--api-key-env", "GEOR1_EVAL_TEST_KEY"
        )
        result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    assert set(server.auth) == {f"Bearer {secret}"}
    assert secret not in files_text(tmp_path / "runs") + result.output


def test_credentials_in_base_url_never_reach_the_results(tmp_path: Path) -> None:
    tasks = write_geolocation_tasks(tmp_path / "data", 3)
    with ScriptedServer() as server:
        base_url = server.url_with_user("evaluser:s3cret-Passw0rd")
        result = CliRunner().invoke(build_app(), eval_http_args(base_url, tasks, tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    out = tmp_path / "runs/r/eval"
    assert json.loads((out / "geolocation.json").read_text())["model_id"] == f"scripted@{server.base_url}"
    assert {row["model"] for row in read_jsonl(out / "generations.jsonl")} == {f"scripted@{server.base_url}"}
    text = files_text(tmp_path / "runs") + result.output
    assert "s3cret-Passw0rd" not in text and "evaluser" not in text


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("https://u:pw-secret@api.example.com/v1", "m@https://api.example.com/v1"),
        ("https://api.example.com/v1?key=q-secret", "m@https://api.example.com/v1?key=***"),
        (
            "https://h/v1?api-version=2024-06&api_key=q-secret",
            "m@https://h/v1?api-version=2024-06&api_key=***",
        ),
        ("http://127.0.0.1:8000/v1", "m@http://127.0.0.1:8000/v1"),
    ],
)
def test_http_model_id_redacts_url_credentials(url: str, want: str) -> None:
    backend = HTTPBackend("m", base_url=url, api_key="sk-direct-secret")
    try:
        assert backend.model_id == want
        assert "secret" not in backend.model_id
    finally:
        backend.close()


@pytest.mark.parametrize("backend", ["vllm"])
def test_vllm_backend_absent_gives_clear_message(backend: str) -> None:
    pytest.importorskip("openai")
    try:
        import vllm  # noqa: F401

        pytest.skip("vLLM is installed here")
    except ImportError:
        pass
    from geor1.errors import GeoR1Error
    from geor1.eval.backends import make_backend

    with pytest.raises(GeoR1Error, match="pip install 'geor1\\[vllm\\]'"):
        make_backend(backend, "some/model")


def test_http_sampling_sends_one_seed_per_example(tmp_path: Path) -> None:
    examples = examples_from_task_file(write_geolocation_tasks(tmp_path, 3), "geolocation")
    sampled = SamplingConfig(temperature=0.7, max_new_tokens=16, seed=5)
    with FakeOpenAIServer() as server:
        backend = HTTPBackend("fake", base_url=server.url, concurrency=1)
        try:
            backend.generate(examples, sampled)
            backend.generate(examples, SamplingConfig(max_new_tokens=16))
        finally:
            backend.close()
    seeds = [r.get("seed") for r in server.requests]
    assert seeds[:3] == [sampling_seed(sampled, e) for e in examples] and len(set(seeds[:3])) == 3
    assert seeds[3:] == [None] * 3  # greedy: no seed


def test_requests_failing_after_retries_are_recorded_and_retried_by_a_rerun(
    tmp_path: Path, monkeypatch
) -> None:
    secret = "sk-eval-echoed-0123456789"
    monkeypatch.setenv("GEOR1_EVAL_FAIL_KEY", secret)
    tasks = write_geolocation_tasks(tmp_path / "data", 5)
    runs = tmp_path / "runs"
    config = EvalConfig(model="fake", tasks=["geolocation"], data=[f"geolocation={tasks}"], run="r",
                        runs_dir=runs, backend="http", plots=False, n_boot=100)  # fmt: skip
    # one request at a time, in order: g0 429 then ok; g1 times out twice; g2 ok; g3 429 twice; g4 ok
    faults = ["429", "ok", "timeout", "timeout", "ok", "429", "429", "ok"]
    with FakeOpenAIServer(faults=faults, timeout_sleep_s=1.5, echo_auth=True) as server:
        backend = HTTPBackend("fake", base_url=server.url, api_key_env="GEOR1_EVAL_FAIL_KEY", concurrency=1,
                              max_retries=1, timeout_s=0.5)  # fmt: skip
        try:
            report = run_eval(config, backend=backend)
        finally:
            backend.close()
        assert server.outcomes["429"] == 3 and server.outcomes["timeout"] == 2
        port = server.port  # the rerun's server listens there too: the model id names the endpoint
    cache = runs / "r/eval/generations.jsonl"
    doc = json.loads((runs / "r/eval/geolocation.json").read_text())
    assert doc["metrics"]["n_failed"] == 2 and doc["metrics"]["n"] == 5
    errors = {r["id"]: r["error"] for r in doc["examples"] if "error" in r}
    assert set(errors) == {"g1", "g3"}
    assert "Timeout" in errors["g1"] and "429" in errors["g3"]
    assert "***" in errors["g3"]  # the key the server echoed back is scrubbed
    assert sorted(row["id"] for row in read_jsonl(cache)) == ["g0", "g2", "g4"]  # failures not cached
    assert "2 example(s) failed" in report.read_text()
    assert secret not in files_text(runs)

    with FakeOpenAIServer(port=port) as server:
        backend = HTTPBackend("fake", base_url=server.url, concurrency=2)
        try:
            run_eval(config, backend=backend)
        finally:
            backend.close()
        assert server.count == 2  # only the failed examples are asked again
    doc = json.loads((runs / "r/eval/geolocation.json").read_text())
    assert doc["metrics"]["n_failed"] == 0 and not any("error" in r for r in doc["examples"])
    assert sorted(row["id"] for row in read_jsonl(cache)) == ["g0", "g1", "g2", "g3", "g4"]


def test_generate_still_raises_with_the_example_named_and_the_key_scrubbed(tmp_path: Path) -> None:
    examples = examples_from_task_file(write_geolocation_tasks(tmp_path, 1), "geolocation")
    with FakeOpenAIServer(faults=["500", "500"], echo_auth=True) as server:
        backend = HTTPBackend("fake", base_url=server.url, api_key="sk-direct-0123456789", max_retries=1)
        try:
            with pytest.raises(GeoR1Error, match="example g0: InternalServerError") as info:
                backend.generate(examples, SamplingConfig(max_new_tokens=8))
        finally:
            backend.close()
    assert "sk-direct-0123456789" not in str(info.value) and "***" in str(info.value)
