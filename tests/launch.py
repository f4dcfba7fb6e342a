"""Run ``accelerate launch`` jobs from tests: a timeout on every launch, the whole process group killed
when a launch fails or times out, and the failing worker's own error as the failure message."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE_CONFIGS = ROOT / "configs" / "accelerate"
# Tracebacks of the launcher itself, which only say that a worker failed.
LAUNCHER_ERRORS = ("ChildFailedError", "CalledProcessError")
RANK_PREFIX = re.compile(r"^\[rank\d+\]: ")


class LaunchFailed(AssertionError):
    """A launched job exited non-zero or ran past its timeout; the message holds the worker's error."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free now (the OS picks it, so parallel runs differ)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def subprocess_env(threads: int = 1) -> dict[str, str]:
    """Return the environment of a launched job: offline, ``threads`` OpenMP threads per process."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS=str(threads))
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def accelerate_command(config: str, *launch_args: str, port: int | None = None) -> list[str]:
    """Return ``accelerate launch --config_file configs/accelerate/<config>.yaml --main_process_port P …``
    (a free port unless given); append ``-m geor1.cli …`` or a script."""
    accelerate = Path(sys.executable).with_name("accelerate")
    return [
        str(accelerate),
        "launch",
        "--config_file",
        str(ACCELERATE_CONFIGS / f"{config}.yaml"),
        "--main_process_port",
        str(port or free_port()),
        *launch_args,
    ]


def worker_error(log: str) -> str:
    """Return the error a worker reported in a launch log: geor1's ``error:`` lines, else the first Python
    traceback that is not the launcher's own, else the log's tail."""
    # torch prefixes a worker's uncaught-exception lines with "[rankN]: "
    lines = [RANK_PREFIX.sub("", line) for line in log.splitlines()]
    errors = list(dict.fromkeys(line for line in lines if line.startswith("error:")))
    if errors:
        return "\n".join(errors)
    blocks = []
    for start, line in enumerate(lines):
        if not line.startswith("Traceback (most recent call last)"):
            continue
        end = start + 1
        while end < len(lines) and (lines[end].startswith(" ") or not lines[end].strip()):
            end += 1
        block = lines[start : end + 1]
        if not any(name in block[-1] for name in LAUNCHER_ERRORS):
            blocks.append(block)
    if not blocks:
        return log[-3000:]
    # the first traceback in the log is the root cause; the others are usually peers losing it
    others = [b[-1] for b in blocks[1:]]
    return "\n".join(blocks[0][-40:] + (["(other processes: " + " | ".join(others) + ")"] if others else []))


@dataclass
class Job:
    """One started launch: its process (leader of its own process group) and its log file."""

    command: list[str]
    process: subprocess.Popen
    log: Path

    def text(self) -> str:
        """Return what the job printed so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start(command: list[str], log: Path, *, cwd: Path, env: dict[str, str] | None = None) -> Job:
    """Start ``command`` in a new session (so its workers can be killed together), output into ``log``."""
    with open(log, "w") as handle:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env or subprocess_env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Job(command, process, log)


def kill(job: Job) -> None:
    """Kill the job's whole process group (the launcher and every worker it started)."""
    group = job.process.pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            job.process.poll()  # reap the leader so the group can empty
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
    if job.process.poll() is None:
        job.process.wait()


def finish(jobs: list[Job], timeout: float) -> None:
    """Wait for every job; if one fails or the timeout passes, kill them all and raise LaunchFailed with
    the failing worker's error. Leftover processes of finished jobs are killed too."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            failed = [j for j in jobs if j.process.poll() not in (None, 0)]
            if failed:
                job = failed[0]
                raise LaunchFailed(
                    f"launch exited with {job.process.returncode}: {' '.join(job.command[1:])}\n"
                    + worker_error(job.text())
                )
            if all(j.process.poll() == 0 for j in jobs):
                return
            if time.monotonic() > deadline:
                raise LaunchFailed(
                    f"launch ran past {timeout:.0f} s and was killed: {' '.join(jobs[0].command[1:])}\n"
                    + worker_error(jobs[0].text())
                )
            time.sleep(0.2)
    finally:
        for job in jobs:
            kill(job)


def launch(
    command: list[str], log: Path, *, cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> str:
    """Run one launch to the end (see ``finish``); return its log."""
    job = start(command, log, cwd=cwd, env=env)
    finish([job], timeout)
    return job.text()
