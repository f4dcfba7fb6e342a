"""Template teacher: writes chain-of-thought from an example's Earth metadata, offline and deterministic.

The reasoning follows Geo-R1's shape — visual cues → cross-view evidence → geographic knowledge → answer —
and every fact in it is a :class:`Claim` (subject, key, value, the exact words stating it) taken from the
metadata, so a checker can verify each statement. Text outside the claims is connective phrasing that
carries no fact. Phrasing varies by seed: several templates per step, shuffled cue order, shuffled
candidate order; the same (seed, example, sample) always gives the same text.

When the metadata cannot justify the answer (a distractor that agrees with the query on every cue the
two views show, or missing metadata), the teacher abstains instead of inventing a reason.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from geor1.cot.places import PlaceLookup, has_earth_meta
from geor1.cot.teachers.base import TeacherJob, TeacherResult
from geor1.parsing import OPTION_LETTERS, option_letters

# Cues a view kind lets one read. Relief renderings show relief and water; land-cover maps show cover;
# photographs (satellite, context, aerial, …) show cover and, through texture and shadow, relief.
COVER_CUES = ("landcover", "secondary", "water", "coast", "desert")
PHOTO_CUES = (*COVER_CUES, "relief")
VIEW_CUES: dict[str, tuple[str, ...]] = {
    "terrain": ("relief", "water", "coast"),
    "landcover": COVER_CUES,
}
COMPARABLE_CUES = ("landcover", "share", "water", "coast", "desert", "relief", "roughness")

# Thresholds in percentage points: a difference this large is "different", this small is "similar".
DIFFERENT_PTS = 15
WATER_DIFFERENT_PTS = 10
SIMILAR_PTS = 5
SECONDARY_MIN_PCT = 10
# Relief roughness (grey levels per pixel of the shaded relief): "different" needs both a ratio and a gap.
ROUGHNESS_RATIO = 2.0
ROUGHNESS_GAP = 4.0


@dataclass(frozen=True)
class Claim:
    """One stated fact: ``subject`` ("query", a candidate letter, "place", "answer"), ``key``, ``value``,
    and ``text``, the exact words of the reasoning that state it ("" for a conclusion with no fact words)."""

    subject: str
    key: str
    value: Any
    text: str = ""


@dataclass
class Explanation:
    """A written rationale: the thinking text, the answer, and the claims the text states."""

    think: str
    answer: str
    claims: list[Claim] = field(default_factory=list)

    @property
    def completion(self) -> str:
        """Return the completion in Geo-R1's format."""
        return f"<think>{self.think}</think><answer>{self.answer}</answer>"


class Abstain(Exception):
    """The metadata cannot support a rationale for this example; the message is "cause: details"."""


def pct(share: float | None) -> int:
    """Return a share in [0, 1] as a whole percentage."""
    return int(round(100.0 * float(share or 0.0)))


def _class_name(name: str) -> str:
    return name.lower()


def _hemisphere_word(value: str) -> str:
    return {"north": "northern", "south": "southern", "east": "eastern", "west": "western"}.get(value, value)


def _join(parts: Sequence[str], rng: random.Random) -> str:
    if len(parts) == 1:
        return parts[0]
    last = rng.choice((" and ", ", and ")) if len(parts) > 2 else " and "
    return ", ".join(parts[:-1]) + last + parts[-1]


def view_cues(view_kind: str | None) -> tuple[str, ...]:
    """Return the cues a view of this kind shows (photograph cues for other kinds)."""
    return VIEW_CUES.get(view_kind or "", PHOTO_CUES)


def comparable_cues(query_view: str | None, candidate_view: str | None) -> tuple[str, ...]:
    """Return the cues both views show, as comparison keys (cover share is compared when cover is)."""
    both = set(view_cues(query_view)) & set(view_cues(candidate_view))
    if "landcover" in both:
        both.add("share")
    if "relief" in both:
        both.add("roughness")
    return tuple(cue for cue in COMPARABLE_CUES if cue in both)


# ---------------------------------------------------------------- describing one view


def _shares(meta: Mapping[str, Any]) -> dict[str, float]:
    shares = meta.get("landcover_shares")
    return {str(k): float(v) for k, v in shares.items()} if isinstance(shares, Mapping) else {}


