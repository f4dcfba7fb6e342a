"""Graded cross-view pairing reward: how far from the query was the candidate the completion chose?"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from geor1.geo import haversine_km
from geor1.geography import GEOSCORE_SCALE_KM
from geor1.judge import judge
from geor1.parsing import OPTION_LETTERS
from geor1.rewards.accuracy import check_n_options
from geor1.rewards.base import Reward, check_number, column, completion_text


def _query_and_candidates(meta: object) -> tuple[tuple[float, float], list[tuple[float, float]]] | None:
    """Return the query's and the candidates' ``(lat, lon)`` from a pairing example's metadata, or None."""
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            return None
    if not isinstance(meta, Mapping):
        return None
    try:
        query = (float(meta["lat"]), float(meta["lon"]))
        candidates = [(float(lat), float(lon)) for lat, lon in meta["candidate_coords"]]
    except (KeyError, TypeError, ValueError):
        return None
    if not candidates or not all(math.isfinite(v) for v in (*query, *(x for c in candidates for x in c))):
        return None
    return query, candidates


class PairingGPS(Reward):
    """Credit for a pairing answer by the great-circle distance from the query to the chosen candidate.

    The chosen letter is read by :func:`geor1.judge.judge` exactly as ``accuracy`` reads it (the last
    ``<answer>`` block); ``d`` is the haversine distance (km) from the query's ``meta.lat/lon`` to that
    candidate's ``meta.candidate_coords`` entry, so the reward is verifiable from GPS metadata alone.
    Returns ``exp(-d / scale_km)``: 1.0 for the true candidate (``d = 0``), partial credit for a distractor
    near the query, 0.0 for no readable choice or a letter beyond the candidates, and ``None`` for an
    example without candidate coordinates or a letter solution (a geolocation row in a mixed dataset),
    which TRL leaves out.
    The default scale is GeoScore's, so a distractor 1,000 km away earns 0.51 and one 5,000 km away 0.035.
    """

    name = "pairing_gps"

    def __init__(self, *, scale_km: float = GEOSCORE_SCALE_KM, n_options: int = 8):
        self.scale_km = check_number("scale_km", scale_km, positive=True)
        self.n_options = check_n_options(n_options)

    def __call__(self, completions: Sequence[object], **kwargs: Any) -> list[float | None]:
        """Return one value per completion (``None`` where the example has no candidate coordinates)."""
        solutions = column(kwargs, "solution", len(completions), self.name)
        metas = column(kwargs, "meta", len(completions), self.name)
        out: list[float | None] = []
        for completion, solution, meta in zip(completions, solutions, metas, strict=True):
            places = _query_and_candidates(meta)
            if places is None:
                out.append(None)
                continue
            query, candidates = places
            n = max(self.n_options, len(candidates))
            verdict = judge(completion_text(completion), solution, require_tags=True, n_options=n)
            if verdict.kind != "letter":
                out.append(None)
                continue
            index = None if verdict.choice is None else OPTION_LETTERS.index(verdict.choice)
            if index is None or index >= len(candidates):
                out.append(0.0)
                continue
            lat, lon = candidates[index]
            out.append(math.exp(-float(haversine_km(query[0], query[1], lat, lon)) / self.scale_km))
        return out
