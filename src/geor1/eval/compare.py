"""``geo-r1 eval compare``: several runs side by side, one row per (task, headline metric), each cell the
value and its 95 % percentile-bootstrap CI recomputed from the per-example values in the runs'
``eval/<task>.json``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geor1.errors import GeoR1Error
from geor1.eval.report import format_value, headline_rows


def run_eval_dir(run: str, runs_dir: Path) -> Path:
    """Return the eval folder of a run given by name (under ``runs_dir``) or by path."""
    for candidate in (Path(run) / "eval", Path(run), Path(runs_dir) / run / "eval"):
        if candidate.is_dir() and any(candidate.glob("*.json")):
            return candidate
    raise GeoR1Error(f"run {run!r}: no eval results (looked in {run}/eval and {runs_dir}/{run}/eval)")


def load_run(eval_dir: Path) -> dict[str, dict[str, Any]]:
    """Return ``{task: document}`` of every ``<task>.json`` in an eval folder."""
    import json

    docs = {}
    for path in sorted(eval_dir.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise GeoR1Error(f"{path}: invalid JSON ({exc.msg})") from None
        if isinstance(doc, dict) and "task" in doc and "headline" in doc:
            docs[doc["task"]] = doc
    return docs


def comparison_rows(
    runs: Sequence[str], *, runs_dir: Path = Path("runs"), seed: int = 0, n_boot: int = 2000
) -> tuple[list[str], list[tuple[str, str, list[str]]]]:
    """Return ``(run names, [(task, metric, [cell per run])])``; a cell is "value [lo, hi]" or "–"."""
    names, per_run = [], []
    for run in runs:
        eval_dir = run_eval_dir(run, runs_dir)
        names.append(eval_dir.parent.name if eval_dir.name == "eval" else eval_dir.name)
        table = {}
        for task, doc in load_run(eval_dir).items():
            for row in headline_rows(doc, seed=seed, n_boot=n_boot):
                arrow = "↑" if row["higher_is_better"] else "↓"
                table[(task, f"{row['metric']} {arrow}")] = format_value(row["value"], row["ci"])
        per_run.append(table)
    keys: list[tuple[str, str]] = []
    for table in per_run:
        keys += [k for k in table if k not in keys]
    return names, [(task, metric, [t.get((task, metric), "–") for t in per_run]) for task, metric in keys]


def compare_runs(
    runs: Sequence[str], *, runs_dir: Path = Path("runs"), seed: int = 0, n_boot: int = 2000
) -> tuple[Any, str]:
    """Return ``(rich Table, markdown text)`` putting the runs side by side."""
    from rich.markup import escape
    from rich.table import Table

    names, rows = comparison_rows(runs, runs_dir=runs_dir, seed=seed, n_boot=n_boot)
    table = Table(title="geo-r1 eval compare (95 % bootstrap CI)")
    table.add_column("task")
    table.add_column("metric")
    for name in names:
        table.add_column(name, justify="right")
    md = ["| task | metric | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for task, metric, cells in rows:
        table.add_row(escape(task), escape(metric), *(escape(c) for c in cells))
        md.append(f"| {task} | {metric} | " + " | ".join(cells) + " |")
    return table, "\n".join(md) + "\n"