def _dominant(meta: Mapping[str, Any]) -> tuple[str, int] | None:
    name = meta.get("landcover_dominant")
    if not isinstance(name, str) or not name:
        return None
    share = meta.get("landcover_dominant_share")
    if share is None:
        share = _shares(meta).get(name)
    if share is None:
        return None
    return name, pct(share)


def _secondary(meta: Mapping[str, Any]) -> tuple[str, int] | None:
    dominant = meta.get("landcover_dominant")
    ranked = sorted(
        (
            (share, name)
            for name, share in _shares(meta).items()
            if name != dominant and "water" not in name.lower()
        ),
        reverse=True,
    )
    if ranked and pct(ranked[0][0]) >= SECONDARY_MIN_PCT:
        return ranked[0][1], pct(ranked[0][0])
    return None


def _water_pct(meta: Mapping[str, Any]) -> int | None:
    share = meta.get("water_share")
    return None if share is None else pct(share)


def describe_cue(subject: str, cue: str, meta: Mapping[str, Any], rng: random.Random) -> Claim | None:
    """Return the claim describing one cue of a place (None if the metadata lacks it or it says nothing)."""
    if cue == "landcover":
        dominant = _dominant(meta)
        if dominant is None:
            return None
        name, p = dominant
        c = _class_name(name)
        if p >= 90:
            options = [f"almost entirely {c} (about {p}%)", f"{c} over nearly all of the area (about {p}%)"]
        elif p >= 50:
            options = [
                f"mostly {c} (about {p}%)",
                f"{c} over about {p}% of the area",
                f"a majority of {c} ({p}% or so)",
            ]
        else:
            options = [f"a mix led by {c} (about {p}%)", f"{c} as the largest cover, about {p}%"]
        return Claim(subject, "landcover_dominant", [name, p], rng.choice(options))
    if cue == "secondary":
        secondary = _secondary(meta)
        if secondary is None:
            return None
        name, p = secondary
        c = _class_name(name)
        return Claim(
            subject,
            "landcover_share",
            [name, p],
            rng.choice([f"some {c} (about {p}%)", f"patches of {c} (about {p}%)"]),
        )
    if cue == "water":
        p = _water_pct(meta)
        if p is None:
            return None
        if p == 0:
            return Claim(subject, "water_share", 0, rng.choice(["no open water", "no visible open water"]))
        options = [f"about {p}% open water", f"open water over about {p}% of the scene"]
        return Claim(subject, "water_share", p, rng.choice(options))
    if cue == "coast":
        coastal = meta.get("coastal")
        if not isinstance(coastal, bool):
            return None
        options = ["a coastline", "a stretch of coast"] if coastal else ["no coastline", "no coast in sight"]
        return Claim(subject, "coastal", coastal, rng.choice(options))
    if cue == "desert":
        if meta.get("desert") is not True:
            return None
        return Claim(
            subject, "desert", True, rng.choice(["barren, desert-like ground", "dry, desert-like terrain"])
        )
    if cue == "relief":
        mountainous = meta.get("mountainous")
        if not isinstance(mountainous, bool):
            return None
        if mountainous:
            options = ["rugged, mountainous relief", "steep, broken mountain terrain"]
        else:
            options = ["low, gentle relief", "fairly flat relief"]
        return Claim(subject, "mountainous", mountainous, rng.choice(options))
    raise ValueError(f"unknown cue {cue!r}")


def describe_view(
    subject: str, view_kind: str | None, meta: Mapping[str, Any], rng: random.Random
) -> list[Claim]:
    """Return the claims describing what a view of this kind shows, in shuffled order."""
    cues = list(view_cues(view_kind))
    if str(meta.get("landcover_dominant", "")).lower().startswith("water") and "landcover" in cues:
        cues.remove("water")  # the dominant-cover sentence already gives the water share
    rng.shuffle(cues)
    claims = [describe_cue(subject, cue, meta, rng) for cue in cues]
    return [claim for claim in claims if claim is not None]


# ---------------------------------------------------------------- comparing two views


