"""Place questions from view metadata, after GeoChain's chain of questions: continent, hemisphere,
near the Equator, country, dominant land cover, coast or inland, desert, mountainous, latitude band.

Every question is multiple choice with a letter solution (yes/no questions as options A/B in either
order), so the accuracy reward is a letter match. One image a question: the place's first view of the
chosen kind. A question type is skipped for a place whose metadata cannot answer it (for example a
null ``mountainous``); skips are counted per reason. Hemisphere, near-Equator and latitude band fall
back to the view's latitude when the metadata lacks them.

Distractors: continents, latitude bands and land-cover classes are drawn at random from the other
values (land-cover classes: those seen in the manifest, never one whose share ties the dominant
class); countries prefer the nearest other countries, i.e. those of the nearest places in the
manifest, topped up at random. Answer letters are balanced per question type (each position used
``n // K`` or ``n // K + 1`` times).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geor1.builders.common import ViewSet, balanced_positions, option_letters, place_info
from geor1.errors import ConfigError
from geor1.geo import SphereIndex
from geor1.geography import CONTINENTS, LAT_BANDS, NEAR_EQUATOR_LAT, lat_band
from geor1.parsing import MAX_OPTIONS
from geor1.records import View, user_prompt

QUESTION_TYPES = (
    "continent",
    "hemisphere",
    "near_equator",
    "country",
    "landcover",
    "coastal",
    "desert",
    "mountainous",
    "lat_band",
)
YES_NO = ("Yes", "No")
ANSWER_INSTRUCTION = "Answer with the letter of the correct option."


@dataclass
class QuestionsConfig:
    """Which questions to ask: view kind shown, question types, options per multiple choice, cap, seed."""

    view: str = "satellite"
    types: Sequence[str] = QUESTION_TYPES
    k: int = 4
    seed: int = 0
    limit: int | None = None

    def __post_init__(self) -> None:
        unknown = [t for t in self.types if t not in QUESTION_TYPES]
        if unknown or not self.types:
            raise ConfigError(
                "types", f"must name some of {', '.join(QUESTION_TYPES)}; unknown: {', '.join(unknown)}"
            )
        if self.k > MAX_OPTIONS:
            raise ConfigError("k", f"must be at most {MAX_OPTIONS} (one letter per option), got {self.k}")
        if self.k < 2:
            raise ConfigError("k", f"must be at least 2, got {self.k}")
        if self.limit is not None and self.limit < 0:
            raise ConfigError("limit", f"must be >= 0, got {self.limit}")


@dataclass
class QuestionsReport:
    """Examples written per question type and skips per reason."""

    by_type: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    dropped_by_limit: int = 0

    def lines(self) -> list[str]:
        """Return a human-readable summary, one fact per line."""
        out = [f"examples written: {sum(self.by_type.values())}"]
        out += [f"  {k}: {v}" for k, v in self.by_type.items()]
        out += [f"skipped {v}: {k}" for k, v in sorted(self.skipped.items())]
        if self.dropped_by_limit:
            out.append(f"dropped {self.dropped_by_limit} examples beyond the limit")
        return out


@dataclass
class _Item:
    question: str
    correct: str
    distractors: list[str]


@dataclass
class _Context:
    k: int
    rng: np.random.Generator
    country_names: dict[str, str]
    neighbour_countries: dict[str, list[str]]
    landcover_classes: list[str]


def _pick(pool: Sequence[str], n: int, rng: np.random.Generator) -> list[str]:
    return [pool[i] for i in rng.permutation(len(pool))[:n]] if pool else []


def _yes_no(question: str, value: bool) -> _Item:
    return _Item(question, YES_NO[0] if value else YES_NO[1], [YES_NO[1] if value else YES_NO[0]])


def _bool_meta(view: View, key: str) -> bool | str:
    value = view.meta.get(key)
    if value is None:
        return f"meta.{key} missing or null"
    if not isinstance(value, bool):
        return f"meta.{key} not a boolean"
    return value


def _continent(view: View, ctx: _Context) -> _Item | str:
    value = view.meta.get("continent")
    if value not in CONTINENTS:
        return "meta.continent missing or unknown"
    others = [c for c in CONTINENTS if c != value]
    return _Item("On which continent was this image taken?", value, _pick(others, ctx.k - 1, ctx.rng))


def _hemisphere(view: View, ctx: _Context) -> _Item | str:
    value = view.meta.get("hemisphere_ns") or ("north" if view.lat >= 0 else "south")
    if value not in ("north", "south"):
        return "meta.hemisphere_ns not north/south"
    north, south = "Northern Hemisphere", "Southern Hemisphere"
    correct = north if value == "north" else south
    return _Item("In which hemisphere was this image taken?", correct, [south if correct == north else north])


def _near_equator(view: View, ctx: _Context) -> _Item | str:
    value = view.meta.get("near_equator")
    if not isinstance(value, bool):
        value = abs(view.lat) < NEAR_EQUATOR_LAT
    return _yes_no(
        f"Was this image taken within {NEAR_EQUATOR_LAT:g} degrees of latitude of the Equator?", value
    )


def _country(view: View, ctx: _Context) -> _Item | str:
    code = view.meta.get("country_code")
    if not code:
        return "meta.country_code missing"
    near = ctx.neighbour_countries.get(view.place, [])[: ctx.k - 1]
    rest = [c for c in ctx.country_names if c != code and c not in near]
    codes = near + _pick(rest, ctx.k - 1 - len(near), ctx.rng)
    if not codes:
        return "fewer than 2 countries in the manifest"
    name = ctx.country_names.get(code, code)
    return _Item("In which country was this image taken?", name, [ctx.country_names.get(c, c) for c in codes])


def _landcover(view: View, ctx: _Context) -> _Item | str:
    dominant = view.meta.get("landcover_dominant")
    if not dominant:
        return "meta.landcover_dominant missing"
    shares = view.meta.get("landcover_shares") or {}
    top = shares.get(dominant, 1.0)
    pool = [c for c in ctx.landcover_classes if c != dominant and shares.get(c, 0.0) < top]
    if not pool:
        return "no other land-cover class to offer"
    return _Item(
        "Which land-cover class (IGBP, MODIS 2019) covers the largest share of the area shown?",
        dominant,
        _pick(pool, ctx.k - 1, ctx.rng),
    )


def _coastal(view: View, ctx: _Context) -> _Item | str:
    value = _bool_meta(view, "coastal")
    if isinstance(value, str):
        return value
    correct = "Coastal" if value else "Inland"
    return _Item("Is this place on a coast or inland?", correct, ["Inland" if value else "Coastal"])


def _desert(view: View, ctx: _Context) -> _Item | str:
    value = _bool_meta(view, "desert")
    return (
        value
        if isinstance(value, str)
        else _yes_no("Is this place a desert (at least half of it barren)?", value)
    )


def _mountainous(view: View, ctx: _Context) -> _Item | str:
    value = _bool_meta(view, "mountainous")
    return value if isinstance(value, str) else _yes_no("Is this place mountainous?", value)


def _lat_band(view: View, ctx: _Context) -> _Item | str:
    value = view.meta.get("lat_band") or lat_band(view.lat)
    if value not in LAT_BANDS:
        return "meta.lat_band unknown"
    question = (
        "In which latitude band was this image taken? (tropical: |latitude| < 23.44°; subtropical: 23.44-35°; "
        "temperate: 35-55°; subpolar: 55-66.56°; polar: above 66.56°)"
    )
    return _Item(question, value, _pick([b for b in LAT_BANDS if b != value], ctx.k - 1, ctx.rng))


GENERATORS: dict[str, Callable[[View, _Context], _Item | str]] = {
    "continent": _continent,
    "hemisphere": _hemisphere,
    "near_equator": _near_equator,
    "country": _country,
    "landcover": _landcover,
    "coastal": _coastal,
    "desert": _desert,
    "mountainous": _mountainous,
    "lat_band": _lat_band,
}


def _neighbour_countries(views: list[View], want: int) -> dict[str, list[str]]:
    """Return ``{place: other countries of the nearest places, nearest first}`` (up to ``want`` each)."""
    with_code = [v for v in views if v.meta.get("country_code")]
    if len(with_code) < 2:
        return {}
    index = SphereIndex([v.lat for v in with_code], [v.lon for v in with_code])
    _, nn = index.knn([v.lat for v in with_code], [v.lon for v in with_code], k=min(len(with_code), 100))
    out: dict[str, list[str]] = {}
    for v, row in zip(with_code, nn, strict=True):
        found: list[str] = []
        for j in row.tolist():
            code = with_code[j].meta["country_code"]
            if code != v.meta["country_code"] and code not in found:
                found.append(code)
                if len(found) == want:
                    break
        out[v.place] = found
    return out


def format_question(question: str, options: list[str]) -> str:
    """Return the question text with lettered options and the answer instruction."""
    lines = [
        question,
        *(f"{letter}. {opt}" for letter, opt in zip(option_letters(len(options)), options, strict=True)),
    ]
    return "\n".join([*lines, ANSWER_INSTRUCTION])


def build_questions(
    views: ViewSet,
    config: QuestionsConfig,
    out_dir: str | Path,
    *,
    places: set[str] | None = None,
    split: str = "all",
    progress: Callable[[Any], Any] | None = None,
) -> tuple[list[dict[str, Any]], QuestionsReport]:
    """Return ``(examples, report)``: place questions with image paths relative to ``out_dir``."""
    views.require_kind(config.view, "view")
    rng = np.random.default_rng(config.seed)
    chosen = [
        i for p, i in views.first_of_kind_per_place(config.view).items() if places is None or p in places
    ]
    shown = [views.views[i] for i in chosen]
    country_names: dict[str, str] = {}
    classes: dict[str, None] = {}
    for v in views.views:
        if v.meta.get("country_code"):
            country_names.setdefault(v.meta["country_code"], v.meta.get("country") or v.meta["country_code"])
        for name in [*(v.meta.get("landcover_shares") or {}), v.meta.get("landcover_dominant")]:
            if name:
                classes[name] = None
    ctx = _Context(
        k=config.k,
        rng=rng,
        country_names=country_names,
        neighbour_countries=_neighbour_countries(shown, config.k - 1) if "country" in config.types else {},
        landcover_classes=sorted(classes),
    )
    report = QuestionsReport()
    drafts: list[tuple[int, str, _Item]] = []
    for i in chosen:
        for qtype in config.types:
            item = GENERATORS[qtype](views.views[i], ctx)
            if isinstance(item, str):
                reason = f"{qtype}: {item}"
                report.skipped[reason] = report.skipped.get(reason, 0) + 1
            else:
                drafts.append((i, qtype, item))
    if config.limit is not None and len(drafts) > config.limit:
        report.dropped_by_limit = len(drafts) - config.limit
        keep = np.sort(rng.permutation(len(drafts))[: config.limit])
        drafts = [drafts[j] for j in keep]
    # balanced answer positions within each (question type, number of options) group
    answer_at = np.zeros(len(drafts), dtype=np.int64)
    groups: dict[tuple[str, int], list[int]] = {}
    for j, (_, qtype, item) in enumerate(drafts):
        groups.setdefault((qtype, 1 + len(item.distractors)), []).append(j)
    for (_, n_opts), members in groups.items():
        answer_at[members] = balanced_positions(len(members), n_opts, rng)
    out_dir = Path(out_dir)
    examples = []
    rows = list(zip(drafts, answer_at.tolist(), strict=True))
    for (i, qtype, item), answer in progress(rows) if progress else rows:
        v = views.views[i]
        distractors = _pick(item.distractors, len(item.distractors), rng)
        options = distractors[:answer] + [item.correct] + distractors[answer:]
        examples.append(
            {
                "id": f"question-{qtype}-{v.id}",
                "task": "question",
                "images": [views.image_relative_to(i, out_dir)],
                "prompt": user_prompt(format_question(item.question, options), 1),
                "solution": option_letters(len(options))[answer],
                "meta": {
                    "question_type": qtype,
                    "options": options,
                    "answer": item.correct,
                    "answer_index": answer,
                    "place": v.place,
                    "lat": v.lat,
                    "lon": v.lon,
                    "view_id": v.id,
                    "view": v.view,
                    "split": split,
                    **place_info(v.meta),
                },
            }
        )
        report.by_type[qtype] = report.by_type.get(qtype, 0) + 1
    return examples, report
