"""Single-view instruction data: what a base model should be able to say about one view before it meets
the cross-view pairing task.

Each example shows one view of a place and asks either to describe it (main land cover and continent)
or where it was taken (coordinates), and carries its ``completion`` in Geo-R1's
``<think>…</think><answer>…</answer>`` form, written from the place's metadata:

``<think>satellite view: grassland, Africa.</think><answer>grassland, Africa</answer>``
``<think>grassland, Africa, tropical, north, east.</think><answer>(8.4689, -0.0113)</answer>``

The ``choose`` kind shows four views of four places with different land covers, asks which one shows a
named cover, and answers with a letter after one clause per view, in the demo's compact pairing trace
form (the named cover stands where a pairing trace describes the query image):

``<think>query: water. A: grassland, no. B: water, yes. C: barren, no. D: cropland, no.</think><answer>B</answer>``

It teaches a base model to read several images in one prompt and answer a multiple-choice question
with a letter, still without any cross-view pairing.

The description words (``view_words``) are the same ones the demo's compact pairing traces use per
image, so a model that learned them here can compare views in those words later. The examples are SFT
data (``geo-r1 sft`` reads the ``completion``); built from the places given only (the demo passes its
training places), and there is no pairing example among them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geor1.builders.common import ViewSet, place_info
from geor1.builders.geolocation import QUESTION as GEOLOCATION_QUESTION
from geor1.builders.geolocation import format_coordinates
from geor1.errors import ConfigError
from geor1.parsing import OPTION_LETTERS
from geor1.records import user_prompt

DESCRIBE_QUESTION = "Describe this {view} view: its main land cover and its continent."
CHOOSE_QUESTION = "Which candidate's main land cover is {cover}? Answer with the letter of the candidate."
INSTRUCTION_KINDS = ("describe", "geolocation", "choose")
# The instruction kinds built when none are named: the single-view ones.
SINGLE_VIEW_KINDS = ("describe", "geolocation")
CHOOSE_K = 4

# Short names of the MODIS IGBP land-cover classes, one or two words each.
SHORT_CLASS = {
    "Water Bodies": "water",
    "Evergreen Needleleaf Forests": "conifer forest",
    "Evergreen Broadleaf Forests": "rainforest",
    "Deciduous Needleleaf Forests": "larch forest",
    "Deciduous Broadleaf Forests": "broadleaf forest",
    "Mixed Forests": "mixed forest",
    "Closed Shrublands": "shrubland",
    "Open Shrublands": "open shrubland",
    "Woody Savannas": "woody savanna",
    "Savannas": "savanna",
    "Grasslands": "grassland",
    "Permanent Wetlands": "wetland",
    "Croplands": "cropland",
    "Urban and Built-up Lands": "urban",
    "Cropland/Natural Vegetation Mosaics": "crop mosaic",
    "Permanent Snow and Ice": "snow",
    "Barren": "barren",
}


def cover_word(meta: Mapping[str, Any]) -> str:
    """Return the short name of a place's dominant land cover ("unknown" without metadata)."""
    name = meta.get("landcover_dominant")
    if not isinstance(name, str) or not name:
        return "unknown"
    return SHORT_CLASS.get(name, name.lower())


def view_words(meta: Mapping[str, Any]) -> str:
    """Return the words that describe a place as seen in one view: ``"<cover>, <continent>"``."""
    continent = meta.get("continent")
    return f"{cover_word(meta)}, {continent if isinstance(continent, str) and continent else 'unknown'}"


def where_words(meta: Mapping[str, Any]) -> str:
    """Return the coarse-to-fine location words of a place: latitude band and hemispheres, when known."""
    where = [meta.get(key) for key in ("lat_band", "hemisphere_ns", "hemisphere_ew")]
    return ", ".join(w for w in where if isinstance(w, str) and w)


@dataclass
class InstructionConfig:
    """Which instructions to build: view kinds shown, instruction kinds (``choose`` is opt-in), a cap, the
    seed."""

    views: Sequence[str] = field(default_factory=lambda: ["satellite", "context"])
    kinds: Sequence[str] = SINGLE_VIEW_KINDS
    seed: int = 0
    limit: int | None = None

    def __post_init__(self) -> None:
        if not self.views:
            raise ConfigError("views", "needs at least one view kind")
        unknown = [k for k in self.kinds if k not in INSTRUCTION_KINDS]
        if unknown or not self.kinds:
            raise ConfigError(
                "kinds", f"must be among {', '.join(INSTRUCTION_KINDS)}, got {list(self.kinds)}"
            )


def describe_completion(meta: Mapping[str, Any], view: str) -> str:
    """Return the completion of a describe instruction for a view of a place with ``meta``."""
    words = view_words(meta)
    return f"<think>{view} view: {words}.</think><answer>{words}</answer>"


