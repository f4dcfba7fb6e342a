"""Steps/s, samples/s and peak memory per process of 1 vs 2 CPU processes, per backend (DDP, ZeRO-2, ZeRO-3).

    python benchmarks/scaling.py [--kind grpo|sft] [--steps 12] [--backends ddp,zero2,zero3] [--model DIR]

Every run is launched as users launch it, ``accelerate launch --config_file configs/accelerate/<x>.yaml
--num_processes N -m geor1.cli grpo|sft CONFIG`` (1 process of DDP is the plain single-process run), on the
tiny Qwen2.5-VL with the same per-process batch (GRPO: 2 prompts x 4 completions; SFT: 4 examples), so 2
processes do twice the samples per step. steps/s is measured between the first and the last logged step
(``metrics.jsonl`` timestamps), leaving out start-up and the first step; samples/s is steps/s times the
global batch. Peak RSS is each process's own high-water mark (``ranks/rank-<i>.json``). ``start-up`` is
the launch's wall time outside the measured steps (imports, model load, DeepSpeed init, saving).

FSDP is not run: accelerate 1.15 turns FSDP on only over GPU-type backends; on CPU processes it drops the
FSDP plugin (see tests/test_train_distributed.py::test_fsdp_is_not_available_on_cpu).

Each process gets one OpenMP thread (``--threads``): a 2-core machine runs two such processes side by
side, so 2 processes can at best double samples/s; on a shared machine the figures move with its load.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"ddp": "cpu_2proc", "zero2": "zero2_cpu", "zero3": "zero3_cpu"}


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_data(folder: Path, kind: str) -> Path:
    """Write 32 pairing examples (the GRPO benchmark's), with a CoT completion each for SFT."""
    sys.path.insert(0, str(Path(__file__).parent))
    from geor1.io import read_jsonl, write_jsonl
    from grpo_step import write_examples

    path = write_examples(folder, 32, 56)
    if kind == "sft":
        rows = read_jsonl(path)
        for row in rows:
            answer = row["solution"]
            text = f"<think>Candidate {answer} has the query's colour.</think><answer>{answer}</answer>"
            row["completion"] = [{"role": "assistant", "content": text}]
        write_jsonl(path, rows)
    return path


def run_config(kind: str, model: Path, data: Path, out: Path, steps: int) -> dict:
    """Return the geor1 config of one measured run."""
    config = {
        "model_name_or_path": str(model),
        "train_file": [str(data)],
        "output_dir": str(out),
        "use_cpu": True,
        "bf16": False,
        "gradient_checkpointing": False,
        "learning_rate": 1e-4,
        "lr_scheduler_type": "constant",
        "max_steps": steps,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "seed": 0,
    }
    if kind == "grpo":
        config.update(
            reward_funcs=["accuracy", "format", "length", "repetition"],
            reward_options={"length": {"max_len": 16}},
            per_device_train_batch_size=8,
            num_generations=4,
            max_completion_length=16,
            beta=0.04,
            loss_type="grpo",
        )
    else:
        config.update(per_device_train_batch_size=4, max_length=None)
    return config


def launch(command: list[str], log: Path, env: dict[str, str], timeout: float) -> float:
    """Run ``command`` in its own process group (killed on timeout); return its wall seconds."""
    started = time.monotonic()
    with open(log, "w") as handle:
        process = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise SystemExit(f"error: {' '.join(command)} ran past {timeout} s; log: {log}") from None
    if process.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} exited with {process.returncode}; log: {log}")
    return time.monotonic() - started


def measure(kind: str, backend: str, processes: int, model: Path, data: Path, work: Path, args) -> dict:
    """Launch one run and return its figures."""
    name = f"{kind}-{backend}-{processes}"
    out = work / name
    config = work / f"{name}.yaml"
    config.write_text(yaml.safe_dump(run_config(kind, model, data, out, args.steps)))
    if backend == "ddp" and processes == 1:
        command = [sys.executable, "-m", "geor1.cli", kind, str(config)]
    else:
        accelerate = Path(sys.executable).with_name("accelerate")
        command = [
            str(accelerate),
            "launch",
            "--config_file",
            str(ROOT / "configs" / "accelerate" / f"{CONFIGS[backend]}.yaml"),
            "--num_processes",
            str(processes),
            "--main_process_port",
            str(free_port()),
            "-m",
            "geor1.cli",
            kind,
            str(config),
        ]
    env = dict(
        os.environ, OMP_NUM_THREADS=str(args.threads), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false"
    )
    wall = launch(command, work / f"{name}.log", env, args.timeout)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = {r["step"]: r["time"] for r in records if "loss" in r and "train_runtime" not in r}
    first, last = min(steps), max(steps)
    steps_per_s = (last - first) / (steps[last] - steps[first])
    per_process = 8 if kind == "grpo" else 4
    ranks = [json.loads(p.read_text()) for p in sorted((out / "ranks").glob("rank-*.json"))]
    return {
        "backend": backend,
        "processes": processes,
        "steps_per_s": steps_per_s,
        "samples_per_s": steps_per_s * per_process * processes,
        "peak_rss_mib": [r["peak_rss_mib"] for r in ranks],
        "startup_s": wall - (last - first) / steps_per_s,
    }


def main() -> None:
    """Run the grid and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=["grpo", "sft"], default="grpo")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--backends", default="ddp,zero2,zero3")
    parser.add_argument("--model", type=Path, help="model folder (default: a fresh tiny Qwen2.5-VL)")
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads per process")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    from geor1.models import TinySpec, save_tiny_model

    with tempfile.TemporaryDirectory(prefix="geor1-scaling-") as tmp:
        work = Path(tmp)
        model = args.model or save_tiny_model(TinySpec(arch="qwen2_5_vl", seed=0), work / "tiny")
        data = write_data(work / "data", args.kind)
        rows = []
        for backend in args.backends.split(","):
            for processes in (1, 2):
                row = measure(args.kind, backend, processes, model, data, work, args)
                rows.append(row)
                print(f"# {json.dumps(row)}", flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    batch = "2 prompts x 4 completions" if args.kind == "grpo" else "4 examples"
    print(
        f"\n{args.kind}, tiny Qwen2.5-VL, {batch} per process, {args.threads} thread(s) per process, "
        f"{os.cpu_count()} cores, load average {load:.1f} at the end\n"
    )
    print(
        "| backend | processes | steps/s | samples/s | speed-up (samples/s) | peak RSS per process (MiB) | start-up (s) |"
    )
    print("|---|---|---|---|---|---|---|")
    base = {}
    for row in rows:
        base.setdefault(row["backend"], row["samples_per_s"])
        rss = ", ".join(f"{m:.0f}" for m in row["peak_rss_mib"])
        print(
            f"| {row['backend']} | {row['processes']} | {row['steps_per_s']:.3f} | {row['samples_per_s']:.2f} | "
            f"{row['samples_per_s'] / base[row['backend']]:.2f}x | {rss} | {row['startup_s']:.0f} |"
        )
    print("| fsdp | 1, 2 | not run: accelerate 1.15 does not shard on CPU processes | | | | |")


if __name__ == "__main__":
    main()
