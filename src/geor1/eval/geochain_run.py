"""Run a model on GeoChain: all 21 questions per image, each alone or as one chained conversation.

``single`` asks every question as its own one-turn prompt with the image (the prompts batch, and no
answer leaks into the next). ``chained`` asks them as GeoChain does, one conversation per image: the
image comes with the first question, and each later question follows the model's own earlier
completions (21 rounds, every image's round generated together). Both go through the generation cache
(``geor1.eval.cache``): a rerun reuses what was generated, a chained rerun resumes at the first
question whose conversation changed.

The prompt is the question verbatim, followed by Geo-R1's think/answer instruction (``prompt_style
"geor1"``) or alone (``"plain"``, for models not trained on that format).
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geor1.errors import ConfigError
from geor1.eval.answers import answer_text
from geor1.eval.geochain import Row, judge_rows, questions, read_rows, summarize
from geor1.eval.types import EvalExample, SamplingConfig
from geor1.records import THINK_ANSWER_SUFFIX

MODES = ("single", "chained")
PROMPT_STYLES = ("geor1", "plain")


@dataclass
class GeoChainRunConfig:
    """What ``geo-r1 eval geochain --model …`` runs."""

    data: Path
    image_root: Path | None = None
    mode: str = "single"
    prompt_style: str = "geor1"
    limit: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError("mode", f"{self.mode!r}: choose one of {', '.join(MODES)}")
        if self.prompt_style not in PROMPT_STYLES:
            raise ConfigError(
                "prompt_style", f"{self.prompt_style!r}: choose one of {', '.join(PROMPT_STYLES)}"
            )


def question_text(text: str, style: str) -> str:
    """Return what the model is asked: the question verbatim, plus the think/answer instruction for geor1."""
    return text if style == "plain" else f"{text} {THINK_ANSWER_SUFFIX}"


def rows_with_images(config: GeoChainRunConfig) -> tuple[list[Row], dict[str, str], int]:
    """Return ``(rows, {key: image path}, n_without_image)``: the rows whose image exists, at most
    ``limit`` of them (a seeded sample kept in file order)."""
    rows = read_rows(config.data)
    root = config.image_root if config.image_root is not None else config.data.parent
    images = {r.key: r.image(root) for r in rows}
    kept = [r for r in rows if images[r.key].is_file()]
    if not kept:
        first = rows[0]
        raise ConfigError(
            "image_root",
            f"{config.data}: no row has its image under {root} (the first, {first.key!r}, would be "
            f"{images[first.key]}); give the folder holding <city>/<sub_folder>/images/",
        )
    if config.limit is not None and config.limit < len(kept):
        pick = np.sort(np.random.default_rng(config.seed).choice(len(kept), size=config.limit, replace=False))
        kept = [kept[i] for i in pick.tolist()]
    return (
        kept,
        {r.key: str(images[r.key]) for r in kept},
        len(rows) - sum(images[r.key].is_file() for r in rows),
    )


def _user(text: str, with_image: bool) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "image", "text": None}] if with_image else []
    content.append({"type": "text", "text": text})
    return {"role": "user", "content": content}


def single_examples(rows: list[Row], images: dict[str, str], style: str) -> list[EvalExample]:
    """Return one one-turn example per (row, question)."""
    return [
        EvalExample(
            id=f"{row.key}:{q.key}",
            prompt=[_user(question_text(q.text, style), True)],
            images=[images[row.key]],
            solution=None,
            meta={"key": row.key, "question": q.index},
        )
        for row in rows
        for q in questions()
    ]


def generate_geochain(
    backend: Any,
    cache: Any,
    rows: list[Row],
    images: dict[str, str],
    config: GeoChainRunConfig,
    sampling: SamplingConfig,
) -> tuple[dict[tuple[str, int], str], dict[str, str]]:
    """Return ``({(key, question index): completion}, {example id: generation error})``."""
    from geor1.eval.runner import generate_with_cache

    task = f"geochain-{config.mode}"
    if config.mode == "single":
        examples = single_examples(rows, images, config.prompt_style)
        completions, errors = generate_with_cache(backend, cache, task, examples, sampling)
        return {
            (e.meta["key"], e.meta["question"]): c for e, c in zip(examples, completions, strict=True)
        }, errors
    history: dict[str, list[dict[str, Any]]] = {r.key: [] for r in rows}
    out: dict[tuple[str, int], str] = {}
    errors: dict[str, str] = {}
    for q in questions():
        examples = []
        for row in rows:
            turn = _user(question_text(q.text, config.prompt_style), with_image=not history[row.key])
            examples.append(
                EvalExample(
                    id=f"{row.key}:{q.key}",
                    prompt=[*history[row.key], turn],
                    images=[images[row.key]],
                    solution=None,
                    meta={"key": row.key, "question": q.index},
                )
            )
        completions, failed = generate_with_cache(backend, cache, task, examples, sampling)
        errors.update(failed)
        for e, c in zip(examples, completions, strict=True):
            out[(e.meta["key"], q.index)] = c
            history[e.meta["key"]] = [
                *e.prompt,
                {"role": "assistant", "content": [{"type": "text", "text": c}]},
            ]
    return out, errors


def write_predictions(path: Path, rows: list[Row], completions: dict[tuple[str, int], str]) -> Path:
    """Write GeoChain's answer layout (``key, answer_0…answer_20``), each cell the answer part of the
    completion, atomically; the file scores again with ``geo-r1 eval geochain --predictions``."""
    from geor1.io import atomic_write_text

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["key", *(q.column for q in questions())])
    for row in rows:
        writer.writerow(
            [row.key, *(answer_text(completions.get((row.key, q.index), "")) for q in questions())]
        )
    atomic_write_text(path, buffer.getvalue())
    return path


def headline(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the metrics ``geo-r1 eval compare`` puts side by side: overall accuracy (questions 1-20),
    accuracy per GeoChain category, and the median coordinate error."""
    coords = questions()[-1].index
    scored = [r for r in records if r["correct"] is not None]
    out = [{"metric": "accuracy", "values": [float(r["correct"]) for r in scored if r["question"] != coords],
            "statistic": "mean", "higher_is_better": True}]  # fmt: skip
    for category in dict.fromkeys(q.category for q in questions()):
        values = [float(r["correct"]) for r in scored if questions()[r["question"]].category == category]
        out.append({"metric": f"accuracy[{category}]", "values": values, "statistic": "mean",
                    "higher_is_better": True})  # fmt: skip
    km = [float("nan") if r.get("km") is None else r["km"] for r in scored if r["question"] == coords]
    out.append(
        {"metric": "coordinates median_km", "values": km, "statistic": "median", "higher_is_better": False}
    )
    return out


