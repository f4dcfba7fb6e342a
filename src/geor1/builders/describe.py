"""Single-view instruction data: what a base model should be able to say about one view before it meets
the cross-view pairing task.

Each example shows one view of a place and asks either to describe it (main land cover and continent)
or where it was taken (coordinates), and carries its ``completion`` in Geo-R1's
``<think>…</think><answer>…</answer>`` form, written from the place's metadata:

``<think>satellite view: grassland, Africa.</think><answer>grassland, Africa</answer>``
``<think>grassland, Africa, tropical, north, east.</think><answer>(8.4689, -0.0113)</answer>``

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
from geor1.records import user_prompt

DESCRIBE_QUESTION = "Describe this {view} view: its main land cover and its continent."
INSTRUCTION_KINDS = ("describe", "geolocation")

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
    """Which single-view instructions to build: view kinds shown, instruction kinds, a cap, the seed."""

    views: Sequence[str] = field(default_factory=lambda: ["satellite", "context"])
    kinds: Sequence[str] = INSTRUCTION_KINDS
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


def build_instructions(
    views: ViewSet,
    config: InstructionConfig,
    out_dir: str | Path,
    *,
    places: set[str] | None = None,
    split: str = "all",
) -> list[dict[str, Any]]:
    """Return single-view instruction examples with completions (image paths relative to ``out_dir``):
    for every view of the chosen kinds (of ``places`` when given), one example per instruction kind."""
    for kind in config.views:
        views.require_kind(kind, "views")
    wanted = set(config.views)
    out_dir = Path(out_dir)
    examples: list[dict[str, Any]] = []
    for i, view in enumerate(views.views):
        if view.view not in wanted or (places is not None and view.place not in places):
            continue
        image = views.image_relative_to(i, out_dir)
        meta = {**place_info(view.meta), "place": view.place, "lat": view.lat, "lon": view.lon}
        for kind in config.kinds:
            if kind == "describe":
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
                    "images": [image],
                    "prompt": user_prompt(question, 1),
                    "solution": solution,
                    "completion": [{"role": "assistant", "content": [{"type": "text", "text": completion}]}],
                    "meta": {**meta, "view_id": view.id, "view": view.view, "split": split},
                }
            )
    if config.limit is not None and len(examples) > config.limit:
        keep = np.random.default_rng(config.seed).permutation(len(examples))[: config.limit]
        examples = [examples[j] for j in sorted(keep.tolist())]
    return examples
