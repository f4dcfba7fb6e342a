"""GPU check of the real-size path: Qwen2.5-VL-3B at its full 36 text layers and 7B with LoRA, in bf16 on
CUDA, one SFT and one GRPO step each through geor1's trainers; prints step time, tokens/s and peak GPU
memory per stage.

    python benchmarks/gpu_check.py [--sizes 3b 7b] [--steps 2] [--json gpu.json]
    python benchmarks/gpu_check.py --wheels      # the packages to bring, one requirement a line

It needs only torch, transformers, accelerate and peft installed, plus the packages ``--wheels`` lists
(TRL, 🤗 datasets and the few others geor1's training path imports), installed from wheels without a
network (``pip install --no-index --find-links WHEELS ...``); geor1 itself is this checkout's ``src``.
Nothing is downloaded: the models are built with random weights by ``geor1.models.real`` (published
configs), the pairing prompt (a 1024×512 street-view query and 800×800 satellite candidates, resized to
the paper configs' pixel budget) is generated.

Runs, each stage in its own process (``python -m geor1.train.probe``) so each peak is its own:

- 3b, 36 text layers: ``sft-full``, ``sft-lora``, ``grpo`` (LoRA, β 0.04 against the adapter-disabled
  model), ``grpo-full`` (the paper's setting: full fine-tuning with a reference copy);
- 7b, 28 text layers: ``sft-lora``, ``grpo``.

The dtype is bfloat16 where the GPU supports it (the paper's), else float16. Each stage runs ``--steps``
steps and reports the last (the first pays one-off CUDA costs). Without a CUDA device it says so, skips
every run that needs one, and exits 0; ``--cpu-smoke`` then runs the same stages on a tiny model in
float32 on the CPU, to check the code path.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # this checkout's geor1, also when another one is installed

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PREINSTALLED = ("torch", "transformers", "accelerate", "peft")
# geor1's pins of the preinstalled packages (a GPU machine may have other builds: reported, not refused)
PINNED = {"transformers": "5.23.0", "accelerate": "1.15.0", "peft": "0.21.2"}
# (import name, requirement) of what geor1's training path imports beyond the preinstalled packages and
# their own dependencies: TRL and 🤗 datasets (with the dependencies datasets imports), Pillow (images),
# PyYAML (configs), SciPy (geor1.geo, through the rewards), rich (TRL's and geor1's console output).
WHEELS: tuple[tuple[str, str], ...] = (
    ("trl", "trl==1.16.0"),
    ("datasets", "datasets==5.2.0"),
    ("pyarrow", "pyarrow>=16"),
    ("dill", "dill"),
    ("multiprocess", "multiprocess"),
    ("xxhash", "xxhash"),
    ("pandas", "pandas>=2.2"),
    ("PIL", "pillow>=11"),
    ("yaml", "pyyaml>=6"),
    ("scipy", "scipy>=1.13"),
    ("rich", "rich>=13"),
)


@dataclass(frozen=True)
class Run:
    """One model size and the stages run on it."""

    size: str
    stages: tuple[str, ...]


PLAN: tuple[Run, ...] = (
    Run("3b", ("sft-full", "sft-lora", "grpo", "grpo-full")),
    Run("7b", ("sft-lora", "grpo")),
)
SMOKE_STAGES = ("sft-full", "sft-lora", "grpo")


@dataclass(frozen=True)
class DeviceInfo:
    """What the check runs on."""

    kind: str  # "cuda" or "cpu"
    name: str
    memory_bytes: int
    bf16: bool
    reason: str = ""  # why there is no CUDA device


def missing_packages() -> list[tuple[str, str]]:
    """Return the (import name, requirement) of every needed package that cannot be imported."""
    needed = [(name, name) for name in PREINSTALLED] + list(WHEELS)
    return [(name, req) for name, req in needed if importlib.util.find_spec(name) is None]


def detect_device(requested: str = "auto") -> DeviceInfo:
    """Return the CUDA device 0 when there is one (and ``requested`` is not "cpu"), else the CPU, with
    the reason there is no CUDA device."""
    import torch

    if requested != "cpu" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return DeviceInfo("cuda", props.name, int(props.total_memory), bool(torch.cuda.is_bf16_supported()))
    if requested == "cpu":
        reason = "--device cpu was asked for"
    elif torch.version.cuda is None:
        reason = f"this torch ({torch.__version__}) is a CPU-only build"
    else:
        reason = f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device"
    if requested == "cuda":
        raise SystemExit(f"error: --device cuda: {reason}")
    import platform

    return DeviceInfo("cpu", platform.processor() or platform.machine(), 0, False, reason)


def choose_dtype(device: DeviceInfo) -> str:
    """Return the dtype of the runs: bfloat16 (the paper's) on a GPU that has it, float16 on an older GPU,
    float32 for the CPU smoke run (the real-size CPU figures come from benchmarks/real_size.py)."""
    if device.kind == "cuda":
        return "bfloat16" if device.bf16 else "float16"
    return "float32"


def describe_plan(device: DeviceInfo, sizes: tuple[str, ...] | list[str] = ("3b", "7b")) -> list[str]:
    """Return one line per planned stage of the ``sizes`` asked for: what runs, or why it is skipped."""
    from geor1.models.real import PUBLISHED

    lines = []
    for run in PLAN:
        if run.size not in sizes:
            continue
        layers = PUBLISHED[run.size]["text"]["num_hidden_layers"]
        for stage in run.stages:
            what = f"{run.size} ({layers} text layers) {stage}"
            if device.kind == "cuda":
                lines.append(f"run  {what}")
            else:
                lines.append(f"skip {what}: needs a CUDA GPU ({device.reason})")
    return lines


def stage_command(stage: str, model: Path, data: Path, work: Path, device: str, dtype: str, cli) -> list[str]:
    """Return the command line of one probe stage."""
    command = [sys.executable, "-m", "geor1.train.probe", stage, "--model", str(model), "--data", str(data)]
    command += ["--out", str(work / f"run-{stage}"), "--json", str(work / f"{stage}.json")]
    command += ["--device", device, "--dtype", dtype, "--steps", str(cli.steps)]
    command += ["--num-generations", str(cli.completions), "--completion-tokens", str(cli.completion_tokens)]
    if cli.max_pixels:
        command += ["--max-pixels", str(cli.max_pixels)]
    return command


def run_stages(model: Path, data: Path, work: Path, stages, device: str, dtype: str, cli) -> list[dict]:
    """Run the stages one process each; return their results (or errors), printing a line per stage."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])])
    results = []
    for stage in stages:
        log = work / f"{stage}.log"
        start = time.perf_counter()
        with log.open("w") as handle:
            command = stage_command(stage, model, data, work, device, dtype, cli)
            code = subprocess.call(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
        result_path = work / f"{stage}.json"
        if code or not result_path.exists():
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            print(f"  {stage:9s} FAILED (exit {code}): {tail[0][:300]}  [log: {log}]")
            results.append({"stage": stage, "error": f"exit {code}", "log": str(log)})
            continue
        result = json.loads(result_path.read_text())
        result["process_seconds"] = time.perf_counter() - start
        results.append(result)
        gen = result["completion_tokens"] / result["generate_seconds"] if result["generate_seconds"] else 0.0
        audit = "ok" if not result["image_mismatches"] else "MISMATCH"
        print(
            f"  {stage:9s} step {result['step_seconds']:.2f} s, {result['tokens_per_second']:.0f} tokens/s "
            f"({result['tokens']} tokens, sequence {result['sequence_length']}, "
            f"{result['visual_tokens_per_prompt']} visual tokens/prompt)"
            + (
                f", generate {result['generate_seconds']:.2f} s ({gen:.1f} tokens/s)"
                if stage.startswith("grpo")
                else ""
            )
            + f", peak {result['peak_memory_kind']} {result['peak_memory_bytes'] / 2**30:.1f} GiB, image audit {audit}"
        )
    return results


def markdown_table(report: dict) -> str:
    """Return the figures as a Markdown table (for the README's GPU section)."""
    kind = "GPU" if report["device"]["kind"] == "cuda" else "RSS"
    rows = [
        f"| model | stage | step s | tokens/s | peak {kind} GiB | sequence | generate s |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in report["runs"]:
        for r in run["results"]:
            if "error" in r:
                rows.append(f"| {run['size']} ({run['layers']} layers) | {r['stage']} | failed | | | | |")
                continue
            rows.append(
                f"| {run['size']} ({run['layers']} layers) | {r['stage']} | {r['step_seconds']:.2f} | "
                f"{r['tokens_per_second']:.0f} | {r['peak_memory_bytes'] / 2**30:.1f} | {r['sequence_length']} | "
                f"{r['generate_seconds']:.2f} |"
            )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheels", action="store_true", help="print the requirements to bring as wheels")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--sizes", nargs="+", choices=("3b", "7b"), default=["3b", "7b"])
    parser.add_argument("--images", type=int, default=5, help="images per pairing prompt")
    parser.add_argument("--max-pixels", type=int, help="default: the paper configs' max_pixels")
    parser.add_argument("--completions", type=int, default=8, help="GRPO num_generations (the paper's 8)")
    parser.add_argument("--completion-tokens", type=int, default=64, help="GRPO max_completion_length")
    parser.add_argument("--steps", type=int, default=2, help="steps per stage; the last is reported")
    parser.add_argument("--workdir", type=Path, help="keep models, data and logs here (default: temporary)")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument(
        "--cpu-smoke", action="store_true", help="without CUDA: run the stages on a tiny model"
    )
    cli = parser.parse_args(argv)

    if cli.wheels:
        print("\n".join(req for _, req in WHEELS))
        return 0
    missing = missing_packages()
    if missing:
        names = " ".join(req for _, req in missing)
        print(
            f"error: missing packages: {', '.join(name for name, _ in missing)}. On a machine with a network: "
            f"pip download -d wheels {names}; here: pip install --no-index --find-links wheels {names}"
        )
        return 2
    import torch

    versions = {
        name: importlib.import_module(name).__version__ for name in PREINSTALLED + ("trl", "datasets")
    }
    notes = [
        f"{n} {v}" + (f" (geor1 pins {PINNED[n]})" if n in PINNED and PINNED[n] != v else "")
        for n, v in versions.items()
    ]
    print("packages: " + ", ".join(notes))
    device = detect_device(cli.device)
    dtype = choose_dtype(device)
    if device.kind == "cuda":
        print(
            f"device: cuda, {device.name}, {device.memory_bytes / 2**30:.0f} GiB, bf16 {device.bf16}: dtype {dtype}"
        )
    else:
        print(f"device: cpu ({device.name}); no CUDA device: {device.reason}")
    for line in describe_plan(device, cli.sizes):
        print(line)

    from geor1.train.probe import write_pairing_example

    report: dict = {"device": device.__dict__, "dtype": dtype, "versions": versions, "runs": []}
    failed = False
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        work = cli.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if device.kind != "cuda":
            if not cli.cpu_smoke:
                print(
                    "nothing run: every stage needs CUDA (--cpu-smoke runs them on a tiny model on this CPU)"
                )
                return 0
            from geor1.models import TinySpec, save_tiny_model

            model = save_tiny_model(TinySpec(arch="qwen2_5_vl"), work / "tiny")
            data = write_pairing_example(
                work / "data", n_images=2, query_size=(112, 56), candidate_size=(56, 56), think_words=8
            )
            cli.max_pixels = cli.max_pixels or 56 * 56
            print(f"cpu smoke: tiny qwen2_5_vl, {dtype}")
            results = run_stages(model, data, work, SMOKE_STAGES, "cpu", dtype, cli)
            report["runs"].append({"size": "tiny", "layers": TinySpec().layers, "results": results})
            failed = any("error" in r or r["image_mismatches"] for r in results)
        else:
            from geor1.models.real import PUBLISHED, RealSpec, save_real_model

            data = write_pairing_example(work / "data", n_images=cli.images)
            for run in PLAN:
                if run.size not in cli.sizes:
                    continue
                layers = PUBLISHED[run.size]["text"]["num_hidden_layers"]
                start = time.perf_counter()
                model = save_real_model(
                    RealSpec(size=run.size, dtype=dtype), work / f"model-{run.size}", device="cuda"
                )
                torch.cuda.empty_cache()
                print(
                    f"{run.size}: built and saved ({layers} text layers) in {time.perf_counter() - start:.0f} s"
                )
                (work / run.size).mkdir(exist_ok=True)
                results = run_stages(model, data, work / run.size, run.stages, "cuda", dtype, cli)
                report["runs"].append({"size": run.size, "layers": layers, "results": results})
                failed |= any("error" in r or r["image_mismatches"] for r in results)
        print(markdown_table(report))
        if cli.json:
            cli.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