def compare_cue(
    letter: str, cue: str, query: Mapping[str, Any], cand: Mapping[str, Any], rng: random.Random
) -> Claim | None:
    """Return a claim that candidate ``letter`` agrees (key ``same:…``) or disagrees (``differs:…``) with
    the query on ``cue``, or None when the metadata lacks the cue or the difference is in between."""
    if cue == "landcover":
        q, c = query.get("landcover_dominant"), cand.get("landcover_dominant")
        if not (isinstance(q, str) and isinstance(c, str)):
            return None
        if q == c:
            text = rng.choice(
                [f"the same main cover ({_class_name(c)})", f"{_class_name(c)} as its main cover too"]
            )
            return Claim(letter, "same:landcover_dominant", [q, c], text)
        text = rng.choice(
            [
                f"{_class_name(c)} as its main cover instead of {_class_name(q)}",
                f"a main cover of {_class_name(c)}, not {_class_name(q)}",
            ]
        )
        return Claim(letter, "differs:landcover_dominant", [q, c], text)
    if cue == "share":
        name = query.get("landcover_dominant")
        if not isinstance(name, str) or not _shares(query):
            return None
        qp, cp = pct(_shares(query).get(name, 0.0)), pct(_shares(cand).get(name, 0.0))
        c = _class_name(name)
        if abs(qp - cp) >= DIFFERENT_PTS:
            if cp == 0:
                text = f"hardly any {c} against {qp}% in the query"
            elif cp < qp:
                text = f"only about {cp}% {c} against {qp}% in the query"
            else:
                text = f"about {cp}% {c} against only {qp}% in the query"
            return Claim(letter, "differs:landcover_share", [name, qp, cp], text)
        if abs(qp - cp) <= SIMILAR_PTS:
            return Claim(
                letter,
                "same:landcover_share",
                [name, qp, cp],
                f"a similar share of {c} (about {cp}% vs {qp}%)",
            )
        return None
    if cue == "water":
        qp, cp = _water_pct(query), _water_pct(cand)
        if qp is None or cp is None:
            return None
        if abs(qp - cp) >= WATER_DIFFERENT_PTS:
            if cp == 0:
                text = f"no open water against about {qp}% in the query"
            else:
                text = f"about {cp}% open water against {qp}% in the query"
            return Claim(letter, "differs:water_share", [qp, cp], text)
        if abs(qp - cp) <= SIMILAR_PTS:
            text = (
                "no open water either" if qp == cp == 0 else f"a similar amount of open water (about {cp}%)"
            )
            return Claim(letter, "same:water_share", [qp, cp], text)
        return None
    if cue == "coast":
        q, c = query.get("coastal"), cand.get("coastal")
        if not (isinstance(q, bool) and isinstance(c, bool)):
            return None
        if q == c:
            text = (
                rng.choice(["a coastline as well", "a coast like the query"]) if c else "no coastline either"
            )
            return Claim(letter, "same:coastal", [q, c], text)
        text = "a coastline the query does not have" if c else "no coastline, unlike the query"
        return Claim(letter, "differs:coastal", [q, c], text)
    if cue == "desert":
        q, c = query.get("desert"), cand.get("desert")
        if not (isinstance(q, bool) and isinstance(c, bool)) or (q is False and c is False):
            return None
        if q == c:
            return Claim(letter, "same:desert", [q, c], "the same desert-like ground")
        text = "desert-like ground the query lacks" if c else "none of the query's desert-like ground"
        return Claim(letter, "differs:desert", [q, c], text)
    if cue == "relief":
        q, c = query.get("mountainous"), cand.get("mountainous")
        if not (isinstance(q, bool) and isinstance(c, bool)):
            return None
        if q == c:
            return Claim(
                letter, "same:mountainous", [q, c], "equally rugged relief" if c else "equally low relief"
            )
        text = "rugged relief where the query is low" if c else "low relief where the query is rugged"
        return Claim(letter, "differs:mountainous", [q, c], text)
    if cue == "roughness":
        q, c = query.get("relief_roughness"), cand.get("relief_roughness")
        if not (isinstance(q, (int, float)) and isinstance(c, (int, float))):
            return None
        low, high = sorted((float(q), float(c)))
        if high - low >= ROUGHNESS_GAP and high >= ROUGHNESS_RATIO * low:
            text = "much rougher relief than the query" if c > q else "much smoother relief than the query"
            return Claim(letter, "differs:relief_roughness", [q, c], text)
        return None
    raise ValueError(f"unknown cue {cue!r}")


