"""GeoChain-style place chain: a fixed sequence of questions about one place, coarse to fine.

Questions (after GeoChain's ``data/questions.csv``; the visual-only ones, island, city size and
languages are left out because coordinates alone cannot answer them): hemisphere, near equator,
near poles, continent, driving side, country, coast, desert, mountainous, climate class,
state/province, city, coordinates. Ground truth comes from the coordinates (``geor1.eval.placetruth``).

Each question is asked as its own single-turn prompt with the place's image (GeoChain asks them in one
conversation; independent prompts batch and cache per question, and no answer leaks into the next).
Scoring: exact match for yes/no and class questions, normalised match (case, accents, ``pycountry``
aliases) for country/state/city, haversine for coordinates.

Sources: an offline-Earth view manifest (JSONL; one image per place, its satellite view when present)
or a GeoChain CSV (``key, lat, lon, city, sub_folder, …`` like GeoChain's ``data/test_samples.csv``);
a CSV image is the ``image`` column when present, else ``ROOT/<city>/<sub_folder>/images/<key>.jpg``,
``ROOT/images/<key>.jpg`` or ``ROOT/<key>.jpg`` (ROOT = the CSV's folder); rows without an image are
skipped and counted.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geor1.errors import GeoR1Error, RecordError
from geor1.eval.answers import answer_text, parse_class, parse_coordinates, parse_yes_no
from geor1.eval.metrics import accuracy, geolocation_errors_km, geolocation_metrics
from geor1.eval.placenames import city_key, country_key, subdivision_key
from geor1.eval.placetruth import CLIMATES, CONTINENTS, place_truth
from geor1.eval.tasks import EvalTask, register_task
from geor1.eval.types import EvalExample, TaskResult
from geor1.records import user_prompt


@dataclass(frozen=True)
class ChainQuestion:
    """One question of the chain: its truth key, text and answer kind (yesno | class | name | coords)."""

    key: str
    text: str
    kind: str
    classes: tuple[str, ...] = ()


QUESTIONS = (
    ChainQuestion("northern_hemisphere", "Is this place located in the Northern Hemisphere? Answer yes or no.", "yesno"),
    ChainQuestion("near_equator", "Would you say this location is near the Equator? Answer yes or no.", "yesno"),
    ChainQuestion("near_pole", "Does this location seem to be close to the Poles? Answer yes or no.", "yesno"),
    ChainQuestion(
        "continent",
        "Which continent best describes where this location is? Answer one of: " + ", ".join(CONTINENTS) + ".",
        "class",
        CONTINENTS,
    ),
    ChainQuestion(
        "driving_side", "What side of the road do vehicles drive on here? Answer Left or Right.", "class",
        ("Left", "Right"),
    ),
    ChainQuestion("country", "What country is this place located in?", "country"),
    ChainQuestion("coast", "Is this place near the coast? Answer yes or no.", "yesno"),
    ChainQuestion("desert", "Is this place located in a desert region? Answer yes or no.", "yesno"),
    ChainQuestion("mountainous", "Does this location seem to be in a mountainous or hilly region? Answer yes or no.", "yesno"),
    ChainQuestion(
        "climate",
        "What is the most likely climate type for this location? Answer one of: " + ", ".join(CLIMATES) + ".",
        "class",
        CLIMATES,
    ),
    ChainQuestion("state", "Can you name the state or province this place belongs to?", "state"),
    ChainQuestion("city", "What is the name of the city, town, or village nearest to this place?", "city"),
    ChainQuestion(
        "coordinates",
        "Based on everything observed, what are the latitude and longitude coordinates of this place? "
        "Give a tuple of float coordinates (lat, lon).",
        "coords",
    ),
)  # fmt: skip
QUESTION_BY_KEY = {q.key: q for q in QUESTIONS}


@dataclass
class Place:
    """A place to ask about: id, coordinates, image path and optional Earth metadata."""

    id: str
    lat: float
    lon: float
    image: str
    meta: dict[str, Any]


def places_from_views(path: Path) -> list[Place]:
    """Return one Place per place of a view manifest (its satellite view when it has one)."""
    from geor1.tasks.common import load_view_set

    view_set = load_view_set(path)
    chosen: dict[str, int] = {}
    for i, view in enumerate(view_set.views):
        best = chosen.get(view.place)
        if best is None or (view.view == "satellite" and view_set.views[best].view != "satellite"):
            chosen[view.place] = i
    places = []
    for place, i in chosen.items():
        v = view_set.views[i]
        places.append(Place(place, v.lat, v.lon, str(view_set.image_path(i)), dict(v.meta)))
    return places


def _csv_image(row: dict[str, str], root: Path) -> Path | None:
    if row.get("image"):
        p = Path(row["image"])
        return p if p.is_absolute() else root / p
    key = row.get("key") or ""
    candidates = [root / "images" / f"{key}.jpg", root / f"{key}.jpg"]
    if row.get("city") and row.get("sub_folder"):
        candidates.insert(0, root / row["city"] / row["sub_folder"] / "images" / f"{key}.jpg")
    return next((c for c in candidates if c.is_file()), None)


def places_from_geochain_csv(path: Path) -> tuple[list[Place], int]:
    """Return ``(places, n_without_image)`` of a GeoChain-style CSV (``key, lat, lon, …``)."""
    from geor1.geo import validate_latlon

    places, missing = [], 0
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for column in ("key", "lat", "lon"):
            if column not in (reader.fieldnames or []):
                raise RecordError("missing column", path=path, field=column)
        for line, row in enumerate(reader, start=2):
            try:
                lat, lon = validate_latlon(row["lat"], row["lon"])
            except ValueError as exc:
                raise RecordError(str(exc), path=path, line=line, field="lat/lon") from None
            image = _csv_image(row, path.parent)
            if image is None:
                missing += 1
                continue
            places.append(Place(row["key"], lat, lon, str(image), {}))
    if not places:
        raise GeoR1Error(
            f"{path}: no row has an image file (looked for <city>/<sub_folder>/images/<key>.jpg …)"
        )
    return places, missing


def _correct(question: ChainQuestion, completion: str, truth: dict[str, Any]) -> tuple[Any, bool]:
    value = truth[question.key]
    if question.kind == "yesno":
        answer = parse_yes_no(completion)
        return answer, answer is not None and answer == bool(value)
    if question.kind == "class":
        answer = parse_class(completion, question.classes)
        return answer, answer is not None and answer == value
    text = answer_text(completion)
    if question.kind == "country":
        return text, bool(text) and country_key(text) in {country_key(value), truth["country_code"]}
    if question.kind == "state":
        return text, bool(text) and subdivision_key(text, truth["country_code"]) == subdivision_key(
            value, truth["country_code"]
        )
    if question.kind == "city":
        return text, bool(text) and city_key(text) == city_key(value)
    raise ValueError(f"unknown question kind {question.kind!r}")


@register_task
class PlaceChainTask(EvalTask):
    """GeoChain-style question chain over places from Earth views or a GeoChain CSV."""

    name = "chain"
    description = "GeoChain-style place chain: hemisphere … country, state, city, coordinates"
    data_patterns = ("views.jsonl", "*views*.jsonl", "*.csv")

    def load(self, source: Path, *, limit: int | None = None, seed: int = 0) -> list[EvalExample]:
        """Return one example per (place, answerable question); ``limit`` counts places."""
        if source.suffix.lower() == ".csv":
            places, _ = places_from_geochain_csv(source)
        else:
            places = places_from_views(source)
        if limit is not None and limit < len(places):
            keep = np.sort(np.random.default_rng(seed).choice(len(places), size=limit, replace=False))
            places = [places[i] for i in keep.tolist()]
        examples = []
        for place in places:
            truth = place_truth(place.lat, place.lon, place.meta)
            for q in QUESTIONS:
                if truth.get(q.key) is None:
                    continue
                solution = truth[q.key] if q.key != "coordinates" else f"({place.lat:.4f}, {place.lon:.4f})"
                examples.append(
                    EvalExample(
                        id=f"{place.id}:{q.key}",
                        prompt=user_prompt(q.text, 1),
                        images=[place.image],
                        solution=solution,
                        meta={
                            "place": place.id,
                            "question": q.key,
                            "lat": place.lat,
                            "lon": place.lon,
                            "truth": truth,
                        },
                    )
                )
        return examples

    def score(self, examples: Sequence[EvalExample], completions: Sequence[str]) -> TaskResult:
        """Return accuracy per question and overall (non-coordinate questions) plus coordinate metrics."""
        records, coords = [], []
        for e, c in zip(examples, completions, strict=True):
            q = QUESTION_BY_KEY[e.meta["question"]]
            if q.kind == "coords":
                coords.append((e, parse_coordinates(c)))
                continue
            answer, ok = _correct(q, c, e.meta["truth"])
            records.append({"id": e.id, "place": e.meta["place"], "question": q.key, "answer": answer,
                            "solution": e.solution, "correct": bool(ok)})  # fmt: skip
        by_question = {}
        for q in QUESTIONS:
            values = [r["correct"] for r in records if r["question"] == q.key]
            if values:
                by_question[q.key] = {"n": len(values), "accuracy": accuracy(values)}
        correct = [float(r["correct"]) for r in records]
        metrics: dict[str, Any] = {"n_places": len({e.meta["place"] for e in examples}), "n_questions": len(records),
                                   "accuracy": accuracy([r["correct"] for r in records]), "by_question": by_question}  # fmt: skip
        headline = [{"metric": "accuracy", "values": correct, "statistic": "mean", "higher_is_better": True}]
        for key in ("continent", "country", "state", "city"):
            values = [float(r["correct"]) for r in records if r["question"] == key]
            if values:
                headline.append({"metric": f"accuracy[{key}]", "values": values, "statistic": "mean",
                                 "higher_is_better": True})  # fmt: skip
        if coords:
            km = geolocation_errors_km(
                [p for _, p in coords], [e.meta["lat"] for e, _ in coords], [e.meta["lon"] for e, _ in coords]
            )
            metrics["coordinates"] = geolocation_metrics(km)
            headline.append({"metric": "coordinates median_km", "values": km.tolist(), "statistic": "median",
                             "higher_is_better": False})  # fmt: skip
            for (e, p), d in zip(coords, km.tolist(), strict=True):
                records.append({"id": e.id, "place": e.meta["place"], "question": "coordinates",
                                "pred_lat": None if p is None else p[0], "pred_lon": None if p is None else p[1],
                                "lat": e.meta["lat"], "lon": e.meta["lon"], "km": None if d != d else d})  # fmt: skip
        return TaskResult(self.name, metrics, headline, records)
