"""IMAGEO-Bench as a generation task: the model answers IMAGEO's JSON schema for each image of an info
CSV; scoring is ``geor1.eval.imageo`` (the benchmark authors' rules). Images are looked up as
``<CSV folder>/images/<image_id>.jpg`` (or .jpeg/.png) or ``<CSV folder>/<image_id>.jpg``; rows without
an image are skipped."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from geor1.errors import GeoR1Error
from geor1.eval.imageo import IMAGEO_PROMPT, imageo_metrics, join_predictions, read_truth
from geor1.eval.tasks import EvalTask, limit_examples, register_task
from geor1.eval.types import EvalExample, TaskResult

_EXTENSIONS = (".jpg", ".jpeg", ".png")


def _image_for(root: Path, image_id: str) -> Path | None:
    for folder in (root / "images", root):
        for ext in _EXTENSIONS:
            p = folder / f"{image_id}{ext}"
            if p.is_file():
                return p
    return None


@register_task
class ImageoTask(EvalTask):
    """Generate IMAGEO answers for the images of an info CSV and score them like the authors."""

    name = "imageo"
    description = "IMAGEO-Bench: strict-JSON reverse geocoding (authors' scoring)"
    data_patterns = ("*_info.csv",)
    max_new_tokens = 512

    def load(self, source: Path, *, limit: int | None = None, seed: int = 0) -> list[EvalExample]:
        """Return one example per truth row whose image file exists."""
        examples = []
        for t in read_truth(source):
            image = _image_for(source.parent, t.image_id)
            if image is None:
                continue
            prompt = [
                {
                    "role": "user",
                    "content": [{"type": "image", "text": None}, {"type": "text", "text": IMAGEO_PROMPT}],
                }
            ]
            examples.append(EvalExample(t.image_id, prompt, [str(image)], None, {"image_file": image.name}))
        if not examples:
            raise GeoR1Error(f"{source}: no image found for any row (looked in images/ and beside the CSV)")
        self._truth = source
        return limit_examples(examples, limit, seed)

    def score(self, examples: Sequence[EvalExample], completions: Sequence[str]) -> TaskResult:
        """Return the IMAGEO metrics of the completions (records in the benchmark's result format)."""
        truth = read_truth(self._truth)
        results = [
            {"image_file": e.meta["image_file"], "raw_response": c}
            for e, c in zip(examples, completions, strict=True)
        ]
        rows, _ = join_predictions(results, truth)
        metrics = imageo_metrics(rows)
        km = np.array([np.nan if r.km is None else r.km for r in rows])
        records = [{"id": r.image_id, "km": r.km, "city_ok": r.city_ok, "state_ok": r.state_ok,
                    "country_ok": r.country_ok, "lat": r.truth.lat, "lon": r.truth.lon,
                    "pred_lat": r.answer.lat, "pred_lon": r.answer.lon} for r in rows]  # fmt: skip
        headline = [
            {"metric": "median_km", "values": km.tolist(), "statistic": "median", "higher_is_better": False}
        ]
        for name in ("city", "country"):
            values = [np.nan if r[f"{name}_ok"] is None else float(r[f"{name}_ok"]) for r in records]
            headline.append(
                {"metric": f"{name}_acc", "values": values, "statistic": "mean", "higher_is_better": True}
            )
        return TaskResult(self.name, metrics, headline, records)