def compare_views(
    letter: str, cues: Sequence[str], query: Mapping[str, Any], cand: Mapping[str, Any], rng: random.Random
) -> tuple[list[Claim], list[Claim]]:
    """Return (agreeing claims, disagreeing claims) of a candidate against the query, in shuffled order."""
    order = list(cues)
    rng.shuffle(order)
    same: list[Claim] = []
    differs: list[Claim] = []
    for cue in order:
        claim = compare_cue(letter, cue, query, cand, rng)
        if claim is not None:
            (same if claim.key.startswith("same:") else differs).append(claim)
    keys = {claim.key for claim in same + differs}
    if "differs:mountainous" in keys:  # "rugged where the query is low" already says it is rougher
        differs = [c for c in differs if c.key != "differs:relief_roughness"]
    if "differs:relief_roughness" in keys:  # "equally low relief" next to "much rougher relief" reads wrong
        same = [c for c in same if c.key != "same:mountainous"]
    return same, differs


# ---------------------------------------------------------------- geographic knowledge


def knowledge_claims(
    subject: str, meta: Mapping[str, Any], rng: random.Random, *, detail: bool
) -> list[Claim]:
    """Return claims placing a place on the map: latitude band, hemispheres, continent (country and
    nearest place when ``detail``, sometimes otherwise)."""
    claims: list[Claim] = []
    band = meta.get("lat_band")
    if isinstance(band, str) and band:
        claims.append(Claim(subject, "lat_band", band, f"{band} latitudes"))
    if meta.get("near_equator") is True and rng.random() < 0.5:
        claims.append(Claim(subject, "near_equator", True, "near the equator"))
    ns = meta.get("hemisphere_ns")
    if ns in ("north", "south"):
        claims.append(Claim(subject, "hemisphere_ns", ns, f"the {_hemisphere_word(ns)} hemisphere"))
    ew = meta.get("hemisphere_ew")
    if ew in ("east", "west") and (detail or rng.random() < 0.3):
        claims.append(Claim(subject, "hemisphere_ew", ew, f"{ew} of the prime meridian"))
    continent = meta.get("continent")
    if isinstance(continent, str) and continent:
        claims.append(Claim(subject, "continent", continent, continent))
    country = meta.get("country")
    if isinstance(country, str) and country and (detail or rng.random() < 0.4):
        claims.append(Claim(subject, "country", country, country))
    place_name = meta.get("place_name")
    if detail and isinstance(place_name, str) and place_name and rng.random() < 0.6:
        claims.append(Claim(subject, "place_name", place_name, place_name))
    return claims


def _knowledge_sentence(claims: list[Claim], rng: random.Random) -> str:
    by_key = {claim.key: claim.text for claim in claims}
    location = by_key.get("lat_band", "")
    if "near_equator" in by_key:
        location = f"{location} {by_key['near_equator']}".strip()
    if "hemisphere_ns" in by_key:
        location = f"{location} in {by_key['hemisphere_ns']}" if location else by_key["hemisphere_ns"]
    if "hemisphere_ew" in by_key:
        location = f"{location}, {by_key['hemisphere_ew']}" if location else by_key["hemisphere_ew"]
    region = ", ".join(by_key[k] for k in ("country", "continent") if k in by_key)
    where = f"in {region}" if region else ""
    if "place_name" in by_key:
        where = f"near {by_key['place_name']}" + (f", {where}" if where else "")
    if location and where:
        return rng.choice(
            [
                f"Geographically, these cues fit {location}, {where}.",
                f"Putting it on the map: {location}, most likely {where}.",
                f"From what I know of the world, such a scene belongs to {location}, {where}.",
            ]
        )
    if location:
        return rng.choice(
            [f"Geographically, these cues fit {location}.", f"Putting it on the map: {location}."]
        )
    return rng.choice([f"Geographically, this is most likely {where}.", f"Putting it on the map: {where}."])


# ---------------------------------------------------------------- the teacher


def _answer_letter(example: Mapping[str, Any], n_candidates: int) -> str:
    solution = str(example.get("solution", "")).strip()
    if len(solution) != 1 or solution not in OPTION_LETTERS[:n_candidates]:
        raise Abstain(f"bad solution: {solution!r} is not a candidate letter")
    return solution


