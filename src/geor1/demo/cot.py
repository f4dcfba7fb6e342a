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

With ``words="cover_continent"`` each image is described by ``geor1.builders.describe.view_words`` (main
land cover and continent: the words the demo's single-view pretraining teaches):
``<think>query: grassland, Africa. A: cropland, Asia, no. B: grassland, Africa, yes. …``

Geolocation examples get the same treatment, coarse to fine from the place's metadata:
``<think>query: grassland. tropical, south, east, Africa.</think><answer>(-12.3456, 30.1234)</answer>``
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from geor1.builders.describe import cover_word, view_words
from geor1.cot.places import PlaceLookup
from geor1.cot.teachers.base import TeacherJob, TeacherResult
from geor1.cot.teachers.template import Abstain, Explanation, TemplateTeacher
from geor1.parsing import OPTION_LETTERS


def verdicts(explanation: Explanation) -> dict[str, bool]:
    """Return ``{candidate letter: matches the query}`` from the teacher's verdict claims."""
    return {c.subject: c.value == "match" for c in explanation.claims if c.key == "verdict"}


COT_WORDS = ("cover", "cover_continent")


def describe(meta: Mapping[str, Any], words: str = "cover") -> str:
    """Return how a compact trace names one image: its cover word, or cover and continent."""
    return view_words(meta) if words == "cover_continent" else cover_word(meta)


def compact_think(
    example: Mapping[str, Any], explanation: Explanation, teacher: TemplateTeacher, words: str = "cover"
) -> str:
    """Return the compact thinking text for a pairing example the teacher explained."""
    meta = example.get("meta") or {}
    query = teacher.place_meta(meta, meta.get("place")) or {}
    clauses = [f"query: {describe(query, words)}"]
    judged = verdicts(explanation)
    for i, place in enumerate(meta.get("candidate_places") or []):
        letter = OPTION_LETTERS[i]
        cand = teacher.place_meta(meta, place) or {}
        clauses.append(f"{letter}: {describe(cand, words)}, {'yes' if judged.get(letter) else 'no'}")
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

    def __init__(self, places: PlaceLookup | None = None, words: str = "cover"):
        if words not in COT_WORDS:
            raise ValueError(f"words: expected one of {', '.join(COT_WORDS)}, got {words!r}")
        self.inner = TemplateTeacher(places)
        self.words = words

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
                    compact_think(job.example, explanation, self.inner, self.words)
                    if task == "pairing"
                    else compact_geolocation_think(job.example, self.inner)
                )
                text = f"<think>{think}</think><answer>{explanation.answer}</answer>"
            else:
                text = explanation.completion
            yield TeacherResult(job, text=text, claims=explanation.claims)
