"""Template teacher: every stated fact is checked against the Earth metadata, independently of the teacher.

The Earth here is a real (small) offline Earth build with real pairing, geolocation and question tasks.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from geor1.cot.places import PlaceLookup, named_places_file
from geor1.cot.teachers.base import TeacherJob, derive_seed
from geor1.cot.teachers.template import Abstain, Claim, TemplateTeacher
from geor1.geo import haversine_km
from geor1.io import read_jsonl, write_jsonl

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def earth(tmp_path_factory) -> dict[str, Any]:
    """A 40-place offline Earth with pairing (three view pairs, both directions), geolocation and questions."""
    from geor1.builders.common import load_view_set
    from geor1.builders.geolocation import GeolocationConfig, build_geolocation
    from geor1.builders.pairing import PairingConfig, build_pairing
    from geor1.builders.questions import QuestionsConfig, build_questions
    from geor1.sources.earth import build_earth

    root = tmp_path_factory.mktemp("earth")
    manifest = build_earth(root / "earth", places=40, size_px=32, progress=False)
    views = load_view_set(manifest)
    tasks = root / "tasks"
    examples: list[dict[str, Any]] = []
    for i, (q, c) in enumerate(
        [("satellite", "terrain"), ("satellite", "landcover"), ("landcover", "terrain")]
    ):
        config = PairingConfig(query_view=q, candidate_view=c, band="easy", direction="both", seed=i)
        examples += build_pairing(views, config, tasks)[0]
    examples += build_geolocation(views, GeolocationConfig(views=["satellite", "terrain"]), tasks)
    examples += build_questions(views, QuestionsConfig(view="satellite"), tasks)[0]
    path = write_jsonl_file(tasks / "tasks.jsonl", examples)
    places = PlaceLookup.from_jsonl(root / "earth" / "places.jsonl")
    return {"examples": examples, "path": path, "places": places, "root": root}


def write_jsonl_file(path: Path, rows: list[dict[str, Any]]) -> Path:
    write_jsonl(path, rows)
    return path


# ------------------------------------------------------------------ an independent fact checker


def pct(x: float) -> int:
    return int(round(100 * x))


def share(meta: Mapping[str, Any], name: str) -> float:
    return float((meta.get("landcover_shares") or {}).get(name, 0.0))


def check_claim(
    claim: Claim, example: dict[str, Any], metas: dict[str, Mapping[str, Any]], claims: list[Claim]
) -> None:
    """Assert that one claim is true of the metadata (``metas`` maps subjects to place metadata)."""
    key, value, text = claim.key, claim.value, claim.text
    if claim.subject == "answer":
        if key == "answer":
            assert value == example["solution"]
            meta = example["meta"]
            assert meta["candidate_places"][ord(value) - ord("A")] == meta["place"]
        elif key == "coords":
            lat, lon = value
            assert haversine_km(lat, lon, example["meta"]["lat"], example["meta"]["lon"]) < 1.0
        elif key == "option":
            letter, option = value
            assert letter == example["solution"]
            assert example["meta"]["options"][ord(letter) - ord("A")] == option == example["meta"]["answer"]
        else:
            raise AssertionError(f"unknown answer claim {claim}")
        return
    meta = metas[claim.subject]
    query = metas.get("query")
    if key == "landcover_dominant":
        name, p = value
        assert meta["landcover_dominant"] == name
        assert p == pct(meta["landcover_dominant_share"])
        assert name.lower() in text and f"{p}%" in text
        if "mostly" in text or "majority" in text:
            assert p >= 50
        if "almost entirely" in text or "nearly all" in text:
            assert p >= 90
    elif key == "landcover_share":
        name, p = value
        assert name != meta["landcover_dominant"] and p == pct(share(meta, name)) and f"{p}%" in text
    elif key == "water_share":
        assert value == pct(meta["water_share"])
        assert (f"{value}%" in text) if value else ("no" in text)
    elif key in (
        "coastal",
        "desert",
        "mountainous",
        "lat_band",
        "hemisphere_ns",
        "hemisphere_ew",
        "continent",
    ):
        assert meta[key] == value
        if key == "coastal":
            assert ("no " in text) != value
        if key == "mountainous":
            assert bool(re.search(r"rugged|mountain|steep", text)) == value
    elif key in ("country", "place_name"):
        assert meta[key] == value and value in text
    elif key == "near_equator":
        assert meta["near_equator"] is value
    elif key.startswith(("same:", "differs:")):
        relation, cue = key.split(":")
        assert query is not None and claim.subject != "query"
        if cue == "landcover_dominant":
            q, c = value
            assert (q, c) == (query["landcover_dominant"], meta["landcover_dominant"])
            assert (q == c) == (relation == "same")
        elif cue == "landcover_share":
            name, qp, cp = value
            assert name == query["landcover_dominant"]
            assert (qp, cp) == (pct(share(query, name)), pct(share(meta, name)))
            assert abs(qp - cp) <= 5 if relation == "same" else abs(qp - cp) >= 10
        elif cue == "water_share":
            qp, cp = value
            assert (qp, cp) == (pct(query["water_share"]), pct(meta["water_share"]))
            assert abs(qp - cp) <= 5 if relation == "same" else abs(qp - cp) >= 10
        elif cue in ("coastal", "desert", "mountainous"):
            q, c = value
            assert (q, c) == (query[cue], meta[cue])
            assert (q == c) == (relation == "same")
        elif cue == "relief_roughness":
            q, c = value
            assert (q, c) == (query["relief_roughness"], meta["relief_roughness"])
            low, high = sorted((q, c))
            assert relation == "differs" and high >= 1.5 * low and high - low >= 3
            assert ("rougher" in text) == (c > q)
        else:
            raise AssertionError(f"unknown cue in {claim}")
    elif key == "verdict":
        own = [c for c in claims if c.subject == claim.subject]
        if value == "mismatch":
            assert any(c.key.startswith("differs:") for c in own), claim
            assert claim.subject != example["solution"]
        else:
            assert value == "match" and claim.subject == example["solution"]
            assert not any(c.key.startswith("differs:") for c in own)
    else:
        raise AssertionError(f"unknown claim {claim}")


IGBP_WORDS = (
    "water forest needleleaf broadleaf deciduous evergreen mixed shrubland savanna grassland wetland cropland "
    "urban built snow ice barren vegetation mosaic"
).split()
FACT_WORDS = (
    IGBP_WORDS
    + (
        "coast coastline inland desert relief rugged flat gentle mountain mountainous rough rougher smooth "
        "smoother low tropical subtropical temperate subpolar polar northern southern hemisphere equator meridian "
        "east west africa antarctica asia europe america oceania"
    ).split()
)


def subjects_meta(example: dict[str, Any], teacher: TemplateTeacher) -> dict[str, Mapping[str, Any]]:
    meta = example["meta"]
    place = teacher.places.get(meta["place"])
    assert place is not None
    if example["task"] != "pairing":
        return {"place": place}
    out = {"query": place}
    for i, cand in enumerate(meta["candidate_places"]):
        out[chr(ord("A") + i)] = teacher.places.get(cand)
    return out


CUE_VOCAB = {
    "water_share": {"water"},
    "coastal": {"coast", "coastline"},
    "desert": {"desert", "barren"},
    "mountainous": {"rugged", "mountain", "mountainous", "steep", "low", "gentle", "flat", "relief"},
    "relief_roughness": {"rougher", "smoother", "relief"},
    "hemisphere_ns": {"northern", "southern", "hemisphere"},
    "hemisphere_ew": {"east", "west", "meridian"},
    "near_equator": {"equator"},
}


def value_words(value: Any) -> set[str]:
    if isinstance(value, (list, tuple)):
        return set().union(*(value_words(v) for v in value)) if value else set()
    return set(re.findall(r"[a-z]+", str(value).lower())) if isinstance(value, str) else set()


def value_numbers(value: Any) -> set[str]:
    if isinstance(value, (list, tuple)):
        return set().union(*(value_numbers(v) for v in value)) if value else set()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return set()
    return {str(int(value))} if float(value).is_integer() else {str(value)}


def check_claim_words(claim: Claim, names: set[str]) -> None:
    """Assert a claim's own words state no fact beyond its value: every fact word and number in its
    text comes from the value or the vocabulary of its cue."""
    if claim.subject == "answer" or not claim.text:
        return
    cue = claim.key.split(":")[-1]
    allowed = value_words(claim.value) | CUE_VOCAB.get(cue, set())
    text = claim.text.lower()
    for word in FACT_WORDS + sorted(names):
        supported = all(any(a.startswith(w) for a in allowed) for w in word.split())
        if re.search(rf"\b{re.escape(word)}", text) and not supported:
            # class names like "broadleaf" come from the value; anything else is an unverified fact
            raise AssertionError(f"{claim}: {word!r} is not supported by the claim's value")
    numbers = set(re.findall(r"\d+(?:\.\d+)?", text))
    assert numbers <= value_numbers(claim.value), f"{claim}: numbers {numbers - value_numbers(claim.value)}"


def leftover_text(think: str, claims: list[Claim]) -> str:
    """Return the thinking text with every claim's words removed (what must carry no fact)."""
    for claim in claims:
        if claim.text:
            assert claim.text in think, f"claim text {claim.text!r} not in the reasoning"
            think = think.replace(claim.text, " ", 1)
    return think


