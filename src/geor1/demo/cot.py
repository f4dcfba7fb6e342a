"""Compact scaffolding traces for the demo: the template teacher's verified pairing rationale, one short
clause per image.

The template teacher (``geor1.cot.teachers.template``) writes ~150-word prose (≈370 tokens of the tiny
model's tokenizer). A model with a few hundred thousand weights spends its SFT budget on the phrasing,
and GRPO rollouts that long cost seconds per step on a CPU. The compact style keeps the same steps and
facts — visual cue of the query, per-candidate evidence, verdict, answer — from the same metadata, and
only writes the teacher's explanation when the teacher itself did not abstain (so every verdict is one
the teacher could justify):

``<think>query: grasslands, flat. A: croplands, no. B: grasslands, yes. C: barren, no. D: water, no.
</think><answer>B</answer>``

Geolocation examples get the same treatment, coarse to fine from the place's metadata:
``<think>query: grassland. tropical, south, east, Africa.</think><answer>(-12.3456, 30.1234)</answer>``
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from geor1.cot.places import PlaceLookup
from geor1.cot.teachers.base import TeacherJob, TeacherResult
from geor1.cot.teachers.template import Abstain, Explanation, TemplateTeacher

# Short names for MODIS IGBP classes (the tokenizer sees each as one to three tokens).
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


def verdicts(explanation: Explanation) -> dict[str, bool]:
    """Return ``{candidate letter: matches the query}`` from the teacher's verdict claims."""
    return {c.subject: c.value == "match" for c in explanation.claims if c.key == "verdict"}


def compact_think(example: Mapping[str, Any], explanation: Explanation, teacher: TemplateTeacher) -> str:
    """Return the compact thinking text for a pairing example the teacher explained."""
    meta = example.get("meta") or {}
    query = teacher.place_meta(meta, meta.get("place")) or {}
    clauses = [f"query: {cover_word(query)}"]
    judged = verdicts(explanation)
    for i, place in enumerate(meta.get("candidate_places") or []):
        letter = chr(ord("A") + i)
        cand = teacher.place_meta(meta, place) or {}
        clauses.append(f"{letter}: {cover_word(cand)}, {'yes' if judged.get(letter) else 'no'}")
    return ". ".join(clauses) + "."


def compact_geolocation_think(example: Mapping[str, Any], teacher: TemplateTeacher) -> str:
    """Return the compact thinking text for a geolocation example: the query's cover word, then its
    latitude band, hemispheres and continent (coarse to fine), each only when the metadata holds it."""
    meta = example.get("meta") or {}
    place = teacher.place_meta(meta, meta.get("place")) or {}
    where = [place.get(key) for key in ("lat_band", "hemisphere_ns", "hemisphere_ew", "continent")]
    return f"query: {cover_word(place)}. " + ", ".join(w for w in where if isinstance(w, str) and w) + "."


class CompactTemplateTeacher:
    """A teacher (``geor1.cot`` protocol) that writes the template teacher's pairing rationale compactly;
    other tasks pass through in the template teacher's own words."""

    name = "template-compact"

    def __init__(self, places: PlaceLookup | None = None):
        self.inner = TemplateTeacher(places)

    def describe(self) -> dict[str, Any]:
        """Return the teacher's description for the run log."""
        return {"name": self.name, "places": len(self.inner.places)}

    def close(self) -> None:
        """Nothing to release."""

    def generate(self, jobs: Sequence[TeacherJob]) -> Iterator[TeacherResult]:
        """Yield one result per job: the compact completion, or the template teacher's abstention."""
        for job in jobs:
            try:
                explanation = self.inner.explain(job.example, job.seed)
            except Abstain as exc:
                yield TeacherResult(job, abstain=str(exc))
                continue
            task = job.example.get("task")
            if task in ("pairing", "geolocation"):
                think = (
                    compact_think(job.example, explanation, self.inner)
                    if task == "pairing"
                    else compact_geolocation_think(job.example, self.inner)
                )
                text = f"<think>{think}</think><answer>{explanation.answer}</answer>"
            else:
                text = explanation.completion
            yield TeacherResult(job, text=text, claims=explanation.claims)
