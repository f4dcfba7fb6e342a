"""The real-size path on this CPU: Qwen2.5-VL-3B widths, a 5-image pairing prompt at the paper's pixel
budget, one SFT step (full and LoRA) and one GRPO step, through geor1's trainers.

    python benchmarks/real_size.py [--size 3b] [--layers 4] [--images 5] [--json results.json]

1. ``geo-r1 model init --size SIZE --layers N`` builds a randomly initialised model: every published
   width and the whole vision tower (32 blocks, window attention, full-attention blocks 7/15/23/31), the
   text stack shortened to ``--layers`` so it fits this machine's memory and minutes.
2. One pairing example is written: a 1024×512 street-view panorama query and 800×800 satellite
   candidates (JPEG), each larger than the paper's pixel budget (``min_pixels``/``max_pixels`` of
   ``configs/sft_paper.yaml`` and ``grpo_paper.yaml``), so the processor resizes every image to it.
3. Each stage runs in its own process (``python -m geor1.train.probe STAGE``, so each peak RSS is the
   stage's own) with the paper config and one step: ``sft-full`` (forward + backward of every weight,
   stepped with plain SGD so no optimizer state is held), ``sft-lora`` (LoRA on the paper's target
   modules), ``grpo`` (β 0.04 with the adapter-disabled reference, ``--completions`` sampled completions
   of ``--completion-tokens`` tokens). Gradient checkpointing and bf16 as in the paper configs.

Prints visual tokens per prompt, sequence length, step seconds, tokens/s and peak RSS per stage, and the
image-token audit (image tokens in ``input_ids`` == features from the vision tower, on every forward that
carried images); exits 1 if a stage failed or the audit found a mismatch. ``--json`` keeps the figures.
Run it with ``nice`` (and ``--threads 1`` on a loaded machine): on a shared 2-core machine the defaults take
tens of minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # this checkout's geor1, also when another one is installed

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

STAGES = ("sft-full", "sft-lora", "grpo")


def paper_budget() -> tuple[int, int]:
    """Return the (min_pixels, max_pixels) the paper configs set (both configs must agree)."""
    from geor1.train.config import read_yaml_config

    budgets = {
        (cfg["min_pixels"], cfg["max_pixels"])
        for cfg in (read_yaml_config(ROOT / "configs" / f"{kind}_paper.yaml") for kind in ("sft", "grpo"))
    }
    if len(budgets) != 1:
        raise SystemExit(
            f"error: configs/sft_paper.yaml and grpo_paper.yaml disagree on the pixel budget: {budgets}"
        )
    return budgets.pop()


def child_env(threads: int = 0) -> dict[str, str]:
    """Return the environment of the child processes: this checkout's src first on PYTHONPATH and, when
    ``threads`` is set, that many OpenMP threads (torch's CPU threads, in the model build too)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])])
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def run_child(command: list[str], log: Path, threads: int = 0) -> tuple[int, float, int]:
    """Run a child process with its output in ``log``; return (exit code, wall seconds, the largest peak
    RSS of any child so far: the first child's own peak, as for the model build)."""
    start = time.perf_counter()
    with log.open("w") as handle:
        code = subprocess.call(command, stdout=handle, stderr=subprocess.STDOUT, env=child_env(threads))
    seconds = time.perf_counter() - start
    return code, seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="3b", choices=("3b", "7b"))
    parser.add_argument("--layers", type=int, default=4, help="text decoder layers (published: 36 / 28)")
    parser.add_argument(
        "--images", type=int, default=5, help="images per pairing prompt (query + candidates)"
    )
    parser.add_argument("--min-pixels", type=int, help="default: the paper configs' min_pixels")
    parser.add_argument("--max-pixels", type=int, help="default: the paper configs' max_pixels")
    parser.add_argument("--query-size", default="1024x512", help="query image WxH before resizing")
    parser.add_argument("--candidate-size", default="800x800", help="candidate image WxH before resizing")
    parser.add_argument("--think-words", type=int, default=60, help="words in the SFT completion's <think>")
    parser.add_argument("--completions", type=int, default=2, help="GRPO completions (num_generations)")
    parser.add_argument("--completion-tokens", type=int, default=16, help="GRPO max_completion_length")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--model", type=Path, help="reuse a folder built by geo-r1 model init")
    parser.add_argument(
        "--workdir", type=Path, help="keep the model, data and logs here (default: temporary)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads of the build and each stage (0: torch's default, one per core); on a "
        "loaded machine 1 is faster: threads of one operation wait for each other at every step",
    )
    parser.add_argument("--json", type=Path, help="write every figure here")
    cli = parser.parse_args()

    min_pixels, max_pixels = paper_budget()
    min_pixels = cli.min_pixels or min_pixels
    max_pixels = cli.max_pixels or max_pixels
    query = tuple(int(v) for v in cli.query_size.lower().split("x"))
    candidate = tuple(int(v) for v in cli.candidate_size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="real_size_") as tmp:
        work = cli.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        report: dict = {
            "size": cli.size,
            "layers": cli.layers,
            "images": cli.images,
            "min_pixels": min_pixels,
            "max_pixels": max_pixels,
            "stages": {},
        }
        model = cli.model
        if model is None:
            model = work / "model"
            command = [sys.executable, "-m", "geor1.cli", "model", "init", "--size", cli.size]
            command += ["--layers", str(cli.layers), "--out", str(model)]
            command += ["--min-pixels", str(min_pixels), "--max-pixels", str(max_pixels)]
            code, seconds, rss = run_child(command, work / "init.log", cli.threads)
            if code:
                print((work / "init.log").read_text()[-3000:])
                print(f"error: geo-r1 model init failed (exit {code})")
                return 1
            report["init"] = {"seconds": seconds, "peak_rss_bytes": rss}
            print(f"model init: {cli.size}, {cli.layers} text layers: {seconds:.1f} s, peak RSS {gib(rss)}")
        from geor1.train.probe import write_pairing_example

        data = write_pairing_example(
            work / "data",
            n_images=cli.images,
            query_size=query,
            candidate_size=candidate,
            think_words=cli.think_words,
        )
        failed = False
        for stage in cli.stages:
            result_path = work / f"{stage}.json"
            command = [sys.executable, "-m", "geor1.train.probe", stage, "--model", str(model)]
            command += ["--data", str(data), "--out", str(work / f"run-{stage}"), "--json", str(result_path)]
            command += ["--min-pixels", str(min_pixels), "--max-pixels", str(max_pixels)]
            command += [
                "--num-generations",
                str(cli.completions),
                "--completion-tokens",
                str(cli.completion_tokens),
            ]
            if cli.threads:
                command += ["--threads", str(cli.threads)]
            code, seconds, _ = run_child(command, work / f"{stage}.log", cli.threads)
            if code or not result_path.exists():
                print((work / f"{stage}.log").read_text()[-3000:])
                print(f"error: stage {stage} failed (exit {code})")
                report["stages"][stage] = {"error": f"exit {code}"}
                failed = True
                continue
            result = json.loads(result_path.read_text())
            result["process_seconds"] = seconds
            report["stages"][stage] = result
            audit = (
                "ok"
                if not result["image_mismatches"]
                else "MISMATCH " + "; ".join(result["image_mismatches"])
            )
            failed |= bool(result["image_mismatches"]) or result["image_calls"] == 0
            print(
                f"{stage:8s}: {result['visual_tokens_per_prompt']} visual tokens/prompt "
                f"({result['images_per_prompt']} images), sequence {result['sequence_length']} tokens, "
                f"{result['prompts']} prompt rows; step {result['step_seconds']:.1f} s "
                f"({result['step_cpu_seconds']:.1f} CPU s)"
                + (f" (generate {result['generate_seconds']:.1f} s)" if stage == "grpo" else "")
                + f", {result['tokens_per_second']:.1f} tokens/s; setup {result['setup_seconds']:.1f} s; "
                f"process {seconds:.1f} s; peak RSS {gib(result['peak_memory_bytes'])}; trainable "
                f"{result['trainable_parameters'] / 1e6:.1f}M of {result['total_parameters'] / 1e9:.3f}B; "
                f"image tokens == features on {result['image_calls']} image forwards: {audit}"
            )
        if cli.json:
            cli.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