def test_every_stated_fact_matches_the_metadata(earth) -> None:
    teacher = TemplateTeacher(earth["places"])
    written = {"pairing": 0, "geolocation": 0, "question": 0}
    abstained = 0
    for example in earth["examples"]:
        metas = subjects_meta(example, teacher)
        names = {str(m.get(k, "")).lower() for m in metas.values() if m for k in ("country", "place_name")}
        for seed in SEEDS:
            try:
                explanation = teacher.explain(example, derive_seed(seed, example["id"], 0))
            except Abstain:
                abstained += 1
                continue
            written[example["task"]] += 1
            assert explanation.answer == example["solution"]
            assert (
                explanation.completion
                == f"<think>{explanation.think}</think><answer>{example['solution']}</answer>"
            )
            for claim in explanation.claims:
                check_claim(claim, example, metas, explanation.claims)
                check_claim_words(claim, names)
            rest = leftover_text(explanation.think, explanation.claims).lower()
            assert not re.search(r"\d", rest), rest
            for word in FACT_WORDS + sorted(n for n in names if len(n) > 3):
                assert not re.search(rf"\b{re.escape(word)}", rest), (
                    f"{word!r} stated outside a claim: {rest}"
                )
            if example["task"] == "pairing":
                check_pairing_shape(explanation.think, explanation.claims, example["solution"])
    assert all(n > 20 for n in written.values()), written
    assert abstained < sum(written.values())


