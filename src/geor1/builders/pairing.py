"""Cross-view pairing, the elevating proxy task of Geo-R1.

A query view of one kind and K candidates of another kind (letters A, B, …); exactly one candidate is
the candidate-kind view of the query's own place, the others come from other places at a geodesic
distance from the query inside a band:

========  =====================================
``easy``    [1000, 20015.1] km (20015.1 = half the circumference: everything farther than 1000 km)
``medium``  [100, 1000] km
``hard``    [0, 100] km (the query's own place is always excluded)
========  =====================================

Bands are closed intervals measured with the haversine distance from the query's coordinates to the
candidate's. ``--min-km/--max-km`` give a custom band; ``mixed`` gives each example one of the named
bands in fixed proportions (exact counts by largest remainder, assigned in random order).

Each place contributes at most one candidate (its first view of the candidate kind, in manifest order),
so two candidates never show the same place. A negative is never the query's own place, nor a place
that shows the same spot (VIGOR's semi-positive tiles, listed in a view's ``meta.semi_positives``; see
``ViewSet.same_spot_places``): those would be second correct answers. When a query has fewer than K-1 other places in its band
it is counted as a shortage and skipped (or, with ``strict``, raises); the band is never widened.

Answer letters are balanced, not i.i.d.: over the written examples each letter is the answer
``n // K`` or ``n // K + 1`` times. ``direction="both"`` writes Q→C and C→Q examples (``meta.direction``
``forward`` / ``reverse``). Everything is fixed by ``seed``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geor1.builders.common import ViewSet, balanced_positions, option_letters, place_info
from geor1.errors import ConfigError, GeoR1Error
from geor1.geo import EARTH_RADIUS_KM, SphereIndex, haversine_km
from geor1.parsing import MAX_OPTIONS
from geor1.records import user_prompt

HALF_CIRCUMFERENCE_KM = math.pi * EARTH_RADIUS_KM
BANDS: dict[str, tuple[float, float]] = {
    "easy": (1000.0, HALF_CIRCUMFERENCE_KM),
    "medium": (100.0, 1000.0),
    "hard": (0.0, 100.0),
}
DIRECTIONS = ("forward", "both")
QUESTION = (
    "Which candidate was taken at the same location as the query? Answer with the letter of the candidate."
)


class ShortageError(GeoR1Error):
    """Too few negatives in a band (raised only in strict mode)."""


@dataclass
class PairingConfig:
    """Options of the pairing task (see the module docstring for their meaning)."""

    query_view: str = "satellite"
    candidate_view: str = "terrain"
    k: int = 4
    band: str | None = None  # None: "medium", or "custom" when min_km/max_km are given
    min_km: float | None = None
    max_km: float | None = None
    mix: dict[str, float] = field(default_factory=lambda: {"easy": 1.0, "medium": 1.0, "hard": 1.0})
    direction: str = "forward"
    seed: int = 0
    limit: int | None = None
    strict: bool = False

    def __post_init__(self) -> None:
        if self.query_view == self.candidate_view:
            raise ConfigError("candidate_view", f"must differ from query_view, both are {self.query_view!r}")
        if self.k > MAX_OPTIONS:
            raise ConfigError("k", f"must be at most {MAX_OPTIONS} (one letter per option), got {self.k}")
        if self.k < 2:
            raise ConfigError("k", f"must be at least 2 (one positive and one negative), got {self.k}")
        if self.direction not in DIRECTIONS:
            raise ConfigError("direction", f"must be one of {', '.join(DIRECTIONS)}, got {self.direction!r}")
        if self.limit is not None and self.limit < 0:
            raise ConfigError("limit", f"must be >= 0, got {self.limit}")
        custom = self.min_km is not None or self.max_km is not None
        if custom:
            if self.band not in (None, "custom"):
                raise ConfigError("band", "min_km/max_km replace the band; do not give both")
            lo = 0.0 if self.min_km is None else float(self.min_km)
            hi = HALF_CIRCUMFERENCE_KM if self.max_km is None else float(self.max_km)
            if not 0.0 <= lo < hi:
                raise ConfigError("min_km", f"min_km/max_km must satisfy 0 <= min < max, got [{lo}, {hi}]")
            self.band, self.min_km, self.max_km = "custom", lo, hi
        elif self.band is None:
            self.band = "medium"
        elif self.band == "custom":
            raise ConfigError("band", "a custom band needs min_km and/or max_km")
        if self.band == "mixed":
            unknown = set(self.mix) - set(BANDS)
            if unknown or not self.mix:
                raise ConfigError("mix", f"names bands {', '.join(BANDS)}; got {', '.join(sorted(unknown))}")
            if (
                any(not (w >= 0 and math.isfinite(w)) for w in self.mix.values())
                or sum(self.mix.values()) <= 0
            ):
                raise ConfigError("mix", "proportions must be >= 0 and not all 0")
        elif self.band not in (*BANDS, "custom"):
            raise ConfigError("band", f"must be one of {', '.join([*BANDS, 'mixed'])}, got {self.band!r}")

    def band_bounds(self) -> dict[str, tuple[float, float]]:
        """Return ``{band name: (min_km, max_km)}`` of the bands this config draws from."""
        if self.band == "custom":
            return {"custom": (float(self.min_km), float(self.max_km))}  # type: ignore[arg-type]
        if self.band == "mixed":
            return {name: BANDS[name] for name, w in self.mix.items() if w > 0}
        return {self.band: BANDS[self.band]}


@dataclass
class PairingReport:
    """What a pairing build did: examples written and queries skipped, by reason."""

    written: int = 0
    by_direction: dict[str, int] = field(default_factory=dict)
    by_band: dict[str, int] = field(default_factory=dict)
    shortage: dict[str, int] = field(default_factory=dict)
    shortage_queries: dict[str, list[str]] = field(default_factory=dict)  # band -> query view ids
    no_positive: int = 0
    outside_split: int = 0
    dropped_by_limit: int = 0

    def lines(self) -> list[str]:
        """Return a human-readable summary, one fact per line."""
        out = [f"examples written: {self.written}"]
        out += [f"  direction {k}: {v}" for k, v in sorted(self.by_direction.items())]
        out += [f"  band {k}: {v}" for k, v in sorted(self.by_band.items())]
        for band, n in sorted(self.shortage.items()):
            some = ", ".join(self.shortage_queries.get(band, [])[:5])
            out.append(f"skipped {n} queries with too few negatives in band {band} (e.g. {some})")
        if self.no_positive:
            out.append(f"skipped {self.no_positive} queries whose place has no candidate-kind view")
        if self.outside_split:
            out.append(f"left out {self.outside_split} query views of places outside the split")
        if self.dropped_by_limit:
            out.append(f"dropped {self.dropped_by_limit} examples beyond the limit")
        return out


@dataclass
class _Draft:
    query: int  # view index
    candidates: list[int]  # view indices, positive first
    band: str
    direction: str


def _assign_bands(n: int, config: PairingConfig, rng: np.random.Generator) -> list[str]:
    bounds = config.band_bounds()
    names = list(bounds)
    if len(names) == 1:
        return [names[0]] * n
    weights = np.array([config.mix[name] for name in names], dtype=np.float64)
    exact = weights / weights.sum() * n
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]] += 1  # largest remainder
    labels = np.repeat(np.arange(len(names)), counts)
    return [names[i] for i in rng.permutation(labels)]


def _drafts_one_direction(
    views: ViewSet,
    q_kind: str,
    c_kind: str,
    direction: str,
    places: set[str] | None,
    config: PairingConfig,
    rng: np.random.Generator,
    report: PairingReport,
    same_spot: dict[str, set[str]],
) -> list[_Draft]:
    reps = {
        place: i
        for place, i in views.first_of_kind_per_place(c_kind).items()
        if places is None or place in places
    }
    queries = []
    for i in views.of_kind(q_kind):
        place = views.views[i].place
        if places is not None and place not in places:
            report.outside_split += 1
        elif place not in reps:
            report.no_positive += 1
        else:
            queries.append(i)
    if not queries:
        return []
    rep_places = list(reps)
    rep_views = [reps[p] for p in rep_places]
    index = SphereIndex(
        [views.views[i].lat for i in rep_views], [views.views[i].lon for i in rep_views], groups=rep_places
    )
    bands = np.array(_assign_bands(len(queries), config, rng))
    qlat = np.array([views.views[i].lat for i in queries])
    qlon = np.array([views.views[i].lon for i in queries])
    qplace = np.array([views.views[i].place for i in queries], dtype=object)
    negatives = np.full((len(queries), config.k - 1), -1, dtype=np.int64)
    for name, (lo, hi) in config.band_bounds().items():
        rows = np.flatnonzero(bands == name)
        if len(rows):
            also = [same_spot.get(place, ()) for place in qplace[rows]] if same_spot else None
            negatives[rows] = index.sample_band_at(
                qlat[rows],
                qlon[rows],
                lo,
                hi,
                config.k - 1,
                rng,
                exclude_groups=qplace[rows],
                also_exclude=also,
            )
    drafts = []
    for row, qi in enumerate(queries):
        if (negatives[row] < 0).any():
            band = str(bands[row])
            report.shortage[band] = report.shortage.get(band, 0) + 1
            report.shortage_queries.setdefault(band, []).append(views.views[qi].id)
            if config.strict:
                lo, hi = config.band_bounds()[band]
                raise ShortageError(
                    f"view {views.views[qi].id!r} (line {views.lines[qi]} of {views.manifest}) has fewer than "
                    f"{config.k - 1} other places of kind {c_kind!r} within [{lo:g}, {hi:g}] km"
                )
            continue
        cands = [reps[views.views[qi].place]] + [rep_views[j] for j in negatives[row].tolist()]
        drafts.append(_Draft(query=qi, candidates=cands, band=str(bands[row]), direction=direction))
    return drafts


def build_pairing(
    views: ViewSet,
    config: PairingConfig,
    out_dir: str | Path,
    *,
    places: set[str] | None = None,
    split: str = "all",
    progress: Callable[[Any], Any] | None = None,
) -> tuple[list[dict[str, Any]], PairingReport]:
    """Return ``(examples, report)``: pairing examples whose image paths are relative to ``out_dir``.

    ``places`` restricts queries, positives and negatives to those places (a split); ``split`` is only
    recorded in each example's meta. ``progress`` wraps the example loop (e.g. ``tqdm``).
    """
    views.require_kind(config.query_view, "query_view")
    views.require_kind(config.candidate_view, "candidate_view")
    rng = np.random.default_rng(config.seed)
    report = PairingReport()
    plan = [(config.query_view, config.candidate_view, "forward")]
    if config.direction == "both":
        plan.append((config.candidate_view, config.query_view, "reverse"))
    same_spot = views.same_spot_places()
    drafts: list[_Draft] = []
    for q_kind, c_kind, direction in plan:
        drafts += _drafts_one_direction(
            views, q_kind, c_kind, direction, places, config, rng, report, same_spot
        )
    if config.limit is not None and len(drafts) > config.limit:
        keep = np.sort(rng.permutation(len(drafts))[: config.limit])
        report.dropped_by_limit = len(drafts) - config.limit
        drafts = [drafts[i] for i in keep]
    positions = balanced_positions(len(drafts), config.k, rng)
    letters = option_letters(config.k)
    out_dir = Path(out_dir)
    rel_cache: dict[int, str] = {}

    def rel(i: int) -> str:
        if i not in rel_cache:
            rel_cache[i] = views.image_relative_to(i, out_dir)
        return rel_cache[i]

    bounds = config.band_bounds()
    examples = []
    items = list(zip(drafts, positions.tolist(), strict=True))
    for draft, answer in progress(items) if progress else items:
        negatives = draft.candidates[1:]
        ordered = negatives[:answer] + [draft.candidates[0]] + negatives[answer:]
        q = views.views[draft.query]
        cands = [views.views[i] for i in ordered]
        c_kind = cands[0].view
        dist = haversine_km(q.lat, q.lon, np.array([c.lat for c in cands]), np.array([c.lon for c in cands]))
        labels = [f"Query ({q.view} view):"] + [
            f"Candidate {letters[j]} ({c_kind} view):" for j in range(config.k)
        ]
        meta = {
            "place": q.place,
            "lat": q.lat,
            "lon": q.lon,
            "query_id": q.id,
            "query_view": q.view,
            "candidate_view": c_kind,
            "direction": draft.direction,
            "band": draft.band,
            "band_km": list(bounds[draft.band]),
            "k": config.k,
            "answer_index": answer,
            "candidate_ids": [c.id for c in cands],
            "candidate_places": [c.place for c in cands],
            "candidate_coords": [[c.lat, c.lon] for c in cands],
            "distractor_km": [round(float(d), 3) for d in np.atleast_1d(dist)],
            "split": split,
            **place_info(q.meta),
        }
        examples.append(
            {
                "id": f"pairing-{q.view}-{c_kind}-{q.id}",
                "task": "pairing",
                "images": [rel(draft.query)] + [rel(i) for i in ordered],
                "prompt": user_prompt(QUESTION, config.k + 1, labels),
                "solution": letters[answer],
                "meta": meta,
            }
        )
        report.by_direction[draft.direction] = report.by_direction.get(draft.direction, 0) + 1
        report.by_band[draft.band] = report.by_band.get(draft.band, 0) + 1
    report.written = len(examples)
    return examples, report