class TemplateTeacher:
    """Writes metadata-grounded chain-of-thought for pairing and geolocation examples."""

    name = "template"

    def __init__(self, places: PlaceLookup | None = None):
        self.places = places or PlaceLookup()

    def describe(self) -> dict[str, Any]:
        """Return the teacher's description for the run log and the output records."""
        return {"name": self.name, "places": len(self.places)}

    def close(self) -> None:
        """Nothing to release."""

    def generate(self, jobs: Sequence[TeacherJob]) -> Iterator[TeacherResult]:
        """Yield one result per job: the written completion, or an abstention saying why."""
        for job in jobs:
            try:
                explanation = self.explain(job.example, job.seed)
            except Abstain as exc:
                yield TeacherResult(job, abstain=str(exc))
                continue
            yield TeacherResult(job, text=explanation.completion, claims=explanation.claims)

    # -- metadata

    def place_meta(self, example_meta: Mapping[str, Any], place: str | None) -> Mapping[str, Any] | None:
        """Return the Earth metadata of ``place``: the lookup's record, else the example's own meta when
        ``place`` is the example's place and the meta carries Earth keys."""
        found = self.places.get(place)
        if found is not None:
            return found  # the full record (task examples copy only some keys, e.g. no land-cover shares)
        if place == example_meta.get("place") and has_earth_meta(example_meta):
            return example_meta
        return None

    def explain(self, example: Mapping[str, Any], seed: int) -> Explanation:
        """Return the rationale for ``example`` (raises Abstain if the metadata cannot support one)."""
        task = example.get("task")
        rng = random.Random(seed)
        if task == "pairing":
            return self._explain_pairing(example, rng)
        if task == "geolocation":
            return self._explain_geolocation(example, rng)
        if task == "question":
            return self._explain_question(example, rng)
        raise Abstain(f"unsupported task: {task!r}")

    def _explain_pairing(self, example: Mapping[str, Any], rng: random.Random) -> Explanation:
        meta = example.get("meta") or {}
        places = meta.get("candidate_places")
        if not isinstance(places, list) or len(places) < 2:
            raise Abstain("missing metadata: meta.candidate_places")
        if len(places) > len(OPTION_LETTERS):
            raise Abstain(f"{len(places)} candidates: more than there are option letters")
        letters = option_letters(len(places))
        answer = _answer_letter(example, len(places))
        query_place = meta.get("place")
        if query_place is not None and places[letters.index(answer)] != query_place:
            raise Abstain("inconsistent example: the answer candidate is not the query's place")
        query = self.place_meta(meta, query_place)
        if query is None:
            raise Abstain(f"missing metadata: no Earth metadata for place {query_place!r}")
        inline = meta.get("candidate_meta")
        candidates: list[Mapping[str, Any]] = []
        for i, place in enumerate(places):
            found = inline[i] if isinstance(inline, list) and i < len(inline) and inline[i] else None
            found = found or (query if place == query_place else self.place_meta(meta, place))
            if found is None:
                raise Abstain(f"missing metadata: no Earth metadata for candidate place {place!r}")
            candidates.append(found)

        query_view, cand_view = meta.get("query_view"), meta.get("candidate_view")
        cues = comparable_cues(query_view, cand_view)
        claims: list[Claim] = []
        sections: list[str] = []

        # 1. visual cues of the query
        described = describe_view("query", query_view, query, rng)
        if not described:
            raise Abstain("missing metadata: none of the cues the query view shows")
        claims += described
        view_word = f"{query_view} " if query_view else ""
        opener = rng.choice(
            [
                f"The query {view_word}view shows",
                f"Looking at the query {view_word}image first, I see",
                f"Starting with the query {view_word}view: it has",
                f"In the query {view_word}image I can make out",
            ]
        )
        sections.append(f"{opener} {_join([c.text for c in described], rng)}.")

        # 2. cross-view evidence, one sentence per candidate
        order = list(range(len(places)))
        mode = rng.random()
        if mode < 0.4:
            rng.shuffle(order)
        elif mode < 0.7:  # rule out the distractors first, then confirm the match
            order.sort(key=lambda i: letters[i] == answer)
        sentences: list[str] = []
        for i in order:
            letter = letters[i]
            same, differs = compare_views(letter, cues, query, candidates[i], rng)
            if letter == answer:
                if differs or not same:
                    raise Abstain(f"inconsistent example: the answer {letter} disagrees with the query")
                chosen = same[:3]
                claims += chosen
                claims.append(Claim(letter, "verdict", "match"))
                joined = _join([c.text for c in chosen], rng)
                sentences.append(
                    rng.choice(
                        [
                            f"Candidate {letter} matches: it shows {joined}.",
                            f"{letter} agrees with the query on every cue I can compare, with {joined}.",
                            f"In {letter} I find {joined}, all consistent with the query.",
                        ]
                    )
                )
                continue
            if not differs:
                raise Abstain(
                    f"indistinguishable distractor: no cue the views show separates candidate {letter} from the query"
                )
            chosen = differs[: rng.choice((1, 2))]
            claims += chosen
            claims.append(Claim(letter, "verdict", "mismatch"))
            joined = _join([c.text for c in chosen], rng)
            if same and rng.random() < 0.3:
                claims.append(same[0])
                sentences.append(
                    f"{letter} has {same[0].text}, but it also has {joined}, so it does not match."
                )
                continue
            sentences.append(
                rng.choice(
                    [
                        f"Candidate {letter} shows {joined}, so it is not the same place.",
                        f"{letter} can be ruled out: it has {joined}.",
                        f"In {letter} I see {joined}, which does not fit the query.",
                    ]
                )
            )
        sections.append(" ".join(sentences))

        # 3. geographic knowledge about the query place
        knowledge = knowledge_claims("query", query, rng, detail=False)
        if knowledge:
            claims += knowledge
            sections.append(_knowledge_sentence(knowledge, rng))

        # 4. the answer
        claims.append(Claim("answer", "answer", answer))
        sections.append(
            rng.choice(
                [
                    f"Only {answer} agrees with the query on every compared cue, so the answer is {answer}.",
                    f"Therefore the matching view is {answer}.",
                    f"So candidate {answer} shows the same place as the query.",
                ]
            )
        )
        think = rng.choice(("\n", " ")).join(sections)
        return Explanation(think=think, answer=answer, claims=claims)

    def _explain_geolocation(self, example: Mapping[str, Any], rng: random.Random) -> Explanation:
        meta = example.get("meta") or {}
        solution = str(example.get("solution", "")).strip()
        if not re.fullmatch(r"\(\s*-?\d+(\.\d+)?\s*,\s*-?\d+(\.\d+)?\s*\)", solution):
            raise Abstain(f"bad solution: {solution!r} is not '(lat, lon)'")
        place = self.place_meta(meta, meta.get("place"))
        if place is None:
            raise Abstain(f"missing metadata: no Earth metadata for place {meta.get('place')!r}")
        view_kind = meta.get("view") or meta.get("query_view")
        described = describe_view("place", view_kind, place, rng)
        knowledge = knowledge_claims("place", place, rng, detail=True)
        if not described or not knowledge:
            raise Abstain("missing metadata: too little about this place")
        claims = described + knowledge
        view_word = f"{view_kind} " if view_kind else ""
        opener = rng.choice(
            [
                f"The {view_word}image shows",
                f"Looking at the {view_word}view, I see",
                f"In this {view_word}image I can make out",
            ]
        )
        sections = [
            f"{opener} {_join([c.text for c in described], rng)}.",
            _knowledge_sentence(knowledge, rng),
        ]
        lat, lon = (float(x) for x in solution.strip("()").split(","))
        claims.append(Claim("answer", "coords", [lat, lon], solution))
        sections.append(
            rng.choice([f"My best estimate of the location is {solution}.", f"So I place it at {solution}."])
        )
        think = rng.choice(("\n", " ")).join(sections)
        return Explanation(think=think, answer=solution, claims=claims)

    def _explain_question(self, example: Mapping[str, Any], rng: random.Random) -> Explanation:
        meta = example.get("meta") or {}
        qtype = meta.get("question_type")
        options = meta.get("options")
        if qtype not in QUESTION_CUES or not isinstance(options, list) or not options:
            raise Abstain(f"unsupported task: question type {qtype!r} or no options")
        answer = _answer_letter(example, len(options))
        option = str(options[ord(answer) - ord("A")])
        place = self.place_meta(meta, meta.get("place"))
        if place is None:
            raise Abstain(f"missing metadata: no Earth metadata for place {meta.get('place')!r}")
        decisive = decisive_claim(qtype, place, rng)
        if decisive is None:
            raise Abstain(f"missing metadata: cannot answer a {qtype!r} question")
        view_kind = meta.get("view")
        described = [c for c in describe_view("place", view_kind, place, rng) if c.key != decisive.key]
        claims: list[Claim] = []
        sections: list[str] = []
        view_word = f"{view_kind} " if view_kind else ""
        if described:
            claims += described
            opener = rng.choice(
                [
                    f"The {view_word}image shows",
                    f"Looking at the {view_word}view, I see",
                    f"In this {view_word}image I can make out",
                ]
            )
            sections.append(f"{opener} {_join([c.text for c in described], rng)}.")
        if qtype in ("continent", "country", "hemisphere", "lat_band", "near_equator"):
            knowledge = [
                c for c in knowledge_claims("place", place, rng, detail=False) if c.key != decisive.key
            ]
            if knowledge:
                claims += knowledge
                sections.append(_knowledge_sentence(knowledge, rng))
        claims.append(decisive)
        sections.append(rng.choice(QUESTION_SENTENCES[qtype]).format(fact=decisive.text))
        claims.append(Claim("answer", "option", [answer, option], option))
        sections.append(
            rng.choice(
                [f"That corresponds to option {answer} ({option}).", f"So the answer is {answer}: {option}."]
            )
        )
        think = rng.choice(("\n", " ")).join(sections)
        return Explanation(think=think, answer=answer, claims=claims)


