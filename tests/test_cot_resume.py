"""Kill-and-resume: SIGKILL a ``geo-r1 cot`` process mid-run, rerun it, and find every id exactly once."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai_server import FakeOpenAIServer  # noqa: E402
from geor1.io import read_jsonl, write_jsonl  # noqa: E402
from geor1.records import user_prompt  # noqa: E402

N_EXAMPLES = 80
SAMPLES = 2


def write_tasks(folder: Path) -> Path:
    (folder / "img").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (8, 8), (40 * i, 90, 60)).save(folder / "img" / f"v{i}.png")
    rows = [
        {
            "id": f"ex{i:03d}",
            "task": "pairing",
            "images": [f"img/v{(i + j) % 3}.png" for j in range(3)],
            "prompt": user_prompt("Which candidate matches the query?", 3),
            "solution": "AB"[i % 2],
            "meta": {},
        }
        for i in range(N_EXAMPLES)
    ]
    path = folder / "tasks.jsonl"
    write_jsonl(path, rows)
    return path


def cot_command(tasks: Path, out: Path, base_url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "geor1.cli",
        "cot",
        "--input",
        str(tasks),
        "--out",
        str(out),
        "--teacher",
        "http",
        "--model",
        "fake",
        "--base-url",
        base_url,
        "--concurrency",
        "2",
        "--samples-per-example",
        str(SAMPLES),
        "--keep",
        "all",
        "--min-words",
        "10",
        "--retry-delay",
        "0",
        "--backoff",
        "0.02",
        "--no-progress",
    ]


def count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_sigkill_mid_run_then_rerun_gives_every_id_exactly_once(tmp_path) -> None:
    tasks = write_tasks(tmp_path / "data")
    out = tmp_path / "cot.jsonl"
    env = {**os.environ, "OPENAI_API_KEY": "sk-kill-test"}
    # error bodies echo the Authorization header back, as some proxies do
    with FakeOpenAIServer(
        latency_s=0.01, fault_rate=0.05, fault_kinds=("429", "500"), echo_auth=True
    ) as server:
        server.record_requests = False
        process = subprocess.Popen(
            cot_command(tasks, out, server.url), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while count_lines(out) < 40 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process.poll() is None, process.stderr.read().decode()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        killed_stderr = process.stderr.read().decode(errors="replace")
        process.stderr.close()
        written_before = count_lines(out)
        assert 40 <= written_before < N_EXAMPLES * SAMPLES  # killed mid-run

        rerun = subprocess.run(cot_command(tasks, out, server.url), env=env, capture_output=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr.decode()
        assert "already done before this run" in rerun.stdout.decode()

    records = read_jsonl(out)
    ids = [r["id"] for r in records]
    duplicates = [k for k, n in collections.Counter(ids).items() if n > 1]
    assert not duplicates
    assert set(ids) == {f"ex{i:03d}#{k}" for i in range(N_EXAMPLES) for k in range(SAMPLES)}
    # the run log judged each (example, sample) at most once across both runs
    judged = [
        (e["example_id"], e["sample"])
        for e in (json.loads(line) for line in (tmp_path / "cot.log.jsonl").read_text().splitlines())
        if e["event"] == "sample"
    ]
    assert len(judged) == len(set(judged))
    printed = killed_stderr + rerun.stdout.decode(errors="replace") + rerun.stderr.decode(errors="replace")
    assert "sk-kill-test" not in out.read_text() + (tmp_path / "cot.log.jsonl").read_text() + printed
