"""``report.md`` for one run: a table per task of headline metrics with 95 % bootstrap CIs, the task's
full metrics, and the plots (``geor1.eval.plots``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geor1.eval.bootstrap import bootstrap_ci, point_estimate
from geor1.io import atomic_write_text


def headline_rows(doc: dict[str, Any], *, seed: int = 0, n_boot: int = 2000) -> list[dict[str, Any]]:
    """Return ``[{"metric", "statistic", "value", "ci", "n", "higher_is_better"}]`` for a task document's headline
    metrics (value and 95 % percentile-bootstrap CI of the statistic over per-example values)."""
    rows = []
    for h in doc.get("headline", []):
        values = [float("nan") if v is None else v for v in h["values"]]
        rows.append(
            {
                "metric": h["metric"],
                "statistic": h["statistic"],
                "value": point_estimate(values, h["statistic"]),
                "ci": bootstrap_ci(values, h["statistic"], n_boot=n_boot, seed=seed),
                "n": sum(v == v for v in values),
                "higher_is_better": h["higher_is_better"],
            }
        )
    return rows


def format_value(value: float | None, ci: tuple[float, float] | None = None) -> str:
    """Return "0.512 [0.43, 0.60]" style text (or "–" for no value)."""
    if value is None:
        return "–"
    fmt = (lambda x: f"{x:.3f}") if abs(value) < 10 else (lambda x: f"{x:,.0f}")
    return fmt(value) + (f" [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "")


def write_report(
    eval_dir: Path, docs: Sequence[dict[str, Any]], *, plots: bool = True, seed: int = 0, n_boot: int = 2000
) -> Path:
    """Write ``report.md`` (and the PNG plots when ``plots``) into ``eval_dir``; return the report path."""
    eval_dir = Path(eval_dir)
    images: list[Path] = []
    if plots:
        from geor1.eval.plots import make_plots

        images = make_plots(eval_dir, docs, seed=seed, n_boot=n_boot)
    lines = [f"# Evaluation report: {eval_dir.parent.name}", ""]
    if docs:
        d0 = docs[0]
        lines += [
            f"- model: `{d0['model']}` (backend `{d0['backend']}`)",
            f"- sampling: `{json.dumps(d0['sampling'])}`",
        ]
        lines += [f"- created: {d0['created']}", ""]
    lines += ["| task | metric | value [95 % CI] | n |", "|---|---|---|---|"]
    for doc in docs:
        for row in headline_rows(doc, seed=seed, n_boot=n_boot):
            arrow = "↑" if row["higher_is_better"] else "↓"
            lines.append(
                f"| {doc['task']} | {row['metric']} {arrow} | {format_value(row['value'], row['ci'])} | {row['n']} |"
            )
    lines.append("")
    for doc in docs:
        if doc["metrics"].get("n_failed"):
            lines += [f"**Warning — {doc['task']}: {doc['metrics']['n_failed']} example(s) failed to generate "
                      "(scored as unanswered; rerun the same command to retry them).**", ""]  # fmt: skip
    for doc in docs:
        lines += [
            f"## {doc['task']}",
            "",
            f"data: `{doc['data']}`",
            "",
            "```json",
            json.dumps(doc["metrics"], indent=2),
            "```",
            "",
        ]
    if images:
        lines += ["## Plots", ""]
        lines += [f"![{p.stem}]({p.name})" for p in images]
        lines.append("")
    return atomic_write_text(eval_dir / "report.md", "\n".join(lines))