def geolocation_completion(meta: Mapping[str, Any], lat: float, lon: float) -> str:
    """Return the completion of a geolocation instruction: description, then coarse location, then the
    coordinates."""
    where = where_words(meta)
    think = f"{view_words(meta)}, {where}." if where else f"{view_words(meta)}."
    return f"<think>{think}</think><answer>{format_coordinates(lat, lon)}</answer>"


def choose_completion(asked: str, covers: Sequence[str], answer: int) -> str:
    """Return the completion of a choose instruction: the asked cover, each candidate's cover with its
    verdict, then the letter of the one that shows it."""
    clauses = [f"query: {asked}"] + [
        f"{OPTION_LETTERS[j]}: {cover}, {'yes' if j == answer else 'no'}" for j, cover in enumerate(covers)
    ]
    return f"<think>{'. '.join(clauses)}.</think><answer>{OPTION_LETTERS[answer]}</answer>"


def _choose_views(
    views: ViewSet, i: int, pool: Sequence[int], rng: np.random.Generator
) -> tuple[list[int], int] | None:
    """Return the candidate view indices of a choose instruction for view ``i`` (``i`` among views of
    ``CHOOSE_K - 1`` other places of the pool whose covers all differ) and the answer's position, or None
    when the pool holds too few distinct covers."""
    covers = {cover_word(views.views[i].meta)}
    chosen: list[int] = []
    for j in rng.permutation(len(pool)).tolist():
        candidate = views.views[pool[j]]
        cover = cover_word(candidate.meta)
        if cover in covers or candidate.place == views.views[i].place:
            continue
        covers.add(cover)
        chosen.append(pool[j])
        if len(chosen) == CHOOSE_K - 1:
            answer = int(rng.integers(CHOOSE_K))
            return chosen[:answer] + [i] + chosen[answer:], answer
    return None


def build_instructions(
    views: ViewSet,
    config: InstructionConfig,
    out_dir: str | Path,
    *,
    places: set[str] | None = None,
    split: str = "all",
) -> list[dict[str, Any]]:
    """Return instruction examples with completions (image paths relative to ``out_dir``): for every
    view of the chosen kinds (of ``places`` when given), one example per instruction kind; a choose
    example shows that view among views of the same kind of other places of ``places``."""
    for kind in config.views:
        views.require_kind(kind, "views")
    wanted = set(config.views)
    out_dir = Path(out_dir)
    rng = np.random.default_rng(config.seed)
    chosen = [
        i
        for i, view in enumerate(views.views)
        if view.view in wanted and (places is None or view.place in places)
    ]
    pools = {kind: [i for i in chosen if views.views[i].view == kind] for kind in wanted}
    examples: list[dict[str, Any]] = []
    for i in chosen:
        view = views.views[i]
        image = views.image_relative_to(i, out_dir)
        meta = {**place_info(view.meta), "place": view.place, "lat": view.lat, "lon": view.lon}
        for kind in config.kinds:
            images, labels, extra = [image], None, {}
            if kind == "choose":
                drawn = _choose_views(views, i, pools[view.view], rng)
                if drawn is None:
                    continue
                shown, answer = drawn
                covers = [cover_word(views.views[j].meta) for j in shown]
                images = [views.image_relative_to(j, out_dir) for j in shown]
                labels = [f"Candidate {OPTION_LETTERS[j]} ({view.view} view):" for j in range(CHOOSE_K)]
                question = CHOOSE_QUESTION.format(cover=covers[answer])
                completion = choose_completion(covers[answer], covers, answer)
                solution = OPTION_LETTERS[answer]
                extra = {"answer_index": answer, "candidate_ids": [views.views[j].id for j in shown]}
            elif kind == "describe":
                question = DESCRIBE_QUESTION.format(view=view.view)
                completion = describe_completion(view.meta, view.view)
                solution = view_words(view.meta)
            else:
                question = GEOLOCATION_QUESTION
                completion = geolocation_completion(view.meta, view.lat, view.lon)
                solution = format_coordinates(view.lat, view.lon)
            examples.append(
                {
                    "id": f"{kind}-{view.id}",
                    "task": kind,
                    "images": images,
                    "prompt": user_prompt(question, len(images), labels),
                    "solution": solution,
                    "completion": [{"role": "assistant", "content": [{"type": "text", "text": completion}]}],
                    "meta": {**meta, "view_id": view.id, "view": view.view, "split": split, **extra},
                }
            )
    if config.limit is not None and len(examples) > config.limit:
        keep = np.random.default_rng(config.seed).permutation(len(examples))[: config.limit]
        examples = [examples[j] for j in sorted(keep.tolist())]
    return examples
