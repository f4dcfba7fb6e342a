"""HTTP teacher against a real chat-completions server on 127.0.0.1, through the official ``openai`` client:
injected 429/5xx/timeouts/broken bodies are retried and counted, malformed text is a rejection, the output
is complete, and the API key never reaches a file."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai_server import FakeOpenAIServer  # noqa: E402
from geor1.cot.filter import CotFilter, FilterConfig  # noqa: E402
from geor1.cot.runner import CotRunConfig, CotRunner, log_path_for  # noqa: E402
from geor1.cot.teachers.base import TeacherJob  # noqa: E402
from geor1.cot.teachers.http import HttpTeacher, HttpTeacherConfig, build_messages  # noqa: E402
from geor1.io import read_jsonl  # noqa: E402
from geor1.records import read_task_file  # noqa: E402

SECRET = "sk-test-0123456789-SECRET"


def teacher_for(server: FakeOpenAIServer, **overrides) -> HttpTeacher:
    settings = dict(
        model="fake-teacher",
        base_url=server.url,
        api_key_env="GEOR1_TEST_KEY",
        concurrency=4,
        timeout_s=0.5,
        max_retries=4,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
        price_input_per_mtok=2.0,
        price_output_per_mtok=8.0,
    )
    settings.update(overrides)
    return HttpTeacher(HttpTeacherConfig(**settings))


def subset(pairing_jsonl: Path, folder: Path, n: int, name: str = "tasks.jsonl") -> tuple[Path, list[dict]]:
    """Write the first ``n`` examples to ``folder/name`` with image paths relative to that folder."""
    examples = []
    for example in read_jsonl(pairing_jsonl)[:n]:
        images = [os.path.relpath(pairing_jsonl.parent / p, folder) for p in example["images"]]
        examples.append({**example, "images": images})
    path = folder / name
    path.write_text("".join(json.dumps(e) + "\n" for e in examples))
    return path, examples


@pytest.fixture
def secret_key(monkeypatch):
    monkeypatch.setenv("GEOR1_TEST_KEY", SECRET)
    return SECRET


def assert_secret_nowhere(folder: Path, capsys, caplog) -> None:
    """The key is in no file under ``folder``, nothing printed and no log record (any level)."""
    for path in folder.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(encoding="utf-8", errors="replace"), path
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert SECRET not in caplog.text
    assert not any(SECRET in str(r.args) for r in caplog.records)


def test_faults_are_retried_counted_and_the_output_is_complete(
    pairing_jsonl, tmp_path, secret_key, capsys, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    examples = read_jsonl(pairing_jsonl)
    faults = ["429", "500", "timeout", "503", "broken_json", "malformed", "429"]
    out = tmp_path / "cot.jsonl"
    with FakeOpenAIServer(latency_s=0.005, faults=faults, timeout_sleep_s=2.0, echo_auth=True) as server:
        teacher = teacher_for(server)
        try:
            config = CotRunConfig(samples_per_example=2, keep="first", retry_delay_s=0.0, progress=False)
            summary = CotRunner(teacher, CotFilter(FilterConfig(min_think_words=10)), config).run(
                pairing_jsonl, out
            )
        finally:
            teacher.close()
        outcomes = dict(server.outcomes)
        auth = list(server.auth_headers)
        requests = list(server.requests)

    # every example exactly once, each with a correct, well-formed completion
    records = read_jsonl(out)
    assert sorted(r["id"] for r in records) == sorted(e["id"] for e in examples)
    for record in records:
        content = record["completion"][0]["content"]
        assert content.endswith(f"<answer>{record['solution']}</answer>")
        assert record["teacher"] == {"name": "http", "model": "fake-teacher", "base_url": server.url}
        assert record["filter"]["keep"] is True
        assert all((out.parent / p).resolve().is_file() for p in record["images"])

    # the server saw every injected fault; the client retried and counted them
    for kind in ("429", "500", "503", "timeout", "broken_json", "malformed"):
        assert outcomes.get(kind, 0) >= 1, outcomes
    assert summary.faults["429"] == 2 and summary.faults["500"] == 1 and summary.faults["503"] == 1
    assert summary.faults["timeout"] == 1 and summary.faults["bad_response"] == 1
    assert summary.retries == 6
    assert summary.rejections == {"malformed": 1}
    assert summary.teacher_errors == 0 and summary.unfinished == 0
    assert summary.processed == len(examples) == summary.examples_with_kept
    assert (
        len(requests) == len(examples) + 7
    )  # one answered request per example, plus 6 faults and 1 resample

    # the request: system prompt, images as base64 data URLs in order, the hint with the right answer
    first = requests[0]["messages"]
    assert first[0]["role"] == "system"
    urls = [b["image_url"]["url"] for b in first[1]["content"] if b["type"] == "image_url"]
    assert len(urls) == 5 and all(u.startswith("data:image/png;base64,") for u in urls)
    assert any("The correct final answer is" in b.get("text", "") for b in first[1]["content"])

    # tokens and cost are accounted per sample and in total
    log = read_jsonl(log_path_for(out))
    samples = [e for e in log if e["event"] == "sample"]
    assert sum(e["prompt_tokens"] for e in samples) == summary.prompt_tokens > 0
    assert sum(e["completion_tokens"] for e in samples) == summary.completion_tokens > 0
    expected_cost = (summary.prompt_tokens * 2.0 + summary.completion_tokens * 8.0) / 1e6
    assert summary.cost == pytest.approx(expected_cost)
    assert log[-1]["event"] == "summary" and log[-1]["cost"] == pytest.approx(expected_cost, abs=1e-6)

    # the key went to the server (which echoed it in its error bodies), and nowhere else
    assert set(auth) == {f"Bearer {SECRET}"}
    assert_secret_nowhere(tmp_path, capsys, caplog)


def test_teacher_errors_are_recorded_and_retried_in_a_later_round(
    pairing_jsonl, tmp_path, secret_key, capsys, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    tasks, examples = subset(pairing_jsonl, tmp_path, 4)
    out = tmp_path / "out" / "cot.jsonl"
    # no client retries: each 500 fails the job at once; the runner asks again in the next round.
    # The server puts the request's Authorization header into its error body: the logged error is scrubbed.
    with FakeOpenAIServer(faults=["500"] * 6, echo_auth=True) as server:
        teacher = teacher_for(server, max_retries=0)
        try:
            config = CotRunConfig(error_rounds=3, retry_delay_s=0.0, progress=False)
            summary = CotRunner(teacher, CotFilter(FilterConfig(min_think_words=10)), config).run(tasks, out)
        finally:
            teacher.close()
    assert summary.teacher_errors == 6 and summary.faults["500"] == 6
    assert summary.unfinished == 0 and summary.examples_with_kept == 4
    errors = [e for e in read_jsonl(log_path_for(out)) if e["event"] == "error"]
    assert len(errors) == 6 and all("HTTP 500" in e["error"] for e in errors)
    assert all("request authorization: Bearer ***" in e["error"] for e in errors)
    assert_secret_nowhere(tmp_path, capsys, caplog)
    assert {e["attempt"] for e in errors} >= {0, 1}
    # images were relative to the task file's folder; in the output they are relative to the output's
    records = read_jsonl(out)
    assert sorted(r["id"] for r in records) == sorted(e["id"] for e in examples)
    for record in records:
        assert all((out.parent / p).resolve().is_file() for p in record["images"])


def test_exhausted_errors_leave_examples_unfinished_and_a_rerun_finishes_them(
    pairing_jsonl, tmp_path, secret_key
) -> None:
    tasks, examples = subset(pairing_jsonl, tmp_path, 3)
    out = tmp_path / "cot.jsonl"
    config = CotRunConfig(error_rounds=1, retry_delay_s=0.0, progress=False)
    with FakeOpenAIServer(faults=["500"] * 100) as server:
        teacher = teacher_for(server, max_retries=0)
        try:
            summary = CotRunner(teacher, CotFilter(FilterConfig(min_think_words=10)), config).run(tasks, out)
        finally:
            teacher.close()
    assert summary.unfinished == 3 and summary.teacher_errors == 6 and not out.read_text()
    with FakeOpenAIServer() as server:
        teacher = teacher_for(server)
        try:
            summary = CotRunner(teacher, CotFilter(FilterConfig(min_think_words=10)), config).run(tasks, out)
        finally:
            teacher.close()
    assert summary.unfinished == 0 and summary.records_written == 3
    assert sorted(r["id"] for r in read_jsonl(out)) == sorted(e["id"] for e in examples)


def test_bad_completions_are_rejections_by_reason(pairing_jsonl, tmp_path, secret_key) -> None:
    tasks, examples = subset(pairing_jsonl, tmp_path, 6)
    out = tmp_path / "cot.jsonl"
    with FakeOpenAIServer(faults=["duplicate", "duplicate", "leak", "wrong", "malformed", "ok"]) as server:
        teacher = teacher_for(server, concurrency=1)
        try:
            config = CotRunConfig(samples_per_example=1, progress=False)
            summary = CotRunner(teacher, CotFilter(FilterConfig(min_think_words=10)), config).run(tasks, out)
        finally:
            teacher.close()
    assert summary.rejections == {"near_duplicate": 1, "hint_leak": 1, "wrong_answer": 1, "malformed": 1}
    assert summary.records_written == 2 and summary.examples_without_kept == 4


def test_non_retryable_status_and_unreadable_images_do_not_crash(pairing_jsonl, tmp_path, secret_key) -> None:
    example = read_task_file(pairing_jsonl)[0].to_dict()  # as the runner gives it: absolute image paths
    missing = str(pairing_jsonl.parent / "images" / "missing.png")
    broken = {**example, "id": "broken", "images": [missing, *example["images"][1:]]}
    with FakeOpenAIServer() as server:
        teacher = teacher_for(server, base_url=server.url.replace("/v1", "/nope"))
        try:
            results = {
                r.job.example_id: r
                for r in teacher.generate([TeacherJob(example, 0, 1), TeacherJob(broken, 0, 2)])
            }
        finally:
            teacher.close()
    assert results[example["id"]].error.startswith("HTTP 404") and results[example["id"]].retries == 0
    assert results["broken"].abstain and "missing.png" in results["broken"].abstain


def test_build_messages_keeps_text_and_images_in_order(pairing_jsonl) -> None:
    example = read_task_file(pairing_jsonl)[0].to_dict()
    messages = build_messages(example)
    kinds = [b["type"] for b in messages[1]["content"]]
    assert kinds[:2] == ["text", "image_url"] and kinds.count("image_url") == len(example["images"])
    assert messages[1]["content"][-1]["text"].startswith(
        f"The correct final answer is {example['solution']}."
    )
    assert "never mention" in messages[1]["content"][-1]["text"]


def test_reasoning_model_parameters_are_chosen_by_the_user(pairing_jsonl, tmp_path, secret_key) -> None:
    example = read_task_file(pairing_jsonl)[0].to_dict()
    jobs = [TeacherJob(example, 0, 1)]
    with FakeOpenAIServer(reject_params=("max_tokens", "temperature")) as server:
        default = teacher_for(server)
        reasoning = teacher_for(server, max_tokens_param="max_completion_tokens", temperature=None)
        try:
            (rejected,) = list(default.generate(jobs))
            (accepted,) = list(reasoning.generate(jobs))
        finally:
            default.close()
            reasoning.close()
        requests = list(server.requests)
    assert (
        rejected.error.startswith("HTTP 400") and "max_tokens" in rejected.error
    )  # the default is unchanged
    assert requests[0]["max_tokens"] == 1024 and requests[0]["temperature"] == 0.7
    assert accepted.error is None and accepted.text.endswith(f"<answer>{example['solution']}</answer>")
    assert requests[1]["max_completion_tokens"] == 1024
    assert "max_tokens" not in requests[1] and "temperature" not in requests[1]


def test_cli_sends_the_chosen_token_parameter(pairing_jsonl, tmp_path, secret_key) -> None:
    from typer.testing import CliRunner

    from geor1.cli import build_app

    tasks, examples = subset(pairing_jsonl, tmp_path, 2)
    args = ["cot", "--input", str(tasks), "--out", str(tmp_path / "cot.jsonl"), "--teacher", "http",
            "--model", "fake", "--api-key-env", "GEOR1_TEST_KEY", "--min-words", "10", "--no-progress",
            "--max-tokens", "77"]  # fmt: skip
    with FakeOpenAIServer(reject_params=("max_tokens", "temperature")) as server:
        args += ["--base-url", server.url]
        result = CliRunner().invoke(
            build_app(), [*args, "--max-tokens-param", "max_completion_tokens", "--no-temperature"]
        )
        requests = list(server.requests)
    assert result.exit_code == 0, result.output
    assert len(read_jsonl(tmp_path / "cot.jsonl")) == len(examples)
    assert [r["max_completion_tokens"] for r in requests] == [77] * len(examples)
    assert not any("max_tokens" in r or "temperature" in r for r in requests)
    bad = CliRunner().invoke(build_app(), [*args, "--max-tokens-param", "max_new_tokens"])
    assert bad.exit_code == 2 and "error: option --max-tokens-param: must be one of" in bad.stderr


def test_cli_process_never_prints_or_writes_the_key(pairing_jsonl, tmp_path, secret_key) -> None:
    tasks, _ = subset(pairing_jsonl, tmp_path, 3)
    out = tmp_path / "cot.jsonl"
    env = {**os.environ, "GEOR1_TEST_KEY": SECRET, "OPENAI_LOG": "debug"}  # the client logs to stderr
    # every request fails with the key echoed back, and the run gives up: the errors reach the run log
    with FakeOpenAIServer(faults=["500"] * 100, echo_auth=True) as server:
        done = subprocess.run(
            [sys.executable, "-m", "geor1.cli", "cot", "--input", str(tasks), "--out", str(out),
             "--teacher", "http", "--model", "fake", "--base-url", server.url, "--api-key-env",
             "GEOR1_TEST_KEY", "--max-retries", "1", "--backoff", "0.01", "--error-rounds", "1",
             "--retry-delay", "0", "--no-progress"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        auth = set(server.auth_headers)
    # a run whose every teacher call failed is a failure: one error line with the cause, key scrubbed
    assert done.returncode == 2, done.stderr[-2000:]
    failed = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(failed) == 1 and "the teacher failed on every call (6 errors)" in failed[0], done.stderr
    assert "HTTP 500" in failed[0] and "Bearer ***" in failed[0]
    assert auth == {f"Bearer {SECRET}"}
    assert "teacher errors: 6" in done.stdout
    errors = [e["error"] for e in read_jsonl(log_path_for(out)) if e["event"] == "error"]
    assert len(errors) == 6 and all("Bearer ***" in e for e in errors)
    assert SECRET not in done.stdout + done.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(encoding="utf-8", errors="replace"), path
