"""Tuning experiments for ``geo-r1 demo``: run variants of the demo's settings and print a table of
config → held-out pairing accuracy and time.

Each variant is the demo's own pipeline (``geor1.demo``) with some ``DemoConfig`` settings overridden,
in its own folder (resumable: rerunning a variant skips what is done). ``--until`` stops early for cheap
probes: ``sft`` trains and evaluates the SFT model only (does scaffolding learn the matching at all? it
bounds what GRPO can start from), ``sft_grpo`` adds GRPO after SFT, ``all`` runs every stage.

    python benchmarks/demo_tuning.py --until sft --variant base: \\
        --variant px56:model.min_pixels=3136,model.max_pixels=3136 --variant deep:model.layers=4

Keys and values are those of ``geo-r1 demo --set`` (``sft.lr=1e-3``,
``grpo.reward_funcs=[accuracy,format]``), typed by the same parser. The table lists, per variant: pairing
accuracy of each trained model on held-out places with its 95 % bootstrap CI, wall and CPU seconds of the
training stages, and the 1-minute load average while they ran (the CPU is shared: CPU seconds estimate
the idle-machine wall time of these one-thread runs). Rows are also appended to ``--results`` (JSONL).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

UNTIL = {
    "sft": {"data", "model", "pretrain", "cot", "sft", "eval_base", "eval_sft"},
    "sft_grpo": {
        "data",
        "model",
        "pretrain",
        "cot",
        "sft",
        "sft_grpo",
        "eval_base",
        "eval_sft",
        "eval_sft_grpo",
    },
    "grpo": {"data", "model", "pretrain", "grpo", "eval_base", "eval_grpo"},
    "all": None,
}


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """Return (name, overrides) from ``name:section.field=value,…`` (a bare ``name:`` is the defaults);
    values stay text, typed when the config is built."""
    name, _, rest = text.partition(":")
    overrides: dict[str, Any] = {}
    depth, start = 0, 0
    parts = []
    for i, ch in enumerate(rest):  # split on commas outside brackets
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            parts.append(rest[start:i])
            start = i + 1
    parts.append(rest[start:])
    for part in filter(None, (p.strip() for p in parts)):
        key, sep, value = part.partition("=")
        if not sep:
            raise SystemExit(f"--variant {text!r}: {part!r} is not key=value")
        overrides[key.strip()] = value.strip()
    return name.strip() or "default", overrides


def accuracy_with_ci(eval_dir: Path, seed: int, n_boot: int) -> dict[str, Any] | None:
    """Return ``{"value", "ci", "n"}`` of held-out pairing accuracy in an eval folder, or None."""
    from geor1.demo.report import metric_with_ci

    path = eval_dir / "pairing.json"
    if not path.exists():
        return None
    return metric_with_ci(json.loads(path.read_text()), "accuracy", seed=seed, n_boot=n_boot)


def run_variant(name: str, overrides: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Run one variant up to ``args.until``; return its row."""
    from geor1.demo import DemoConfig, DemoPaths, run_demo
    from geor1.demo.pipeline import read_marker

    settings = dict(overrides)
    if args.until != "all":
        settings.setdefault("eval.tasks", "[pairing]")
    out = Path(args.root) / name
    maker = DemoConfig.quick_variant if args.quick else DemoConfig
    config = maker(out=out, seed=args.seed).with_values(settings)
    started = time.perf_counter()
    run_demo(config, only=UNTIL[args.until], force=args.force, workers=args.workers)
    paths = DemoPaths(out)
    row: dict[str, Any] = {"variant": name, "overrides": overrides, "seed": args.seed, "until": args.until}
    for model in ("base", "sft", "sft_grpo", "grpo"):
        row[f"acc_{model}"] = accuracy_with_ci(paths.eval_dir(model), config.seed, config.eval.n_boot)
    for stage in ("cot", "sft", "sft_grpo", "grpo"):
        marker = read_marker(paths, stage)
        if marker:
            row[f"{stage}_s"] = marker["seconds"]
            row[f"{stage}_cpu_s"] = marker["cpu_seconds"]
            row[f"{stage}_load"] = marker["load_start"]
            row[f"{stage}_summary"] = marker["summary"]
    row["wall_s_this_run"] = round(time.perf_counter() - started, 1)
    return row


def _fmt_acc(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("value") is None:
        return "–"
    lo, hi = entry["ci"] or (entry["value"], entry["value"])
    return f"{entry['value']:.3f} [{lo:.2f},{hi:.2f}]"


def print_table(rows: list[dict[str, Any]]) -> None:
    """Print the results as a Markdown table."""
    print()
    print(
        "| variant | overrides | SFT acc | SFT+GRPO acc | GRPO-only acc | SFT s (cpu) | GRPO s (cpu) | load |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        over = ", ".join(f"{k}={v}" for k, v in r["overrides"].items()) or "defaults"
        sft = f"{r.get('sft_s', 0):.0f} ({r.get('sft_cpu_s', 0):.0f})" if "sft_s" in r else "–"
        grpo = (
            f"{r.get('sft_grpo_s', 0):.0f} ({r.get('sft_grpo_cpu_s', 0):.0f})" if "sft_grpo_s" in r else "–"
        )
        load = r.get("sft_grpo_load", r.get("sft_load", "–"))
        print(
            f"| {r['variant']} | {over} | {_fmt_acc(r['acc_sft'])} | {_fmt_acc(r['acc_sft_grpo'])} | "
            f"{_fmt_acc(r['acc_grpo'])} | {sft} | {grpo} | {load} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", action="append", default=[], help="name:key=value,… (repeatable)")
    parser.add_argument("--until", choices=sorted(UNTIL), default="sft_grpo")
    parser.add_argument("--root", default="/tmp/demo_tuning", help="Folder of the variants' runs.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="Start from the --quick settings.")
    parser.add_argument("--force", action="store_true", help="Redo finished stages.")
    parser.add_argument("--workers", type=int, default=1, help="Stages at once (see geo-r1 demo --workers).")
    parser.add_argument("--results", default="/tmp/demo_tuning/results.jsonl")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows = []
    for text in args.variant or ["default:"]:
        name, overrides = parse_variant(text)
        row = run_variant(name, overrides, args)
        rows.append(row)
        Path(args.results).parent.mkdir(parents=True, exist_ok=True)
        with open(args.results, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({**row, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")
        print_table(rows)


if __name__ == "__main__":
    main()