# The sentence that states the deciding fact of each question type ({fact} is the claim's text).
QUESTION_SENTENCES: dict[str, tuple[str, ...]] = {
    "continent": ("Taken together, this points to {fact}.", "Of the continents, that fits {fact}."),
    "country": ("Taken together, this points to {fact}.", "Of the countries offered, that fits {fact}."),
    "landcover": ("By area, the scene shows {fact}.", "Weighing the classes by area: {fact}."),
    "coastal": ("Looking for a shoreline, the scene shows {fact}.", "Along the edges of the scene: {fact}."),
    "desert": ("As for dryness, the scene has {fact}.", "Judging the ground: {fact}."),
    "mountainous": ("As for the terrain, the scene has {fact}.", "Judging the terrain: {fact}."),
    "hemisphere": ("So the scene lies in {fact}.", "That places it in {fact}."),
    "near_equator": ("So the scene lies {fact}.", "That places it {fact}."),
    "lat_band": ("So the scene lies at {fact}.", "That places it at {fact}."),
}

# Which metadata key decides each place-question type (geor1.builders.questions).
QUESTION_CUES = {
    "continent": "continent",
    "hemisphere": "hemisphere_ns",
    "near_equator": "near_equator",
    "country": "country",
    "landcover": "landcover_dominant",
    "coastal": "coastal",
    "desert": "desert",
    "mountainous": "mountainous",
    "lat_band": "lat_band",
}