def run_geochain(
    config: GeoChainRunConfig, backend: Any, eval_dir: Path, sampling: SamplingConfig, model: str
) -> dict[str, Any]:
    """Ask every question of every image, score, and write ``<task>.json`` and ``<task>_predictions.csv``
    in ``eval_dir`` (task ``geochain``, or ``geochain-chained`` in chained mode); return the JSON document."""
    from geor1.eval.cache import GenerationCache
    from geor1.io import write_json

    task = "geochain" if config.mode == "single" else f"geochain-{config.mode}"
    rows, images, n_without_image = rows_with_images(config)
    with GenerationCache(eval_dir / "generations.jsonl") as cache:
        completions, errors = generate_geochain(backend, cache, rows, images, config, sampling)
    records = judge_rows(rows, completions)
    for r in records:
        r["completion"] = r.pop("answer")
        r["answer"] = answer_text(r["completion"])
    metrics = summarize(records)
    metrics.update(n_without_image=n_without_image, n_failed=len(errors))
    predictions = write_predictions(eval_dir / f"{task}_predictions.csv", rows, completions)
    doc = {
        "task": task,
        "metrics": metrics,
        "headline": headline(records),
        "examples": records,
        "errors": errors,
        "model": model,
        "model_id": backend.model_id,
        "data": str(config.data),
        "mode": config.mode,
        "prompt_style": config.prompt_style,
        "predictions": str(predictions),
        "sampling": asdict(sampling),
        "seed": config.seed,
        "limit": config.limit,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    doc["path"] = str(write_json(eval_dir / f"{task}.json", doc))
    return doc
