"""Place chain: GeoChain's questions about one place, coarse to fine, on the offline Earth or GeoChain.

The questions, their order and wording and the scorer are GeoChain's (``geor1.eval.geochain``): each is
asked verbatim as its own single-turn prompt with the place's image (``geo-r1 eval geochain --mode
chained`` asks them as one conversation), followed by Geo-R1's think/answer instruction.

Sources:

- an offline-Earth view manifest (JSONL; one image per place, its satellite view when present). Truth
  comes from the coordinates and the Earth metadata (``geor1.eval.placetruth``), computed once by the
  Earth build and read from its ``places.jsonl`` (derived here for a manifest without one), so only
  the questions it can answer are asked: hemisphere, equator, poles, continent, driving side, country,
  coast, desert, mountainous (when the metadata has relief), climate, state, city (the nearest GeoNames
  place) and coordinates. The visual questions, island, city size and languages have no truth there.
- a GeoChain file (CSV or Parquet, see ``geor1.eval.geochain``): GeoChain's answers where it has the
  answer columns, its rule where not, every question with a truth. An image is the ``image`` cell when
  present, else ``ROOT/<city>/<sub_folder>/images/<key>.jpg``, ``ROOT/images/<key>.jpg`` or
  ``ROOT/<key>.jpg`` (ROOT = the file's folder); rows without an image are skipped and counted.

Scoring: ``geor1.eval.geochain.judge`` per answer (GeoChain's rules for its free-text answers);
``accuracy`` covers the non-coordinate questions and reads answers leniently (the whole text when there
is no ``<answer>`` block), ``accuracy_strict`` counts an answer without the block as wrong, as the
rewards do; coordinates get the distance metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geor1.errors import GeoR1Error
from geor1.eval.geochain import KEYS, judge, question_by_key, questions, read_rows, row_truth, summarize
from geor1.eval.tasks import EvalTask, register_task
from geor1.eval.types import EvalExample, TaskResult
from geor1.judge import answer_text
from geor1.records import user_prompt

GEOCHAIN_SUFFIXES = (".csv", ".parquet")


@dataclass
class Place:
    """A place to ask about: id, coordinates, image path and its truth per GeoChain question index."""

    id: str
    lat: float
    lon: float
    image: str
    truth: dict[int, str | None]
    country_code: str | None = None
    source: str = "derived"


def _yes_no(value: Any) -> str | None:
    return None if value is None else ("Yes" if value else "No")


def earth_truth(
    lat: float, lon: float, meta: dict[str, Any], truth: dict[str, Any] | None = None
) -> tuple[dict[int, str | None], str | None]:
    """Return GeoChain-format answers (``Yes``/``No``, names, ``"lat, lon"``) for an Earth place, None for
    the questions the coordinates and metadata cannot answer, and the country code. ``truth`` is the
    place's ``place_truth`` as the Earth build wrote it; without it the truth is derived here."""
    from geor1.eval.placetruth import place_truth

    t = truth if truth is not None else place_truth(lat, lon, meta)
    by_key: dict[str, Any] = {
        "near_equator": _yes_no(t["near_equator"]),
        "near_pole": _yes_no(t["near_pole"]),
        "northern_hemisphere": _yes_no(t["northern_hemisphere"]),
        "continent": t["continent"],
        "driving_side": t["driving_side"],
        "country": t["country"],
        "coast": _yes_no(t["coast"]),
        "desert": _yes_no(t["desert"]),
        "mountainous": _yes_no(t["mountainous"]),
        "climate": t["climate"],
        "state": t["state"],
        "city": t["city"],
        "coordinates": f"{lat:.4f}, {lon:.4f}",
    }
    return {i: by_key.get(key) for i, key in enumerate(KEYS)}, t["country_code"]


def built_truth(places_file: Path) -> dict[str, dict[str, Any]]:
    """Return ``{place: truth}`` that an Earth build wrote into its places file (``truth`` of a record)."""
    from geor1.io import iter_jsonl

    return {
        str(record["place"]): record["truth"]
        for _, record in iter_jsonl(places_file)
        if record.get("place") and isinstance(record.get("truth"), dict)
    }


def places_from_views(path: Path) -> list[Place]:
    """Return one Place per place of a view manifest (its satellite view when it has one); its truth is
    the one the Earth build wrote into its places file, derived here only for places without one."""
    from geor1.builders.common import load_view_set

    view_set = load_view_set(path)
    places_file = view_set.places_file()
    built = built_truth(places_file) if places_file != view_set.manifest else {}
    chosen: dict[str, int] = {}
    for i, view in enumerate(view_set.views):
        best = chosen.get(view.place)
        if best is None or (view.view == "satellite" and view_set.views[best].view != "satellite"):
            chosen[view.place] = i
    places = []
    for place, i in chosen.items():
        v = view_set.views[i]
        truth, cc = earth_truth(v.lat, v.lon, dict(v.meta), built.get(place))
        places.append(Place(place, v.lat, v.lon, str(view_set.image_path(i)), truth, cc))
    return places


def places_from_geochain(path: Path, image_root: Path | None = None) -> tuple[list[Place], int]:
    """Return ``(places, n_without_image)`` of a GeoChain CSV/Parquet file; images under ``image_root``
    (default: the file's folder), see the module docstring."""
    root = Path(image_root) if image_root is not None else path.parent
    places, missing = [], 0
    for row in read_rows(path):
        candidates = [row.image(root)]
        if not row.image_column:
            candidates += [root / "images" / f"{row.key}.jpg", root / f"{row.key}.jpg"]
        image = next((c for c in candidates if c.is_file()), None)
        if image is None:
            missing += 1
            continue
        truth = row_truth(row)
        sources = set(truth.source.values())
        source = sources.pop() if len(sources) == 1 else "mixed"
        places.append(Place(row.key, row.lat, row.lon, str(image), truth.answers, truth.country_code, source))
    if not places:
        raise GeoR1Error(
            f"{path}: no row has an image file (looked for {root}/<city>/<sub_folder>/images/<key>.jpg …)"
        )
    return places, missing


