"""Run ``geo-r1 demo`` for several seeds and print each seed's table, then the mean ± sd across seeds of
every model and of every paired difference (SFT+GRPO − SFT, GRPO-only − base) on each task.

A learning claim of the demo holds only if it holds across seeds: one seed's table is not the result.
Each seed runs in its own folder under ``--root`` (resumable: finished stages are skipped), with the
demo's default settings unless ``--set section.field=value`` says otherwise (the same for every seed).

    python benchmarks/demo_seeds.py --seeds 0 1 2 --root runs/demo_seeds
    python benchmarks/demo_seeds.py --seeds 0 1 2 --quick        # the --quick settings, minutes

The per-seed CIs are 95 % percentile bootstrap CIs over held-out examples (paired for differences);
the across-seed sd is the sample standard deviation of the per-seed values (n = number of seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

# (task, metric, label, percent?)
TASKS = (
    ("pairing", "accuracy", "pairing accuracy", True),
    ("geolocation", "geoscore", "geolocation GeoScore", False),
    ("chain", "accuracy", "place-chain accuracy", True),
)
DIFFERENCES = (("sft_grpo", "sft", "SFT+GRPO − SFT"), ("grpo", "base", "GRPO-only − base"))


def seed_results(root: Path, seed: int, overrides: list[str], quick: bool, workers: int) -> dict[str, Any]:
    """Run (or resume) the demo for one seed; return ``{"table", "deltas", "parsed", "seconds"}``."""
    from geor1.demo import DemoConfig, DemoPaths, run_demo
    from geor1.demo.config import MODELS
    from geor1.demo.report import comparison, load_eval_docs, paired_delta

    config = DemoConfig.from_overrides(overrides, quick=quick, out=root / f"seed{seed}", seed=seed)
    started = time.perf_counter()
    run_demo(config, workers=workers)
    paths = DemoPaths(config.out)
    docs = load_eval_docs(paths)
    table = comparison(config, docs)
    deltas: dict[str, dict[str, Any]] = {}
    for a, b, _label in DIFFERENCES:
        for task, metric, _l, _p in TASKS:
            deltas[f"{a}-{b}/{task}"] = paired_delta(
                docs.get(a, {}).get(task),
                docs.get(b, {}).get(task),
                metric,
                seed=seed,
                n_boot=config.eval.n_boot,
            )
    parsed = {}
    for name, _ in MODELS:
        metrics = (docs.get(name, {}).get("geolocation") or {}).get("metrics") or {}
        n, ok = metrics.get("n"), metrics.get("n_parsed")
        parsed[name] = ok / n if isinstance(n, int) and n and isinstance(ok, int) else None
    timings = (
        json.loads((paths.root / "timings.json").read_text())
        if (paths.root / "timings.json").exists()
        else {}
    )
    return {
        "table": table,
        "deltas": deltas,
        "parsed": parsed,
        "seconds": round(time.perf_counter() - started, 1),
        "timings": timings,
    }


def _fmt(value: float | None, percent: bool) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f}" if percent else f"{value:.0f}"


def _fmt_ci(entry: dict[str, Any] | None, percent: bool, signed: bool = False) -> str:
    if not entry or entry.get("value") is None:
        return "–"
    scale = 100 if percent else 1
    sign = "+" if signed else ""
    fmt = (lambda x: f"{scale * x:{sign}.1f}") if percent else (lambda x: f"{x:{sign}.0f}")
    ci = entry.get("ci")
    return fmt(entry["value"]) + (f" [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "")


def mean_sd(values: list[float]) -> tuple[float, float | None]:
    """Return the mean and the sample standard deviation (None for one value)."""
    mean = sum(values) / len(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else None)


def print_tables(results: dict[int, dict[str, Any]]) -> None:
    """Print every seed's table and the across-seed summary as Markdown."""
    from geor1.demo.config import MODELS

    for seed, result in results.items():
        print(f"\n### seed {seed} ({result['seconds']:.0f} s)\n")
        print("| model | " + " | ".join(label for _t, _m, label, _p in TASKS) + " | coordinates parsed |")
        print("|---|" + "---|" * (len(TASKS) + 1))
        for name, label in MODELS:
            cells = [_fmt_ci(result["table"].get(name, {}).get(task), pct) for task, _m, _l, pct in TASKS]
            share = result["parsed"].get(name)
            print(f"| {label} | " + " | ".join(cells) + f" | {'–' if share is None else f'{share:.0%}'} |")
        for a, b, label in DIFFERENCES:
            cells = [
                _fmt_ci(result["deltas"].get(f"{a}-{b}/{task}"), pct, signed=True)
                for task, _m, _l, pct in TASKS
            ]
            print(f"| **{label}** (paired) | " + " | ".join(cells) + " | |")
    seeds = list(results)
    print(f"\n### across seeds {seeds}: mean ± sd (pairing and chain in %, GeoScore in points)\n")
    print("| model | " + " | ".join(label for _t, _m, label, _p in TASKS) + " |")
    print("|---|" + "---|" * len(TASKS))
    for name, label in MODELS:
        cells = []
        for task, _m, _l, pct in TASKS:
            values = [(results[s]["table"].get(name, {}).get(task) or {}).get("value") for s in seeds]
            cells.append(_summary([v for v in values if v is not None], pct, signed=False))
        print(f"| {label} | " + " | ".join(cells) + " |")
    for a, b, label in DIFFERENCES:
        cells = []
        for task, _m, _l, pct in TASKS:
            values = [(results[s]["deltas"].get(f"{a}-{b}/{task}") or {}).get("value") for s in seeds]
            above = sum(
                1 for s in seeds if (results[s]["deltas"].get(f"{a}-{b}/{task}") or {}).get("ci", [0])[0] > 0
            )
            cells.append(
                _summary([v for v in values if v is not None], pct, signed=True)
                + f" (CI>0: {above}/{len(seeds)})"
            )
        print(f"| **{label}** | " + " | ".join(cells) + " |")


def _summary(values: list[float], percent: bool, signed: bool) -> str:
    if not values:
        return "–"
    mean, sd = mean_sd(values)
    scale = 100 if percent else 1
    sign = "+" if signed else ""
    digits = 1 if percent else 0
    text = f"{scale * mean:{sign}.{digits}f}"
    return text + (f" ± {scale * sd:.{digits}f}" if sd is not None else "")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--root", default="runs/demo_seeds", help="One folder per seed under it.")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    parser.add_argument("--quick", action="store_true", help="The --quick settings (a smoke run).")
    parser.add_argument("--workers", type=int, default=2, help="Stages at once within a seed's run.")
    parser.add_argument("--json", help="Also write every result to this JSON file.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root = Path(args.root)
    results = {s: seed_results(root, s, args.overrides, args.quick, args.workers) for s in args.seeds}
    print_tables(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