def check_pairing_shape(think: str, claims: list[Claim], answer: str) -> None:
    """Visual cues of the query, then candidates, then geography, then the answer; each candidate's claims
    sit in a sentence that names that candidate."""
    visual = [think.index(c.text) for c in claims if c.subject == "query" and c.key not in GEO_KEYS]
    evidence = [think.index(c.text) for c in claims if len(c.subject) == 1 and c.text]
    geo = [think.index(c.text) for c in claims if c.key in GEO_KEYS]
    assert max(visual) < min(evidence)
    if geo:
        assert max(evidence) < min(geo)
    sentences = re.split(r"(?<=\.)\s+", think.strip())
    assert re.search(rf"\b{answer}\b", sentences[-1]), sentences[-1]
    for claim in claims:
        if len(claim.subject) == 1 and claim.text:
            assert any(claim.text in s and re.search(rf"\b{claim.subject}\b", s) for s in sentences), claim


GEO_KEYS = {
    "lat_band",
    "near_equator",
    "hemisphere_ns",
    "hemisphere_ew",
    "continent",
    "country",
    "place_name",
}


def test_phrasing_varies_with_seed_and_is_deterministic(earth) -> None:
    teacher = TemplateTeacher(earth["places"])
    pairing = [e for e in earth["examples"] if e["task"] == "pairing"]
    varied = 0
    checked = 0
    for example in pairing[:30]:
        try:
            texts = [teacher.explain(example, seed).think for seed in range(8)]
        except Abstain:
            continue
        checked += 1
        assert teacher.explain(example, 3).think == texts[3]
        varied += len(set(texts)) >= 4
    assert checked >= 10 and varied >= checked * 0.8
    # Openers and cue order vary across examples too.
    openers = set()
    for example in pairing:
        try:
            openers.add(teacher.explain(example, 0).think.split(":")[0].split(",")[0][:25])
        except Abstain:
            pass
    assert len(openers) >= 3


