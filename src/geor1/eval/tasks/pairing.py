"""Cross-view pairing: which candidate shows the query's place? Accuracy overall, per band, per direction."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from geor1.eval.examples import examples_from_task_file
from geor1.eval.metrics import pairing_metrics
from geor1.eval.tasks import EvalTask, limit_examples, register_task
from geor1.eval.types import EvalExample, TaskResult
from geor1.judge import judge


def n_options(example: EvalExample) -> int:
    """Return the number of answer options of a pairing example (its candidates)."""
    if isinstance(example.meta.get("k"), int) and example.meta["k"] > 0:
        return int(example.meta["k"])
    coords = example.meta.get("candidate_coords")
    if isinstance(coords, list) and coords:
        return len(coords)
    return max(1, len(example.images) - 1)


def direction(example: EvalExample) -> str | None:
    """Return the "query→candidate" view kinds of a pairing example (else its ``direction`` meta)."""
    meta = example.meta
    if meta.get("query_view") and meta.get("candidate_view"):
        return f"{meta['query_view']}→{meta['candidate_view']}"
    return str(meta["direction"]) if meta.get("direction") else None


@register_task
class PairingTask(EvalTask):
    """Pairing examples from the data layer (task "pairing" in a task-example JSONL)."""

    name = "pairing"
    description = "cross-view pairing: letter accuracy overall, per difficulty band, per direction"
    data_patterns = ("*pairing*.jsonl",)

    def load(self, source: Path, *, limit: int | None = None, seed: int = 0) -> list[EvalExample]:
        """Return the pairing examples of a task-example JSONL."""
        return limit_examples(examples_from_task_file(source, "pairing"), limit, seed)

    def score(self, examples: Sequence[EvalExample], completions: Sequence[str]) -> TaskResult:
        """Return accuracy overall (lenient and strict), by band and by direction (unparseable answers count
        wrong)."""
        pairs = list(zip(examples, completions, strict=True))
        lenient = [judge(c, e.solution, require_tags=False, n_options=n_options(e)) for e, c in pairs]
        strict = [judge(c, e.solution, require_tags=True, n_options=n_options(e)) for e, c in pairs]
        bands = [e.meta.get("band") for e in examples]
        dirs = [direction(e) for e in examples]
        metrics = pairing_metrics(lenient, strict, bands, dirs)
        metrics["chance"] = sum(1.0 / n_options(e) for e in examples) / len(examples) if examples else None
        records = [
            {
                "id": e.id,
                "chosen": v.choice,
                "solution": str(e.solution).strip().upper(),
                "correct": bool(v.correct),
                "correct_strict": bool(vs.correct),
                "band": b,
                "direction": d,
            }
            for e, v, vs, b, d in zip(examples, lenient, strict, bands, dirs, strict=True)
        ]
        correct = [float(r["correct"]) for r in records]
        headline = [{"metric": "accuracy", "values": correct, "statistic": "mean", "higher_is_better": True}]
        for band in metrics["by_band"]:
            headline.append(
                {
                    "metric": f"accuracy[{band}]",
                    "values": [float(r["correct"]) for r in records if str(r["band"]) == band],
                    "statistic": "mean",
                    "higher_is_better": True,
                }
            )
        headline.append(
            {
                "metric": "accuracy_strict",
                "values": [float(r["correct_strict"]) for r in records],
                "statistic": "mean",
                "higher_is_better": True,
            }
        )
        return TaskResult(self.name, metrics, headline, records)
