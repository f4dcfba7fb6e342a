"""End-to-end runs in subprocesses: GRPO on 2 CPU processes (accelerate, gloo) and kill + resume."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tiny_grpo_config(path: Path, model_dir: Path, data: Path, out: Path, **extra) -> Path:
    config = {
        "model_name_or_path": str(model_dir),
        "train_file": [str(data)],
        "output_dir": str(out),
        "reward_funcs": ["accuracy", "format", "length", "repetition"],
        "reward_options": {"length": {"max_len": 8}},
        "use_cpu": True,
        "bf16": False,
        "gradient_checkpointing": False,
        "per_device_train_batch_size": 4,
        "num_generations": 4,
        "max_completion_length": 8,
        "learning_rate": 1e-3,
        "beta": 0.0,
        "loss_type": "grpo",
        "logging_steps": 1,
        "save_strategy": "steps",
        "report_to": "none",
        "seed": 0,
    }
    config.update(extra)
    path.write_text(yaml.safe_dump(config))
    return path


def subprocess_env(threads: int) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS=str(threads))
    env.pop("WORLD_SIZE", None)
    return env


@pytest.mark.slow
def test_grpo_on_two_cpu_processes(tmp_path, tiny_model_dir, pairing_jsonl):
    from geor1.models import load_model

    out = tmp_path / "run"
    config = tiny_grpo_config(
        tmp_path / "c.yaml", tiny_model_dir, pairing_jsonl, out, max_steps=2, save_steps=2
    )
    accelerate = Path(sys.executable).with_name("accelerate")
    command = [
        str(accelerate),
        "launch",
        "--config_file",
        str(ROOT / "configs" / "accelerate" / "cpu_2proc.yaml"),
        "--num_processes",
        "2",
        "--main_process_port",
        str(free_port()),
        "-m",
        "geor1.cli",
        "grpo",
        str(config),
    ]
    done = subprocess.run(
        command, cwd=tmp_path, env=subprocess_env(1), capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((out / "ranks" / f"rank-{i}.json").read_text()) for i in range(2)]
    assert [r["process_index"] for r in ranks] == [0, 1]
    assert all(r["world_size"] == 2 and r["backend"] == "gloo" and r["global_step"] == 2 for r in ranks)
    assert all(r["device"].startswith("cpu") for r in ranks)
    assert load_model(out / "checkpoint-2").config.model_type == "qwen2_5_vl"
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # 2 processes x 4 completions: the logged reward means are over both ranks' 8 completions.
    assert [r["step"] for r in metrics if "reward" in r] == [1, 2]
    assert all(0.0 <= r["frac_reward_zero_std"] <= 1.0 for r in metrics if "reward" in r)


@pytest.mark.slow
def test_killed_grpo_run_resumes_to_the_same_step_count(tmp_path, tiny_model_dir, pairing_jsonl):
    out = tmp_path / "run"
    config = tiny_grpo_config(
        tmp_path / "c.yaml", tiny_model_dir, pairing_jsonl, out, max_steps=4, save_steps=2
    )
    command = [sys.executable, "-m", "geor1.cli", "grpo", str(config)]
    env = subprocess_env(1)
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    metrics = out / "metrics.jsonl"
    deadline = time.monotonic() + 180
    try:
        # Kill once the first checkpoint is complete and training has moved past it.
        while time.monotonic() < deadline and process.poll() is None:
            complete = (out / "checkpoint-2" / "trainer_state.json").exists()
            if complete and metrics.exists() and '"step": 3' in metrics.read_text():
                break
            time.sleep(0.05)
        assert process.poll() is None, (
            "the run ended before it could be killed: " + process.stderr.read()[-2000:]
        )
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (out / "ranks" / "rank-0.json").exists()

    resumed = subprocess.run(
        [*command, "--resume_from_checkpoint", "latest"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Traceback" not in resumed.stderr
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and state["max_steps"] == 4
    assert json.loads((out / "ranks" / "rank-0.json").read_text())["global_step"] == 4
    steps = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
    train_steps = [s for s in steps if s]
    assert train_steps[:-1] == list(range(1, 5))  # metrics follow the resumed history, no duplicates
