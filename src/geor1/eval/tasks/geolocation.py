"""Geolocation: answer "(lat, lon)"; haversine error, accuracy within 1/25/200/750/2500 km, GeoScore."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from geor1.eval.examples import examples_from_task_file
from geor1.eval.metrics import KM_THRESHOLDS, geolocation_errors_km, geolocation_metrics, geoscore
from geor1.eval.tasks import EvalTask, limit_examples, register_task
from geor1.eval.types import EvalExample, TaskResult
from geor1.judge import DEFAULT_WITHIN_KM, Verdict, judge


def true_latlon(example: EvalExample) -> tuple[float, float]:
    """Return an example's true coordinates: ``meta`` lat/lon, else its "(lat, lon)" solution."""
    if "lat" in example.meta and "lon" in example.meta:
        return float(example.meta["lat"]), float(example.meta["lon"])
    from geor1.judge import solution_point

    parsed = solution_point(example.solution)
    if parsed is None:
        raise ValueError(
            f"example {example.id}: no true coordinates in meta or solution {example.solution!r}"
        )
    return parsed


def geolocation_result(
    task: str,
    ids: Sequence[str],
    predictions: Sequence[tuple[float, float] | None],
    truth: np.ndarray,
    strict: Sequence[tuple[float, float] | None] | None = None,
) -> TaskResult:
    """Return the TaskResult of coordinate answers against ``truth`` (an (n, 2) lat/lon array).

    ``predictions`` are the lenient readings; ``strict`` (when given) the readings with ``<answer>`` tags
    required, which the rewards see: their metrics go under ``metrics["strict"]`` and the headline gets
    ``geoscore_strict`` and ``acc@25km_strict``.
    """
    km = geolocation_errors_km(predictions, truth[:, 0], truth[:, 1])
    metrics = geolocation_metrics(km)
    records: list[dict[str, Any]] = []
    for i, example_id in enumerate(ids):
        p = predictions[i]
        records.append(
            {
                "id": example_id,
                "pred_lat": None if p is None else p[0],
                "pred_lon": None if p is None else p[1],
                "lat": float(truth[i, 0]),
                "lon": float(truth[i, 1]),
                "km": None if math.isnan(km[i]) else float(km[i]),
            }
        )
    headline = [
        {"metric": "median_km", "values": km.tolist(), "statistic": "median", "higher_is_better": False},
        {
            "metric": "geoscore",
            "values": geoscore(km).tolist(),
            "statistic": "mean",
            "higher_is_better": True,
        },
    ]
    with np.errstate(invalid="ignore"):
        for t in KM_THRESHOLDS[1:]:
            headline.append(
                {
                    "metric": f"acc@{t}km",
                    "values": (km <= t).astype(float).tolist(),
                    "statistic": "mean",
                    "higher_is_better": True,
                }
            )
    if strict is not None:
        km_strict = geolocation_errors_km(strict, truth[:, 0], truth[:, 1])
        metrics["strict"] = geolocation_metrics(km_strict)
        for record, k in zip(records, km_strict.tolist(), strict=True):
            record["km_strict"] = None if math.isnan(k) else k
        headline.append(
            {
                "metric": "geoscore_strict",
                "values": geoscore(km_strict).tolist(),
                "statistic": "mean",
                "higher_is_better": True,
            }
        )
        with np.errstate(invalid="ignore"):
            within = (km_strict <= DEFAULT_WITHIN_KM).astype(float).tolist()
        headline.append(
            {
                "metric": f"acc@{DEFAULT_WITHIN_KM:g}km_strict",
                "values": within,
                "statistic": "mean",
                "higher_is_better": True,
            }
        )
    return TaskResult(task, metrics, headline, records)


@register_task
class GeolocationTask(EvalTask):
    """Geolocation examples from the data layer (task "geolocation" in a task-example JSONL)."""

    name = "geolocation"
    description = "coordinates from images: km error, accuracy at 1/25/200/750/2500 km, GeoScore"
    data_patterns = ("*geolocation*.jsonl",)

    def load(self, source: Path, *, limit: int | None = None, seed: int = 0) -> list[EvalExample]:
        """Return the geolocation examples of a task-example JSONL."""
        return limit_examples(examples_from_task_file(source, "geolocation"), limit, seed)

    def score(self, examples: Sequence[EvalExample], completions: Sequence[str]) -> TaskResult:
        """Return the geolocation metrics, lenient and strict (unparseable answers: counted, miss every
        threshold)."""
        points = [true_latlon(e) for e in examples]
        truth = np.array(points, dtype=np.float64).reshape(-1, 2)

        def read(tags: bool) -> list[Verdict]:
            return [judge(c, p, require_tags=tags) for c, p in zip(completions, points, strict=True)]

        lenient, strict = read(False), read(True)
        return geolocation_result(
            self.name, [e.id for e in examples], [v.point for v in lenient], truth, [v.point for v in strict]
        )