def test_generate_yields_one_result_per_job_and_abstains_without_metadata(earth) -> None:
    example = next(e for e in earth["examples"] if e["task"] == "pairing")
    bare = TemplateTeacher()  # no place lookup: candidates have no metadata
    jobs = [TeacherJob(example, 0, 1), TeacherJob(example, 1, 2)]
    results = list(bare.generate(jobs))
    assert [r.job for r in results] == jobs
    assert all(r.abstain and "no Earth metadata" in r.abstain and r.text is None for r in results)


def synthetic_pairing(
    query: dict[str, Any], others: list[dict[str, Any]]
) -> tuple[dict[str, Any], PlaceLookup]:
    metas = {"q": query, **{f"p{i}": m for i, m in enumerate(others)}}
    example = {
        "id": "syn",
        "task": "pairing",
        "images": [],
        "prompt": [],
        "solution": "A",
        "meta": {
            "place": "q",
            "query_view": "satellite",
            "candidate_view": "terrain",
            "candidate_places": ["q", *[f"p{i}" for i in range(len(others))]],
        },
    }
    return example, PlaceLookup(metas)


def place_meta(**overrides: Any) -> dict[str, Any]:
    meta = {
        "landcover_shares": {"Croplands": 0.6, "Grasslands": 0.4},
        "landcover_dominant": "Croplands",
        "landcover_dominant_share": 0.6,
        "water_share": 0.0,
        "land_share": 1.0,
        "coastal": False,
        "desert": False,
        "mountainous": False,
        "relief_roughness": 5.0,
        "lat_band": "temperate",
        "hemisphere_ns": "north",
        "hemisphere_ew": "east",
        "continent": "Europe",
        "country": "France",
    }
    meta.update(overrides)
    return meta


def test_abstains_when_no_visible_cue_separates_a_distractor() -> None:
    # Satellite vs terrain compares relief, water and coast only: a distractor that differs only in land
    # cover cannot be told apart honestly.
    example, places = synthetic_pairing(
        place_meta(), [place_meta(landcover_dominant="Grasslands"), place_meta(coastal=True)]
    )
    with pytest.raises(Abstain, match="candidate B"):
        TemplateTeacher(places).explain(example, 0)
    example, places = synthetic_pairing(
        place_meta(), [place_meta(mountainous=True, relief_roughness=20.0), place_meta(coastal=True)]
    )
    explanation = TemplateTeacher(places).explain(example, 0)
    keys = {(c.subject, c.key) for c in explanation.claims}
    assert ("B", "differs:mountainous") in keys and ("C", "differs:coastal") in keys
    assert not any(c.key.startswith("differs:landcover") for c in explanation.claims)


def test_abstains_when_the_solution_is_not_the_query_place() -> None:
    example, places = synthetic_pairing(place_meta(), [place_meta(coastal=True)])
    example["solution"] = "B"
    with pytest.raises(Abstain, match="not the query's place"):
        TemplateTeacher(places).explain(example, 0)


def test_the_builder_names_the_places_file(earth, tmp_path) -> None:
    from geor1.builders.common import load_view_set, write_task_set
    from geor1.records import read_task_file

    views = load_view_set(earth["root"] / "earth" / "views.jsonl")
    assert views.places_file() == earth["root"] / "earth" / "places.jsonl"
    task_file = earth["path"].parent / "named.jsonl"  # beside the lines' image paths
    write_task_set(task_file, earth["examples"][:3], places=views.places_file())
    rel = os.path.relpath(earth["root"] / "earth" / "places.jsonl", task_file.parent)
    assert {json.loads(line)["places"] for line in task_file.read_text().splitlines()} == {rel}
    named = named_places_file(task_file)
    assert named == earth["root"] / "earth" / "places.jsonl"
    assert len(read_jsonl(named)) == len(earth["places"])
    assert read_task_file(task_file)[0].places == str(named)
    assert named_places_file(earth["path"]) is None  # lines that name no places file: none is searched for
    # a manifest without a places file beside it names itself (its views carry the place metadata)
    lone = tmp_path / "lone" / "views.jsonl"
    lone.parent.mkdir()
    lone.write_text((earth["root"] / "earth" / "views.jsonl").read_text())
    assert load_view_set(lone).places_file() == lone