def decisive_claim(qtype: str, meta: Mapping[str, Any], rng: random.Random) -> Claim | None:
    """Return the claim that answers a place question of type ``qtype`` (None if the metadata lacks it)."""
    key = QUESTION_CUES[qtype]
    value = meta.get(key)
    if qtype == "landcover":
        return describe_cue("place", "landcover", meta, rng)
    if qtype == "coastal":
        return describe_cue("place", "coast", meta, rng)
    if qtype == "mountainous":
        return describe_cue("place", "relief", meta, rng)
    if qtype == "desert":
        if not isinstance(value, bool):
            return None
        text = "barren, desert-like ground" if value else "too little barren ground for a desert"
        return Claim("place", "desert", value, text)
    if qtype == "near_equator":
        if not isinstance(value, bool):
            return None
        return Claim(
            "place", "near_equator", value, "near the equator" if value else "well away from the equator"
        )
    if qtype == "hemisphere":
        if value not in ("north", "south"):
            return None
        return Claim("place", "hemisphere_ns", value, f"the {_hemisphere_word(value)} hemisphere")
    if qtype == "lat_band":
        return (
            Claim("place", "lat_band", value, f"a {value} latitude")
            if isinstance(value, str) and value
            else None
        )
    if isinstance(value, str) and value:  # continent, country
        return Claim("place", key, value, value)
    return None
