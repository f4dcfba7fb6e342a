"""Statistics of a task file: counts per task / question type / band / direction, answer-letter balance,
images per example, and a histogram of the negatives' distances to the query."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

# Histogram bin edges (km) for the negatives' distances; the last edge exceeds half the circumference.
DISTANCE_EDGES_KM = (0, 10, 50, 100, 300, 1000, 3000, 10000, 20100)


def summarize(examples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Return a JSON-serialisable summary of a list of task examples."""
    tasks: Counter[str] = Counter()
    meta_counts: dict[str, Counter[str]] = {
        k: Counter() for k in ("question_type", "band", "direction", "split")
    }
    pairs: Counter[str] = Counter()
    letters: dict[str, Counter[str]] = {}
    images: Counter[int] = Counter()
    negatives_km: list[float] = []
    for ex in examples:
        meta = ex.get("meta") or {}
        tasks[ex["task"]] += 1
        images[len(ex["images"])] += 1
        for key, counter in meta_counts.items():
            if key in meta:
                counter[str(meta[key])] += 1
        if "query_view" in meta and "candidate_view" in meta:
            pairs[f"{meta['query_view']} -> {meta['candidate_view']}"] += 1
        solution = str(ex["solution"])
        if len(solution) == 1 and solution.isalpha():
            group = ex["task"] + (f"/{meta['question_type']}" if "question_type" in meta else "")
            letters.setdefault(group, Counter())[solution] += 1
        distances = meta.get("distractor_km")
        if isinstance(distances, list):
            answer = meta.get("answer_index")
            negatives_km += [float(d) for j, d in enumerate(distances) if j != answer]
    return {
        "examples": len(examples),
        "tasks": dict(sorted(tasks.items())),
        **{f"{key}s": dict(sorted(c.items())) for key, c in meta_counts.items() if c},
        "view_pairs": dict(sorted(pairs.items())),
        "answer_letters": {g: dict(sorted(c.items())) for g, c in sorted(letters.items())},
        "images_per_example": {str(k): v for k, v in sorted(images.items())},
        "negatives_km_histogram": histogram(negatives_km, DISTANCE_EDGES_KM) if negatives_km else [],
        "negatives_km_range": [min(negatives_km), max(negatives_km)] if negatives_km else None,
    }


def histogram(values: Sequence[float], edges: Sequence[float]) -> list[tuple[float, float, int]]:
    """Return ``[(lo, hi, count)]`` per bin ``[lo, hi)`` (the last bin also holds ``hi``)."""
    counts = [0] * (len(edges) - 1)
    for v in values:
        for i in range(len(edges) - 1):
            if edges[i] <= v < edges[i + 1] or (i == len(edges) - 2 and v == edges[-1]):
                counts[i] += 1
                break
    return [(edges[i], edges[i + 1], counts[i]) for i in range(len(counts))]


def render(summary: dict[str, Any], console: Any, title: str = "") -> None:
    """Print ``summary`` with rich tables and a text histogram on ``console``."""
    from rich.table import Table

    console.print(
        f"[bold]{title}[/bold] {summary['examples']} examples" if title else f"{summary['examples']} examples"
    )
    for key in (
        "tasks",
        "question_types",
        "bands",
        "directions",
        "splits",
        "view_pairs",
        "images_per_example",
    ):
        values = summary.get(key)
        if not values:
            continue
        table = Table(title=key.replace("_", " "), title_justify="left")
        table.add_column(key.rstrip("s").replace("_", " "))
        table.add_column("count", justify="right")
        for name, count in values.items():
            table.add_row(str(name), str(count))
        console.print(table)
    if summary["answer_letters"]:
        all_letters = sorted({letter for c in summary["answer_letters"].values() for letter in c})
        table = Table(title="answer-letter balance", title_justify="left")
        table.add_column("task")
        for letter in all_letters:
            table.add_column(letter, justify="right")
        table.add_column("max-min", justify="right")
        for group, counts in summary["answer_letters"].items():
            row = [counts.get(letter, 0) for letter in all_letters]
            used = [c for c in counts.values()]
            table.add_row(group, *map(str, row), str(max(used) - min(used)))
        console.print(table)
    if summary["negatives_km_histogram"]:
        hist = summary["negatives_km_histogram"]
        peak = max(c for _, _, c in hist) or 1
        table = Table(title="negatives' distance to the query (km)", title_justify="left")
        table.add_column("range")
        table.add_column("count", justify="right")
        table.add_column("")
        for lo, hi, count in hist:
            table.add_row(f"{lo:g}-{hi:g}", str(count), "█" * round(40 * count / peak))
        console.print(table)
        lo, hi = summary["negatives_km_range"]
        console.print(f"negatives' distances span {lo:.1f} - {hi:.1f} km")