def place_examples(place: Place, prompt_style: str = "geor1") -> list[EvalExample]:
    """Return one single-turn example per question of ``place`` that has a truth, in GeoChain's order."""
    from geor1.eval.geochain import known

    examples = []
    for q in questions():
        truth = place.truth.get(q.index)
        if not known(truth):
            continue
        text = q.text if prompt_style == "plain" else None
        prompt = (
            [{"role": "user", "content": [{"type": "image", "text": None}, {"type": "text", "text": text}]}]
            if text is not None
            else user_prompt(q.text, 1)
        )
        examples.append(
            EvalExample(
                id=f"{place.id}:{q.key}",
                prompt=prompt,
                images=[place.image],
                solution=truth,
                meta={
                    "place": place.id,
                    "question": q.key,
                    "question_index": q.index,
                    "lat": place.lat,
                    "lon": place.lon,
                    "truth": truth,
                    "country_code": place.country_code,
                    "truth_source": place.source,
                },
            )
        )
    return examples


def score_examples(task: str, examples: Sequence[EvalExample], completions: Sequence[str]) -> TaskResult:
    """Judge each completion with GeoChain's scorer; return accuracy per question, category and overall
    (non-coordinate questions) and the coordinate distance metrics."""
    records: list[dict[str, Any]] = []
    for e, c in zip(examples, completions, strict=True):
        q = question_by_key(e.meta["question"])
        m = e.meta
        verdict = judge(q, c, m["truth"], country=m.get("country_code"), lat=m["lat"], lon=m["lon"])
        record: dict[str, Any] = {
            "id": e.id,
            "key": m["place"],
            "place": m["place"],
            "question": q.index,
            "question_key": q.key,
            "answer": c,
            "parsed": verdict.parsed,
            "solution": e.solution,
            "truth_source": m.get("truth_source", "derived"),
            "correct": verdict.correct,
            "correct_strict": (
                None
                if verdict.correct is None
                else verdict.correct and answer_text(c, require_tags=True) is not None
            ),
        }
        if q.key == "coordinates":
            got = verdict.parsed
            record.update(
                pred_lat=None if got is None else got[0],
                pred_lon=None if got is None else got[1],
                lat=m["lat"],
                lon=m["lon"],
                km=None if verdict.km is None or verdict.km != verdict.km else verdict.km,
            )
        records.append(record)
    summary = summarize(records)
    asked = {k: v for k, v in summary["by_question"].items() if v["n"]}
    metrics: dict[str, Any] = {
        "n_places": summary["n_rows"],
        "n_questions": sum(v["n"] for k, v in asked.items() if k != "coordinates"),
        "accuracy": summary["accuracy"],
        "by_question": asked,
        "by_category": summary["by_category"],
        "by_difficulty": summary["by_difficulty"],
        "truth_sources": summary["truth_sources"],
    }
    words = [r for r in records if r["correct"] is not None and r["question_key"] != "coordinates"]
    strict = [float(r["correct_strict"]) for r in words]
    metrics["accuracy_strict"] = sum(strict) / len(strict) if strict else None
    headline = [
        {
            "metric": "accuracy",
            "values": [float(r["correct"]) for r in words],
            "statistic": "mean",
            "higher_is_better": True,
        },
        {"metric": "accuracy_strict", "values": strict, "statistic": "mean", "higher_is_better": True},
    ]
    for key in ("continent", "country", "state", "city"):
        values = [
            float(r["correct"]) for r in records if r["question_key"] == key and r["correct"] is not None
        ]
        if values:
            headline.append({"metric": f"accuracy[{key}]", "values": values, "statistic": "mean",
                             "higher_is_better": True})  # fmt: skip
    if summary["coordinates"] is not None:
        metrics["coordinates"] = summary["coordinates"]
        km = [np.nan if r["km"] is None else r["km"] for r in records if r["question_key"] == "coordinates"]
        headline.append({"metric": "coordinates median_km", "values": km, "statistic": "median",
                         "higher_is_better": False})  # fmt: skip
    for r in records:
        r["question"] = r.pop("question_key")
        r.pop("key")
    return TaskResult(task, metrics, headline, records)


@register_task
class PlaceChainTask(EvalTask):
    """GeoChain's question chain over places from Earth views or a GeoChain CSV/Parquet file."""

    name = "chain"
    description = "GeoChain place chain: its questions, coarse to fine, scored by its answers"
    data_patterns = ("views.jsonl", "*views*.jsonl", "*.csv", "*.parquet")

    def load(self, source: Path, *, limit: int | None = None, seed: int = 0) -> list[EvalExample]:
        """Return one example per (place, question with a truth); ``limit`` counts places."""
        if source.suffix.lower() in GEOCHAIN_SUFFIXES:
            places, _ = places_from_geochain(source)
        else:
            places = places_from_views(source)
        if limit is not None and limit < len(places):
            keep = np.sort(np.random.default_rng(seed).choice(len(places), size=limit, replace=False))
            places = [places[i] for i in keep.tolist()]
        return [e for place in places for e in place_examples(place)]

    def score(self, examples: Sequence[EvalExample], completions: Sequence[str]) -> TaskResult:
        """Return accuracy per question and overall (non-coordinate questions) plus coordinate metrics."""
        return score_examples(self.name, examples, completions)
