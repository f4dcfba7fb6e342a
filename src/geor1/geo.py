"""Geodesy on a spherical Earth: validated coordinates, haversine, bearings, and a unit-sphere index.

Distances use the mean Earth radius (IUGG R1 = 6371.0088 km) unless a radius is passed; the
spherical error against the WGS84 ellipsoid stays under 0.5 % (checked against geographiclib in tests).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

EARTH_RADIUS_KM = 6371.0088


def validate_latlon(lat: object, lon: object, *, where: str = "") -> tuple[float, float]:
    """Return ``(lat, lon)`` as floats, or raise ValueError naming the bad value.

    Latitude must lie in [-90, 90] and longitude in [-180, 180]; NaN, infinities and non-numbers fail.
    """
    prefix = f"{where}: " if where else ""
    out = []
    for name, value, bound in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        if isinstance(value, bool):
            raise ValueError(f"{prefix}{name} must be a number, got {value!r}")
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"{prefix}{name} must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"{prefix}{name} must be finite, got {value!r}")
        if abs(number) > bound:
            raise ValueError(f"{prefix}{name}={number} is out of range [-{bound:g}, {bound:g}]")
        out.append(number)
    return out[0], out[1]


def wrap_lon(lon: ArrayLike) -> NDArray[np.float64] | float:
    """Return longitude(s) wrapped into [-180, 180)."""
    wrapped = (np.asarray(lon, dtype=np.float64) + 180.0) % 360.0 - 180.0
    return float(wrapped) if wrapped.ndim == 0 else wrapped


def haversine_km(
    lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike, radius_km: float = EARTH_RADIUS_KM
) -> NDArray[np.float64] | float:
    """Return the great-circle distance in km (numpy-broadcast; a float for scalar input)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    a = np.sin(dphi / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2.0) ** 2
    d = 2.0 * radius_km * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return float(d) if np.ndim(d) == 0 else d


def initial_bearing_deg(
    lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike
) -> NDArray[np.float64] | float:
    """Return the initial great-circle bearing from point 1 to point 2, degrees clockwise from north in [0, 360)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlmb = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    y = np.sin(dlmb) * np.cos(p2)
    x = np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dlmb)
    b = np.degrees(np.arctan2(y, x)) % 360.0
    return float(b) if np.ndim(b) == 0 else b


def destination(
    lat: ArrayLike,
    lon: ArrayLike,
    bearing_deg: ArrayLike,
    distance_km: ArrayLike,
    radius_km: float = EARTH_RADIUS_KM,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return ``(lat, lon)`` arrays reached by travelling ``distance_km`` along ``bearing_deg``."""
    p1, l1 = np.radians(lat), np.radians(lon)
    theta = np.radians(bearing_deg)
    delta = np.asarray(distance_km, dtype=np.float64) / radius_km
    sin_p2 = np.sin(p1) * np.cos(delta) + np.cos(p1) * np.sin(delta) * np.cos(theta)
    p2 = np.arcsin(np.clip(sin_p2, -1.0, 1.0))
    l2 = l1 + np.arctan2(np.sin(theta) * np.sin(delta) * np.cos(p1), np.cos(delta) - np.sin(p1) * sin_p2)
    return np.degrees(p2), np.asarray(wrap_lon(np.degrees(l2)))


def unit_vectors(lat: ArrayLike, lon: ArrayLike) -> NDArray[np.float64]:
    """Return an (n, 3) array of unit vectors for the given coordinates."""
    p, l_ = np.radians(np.asarray(lat, dtype=np.float64)), np.radians(np.asarray(lon, dtype=np.float64))
    cp = np.cos(p)
    return np.stack([cp * np.cos(l_), cp * np.sin(l_), np.sin(p)], axis=-1)


def km_to_chord(distance_km: ArrayLike, radius_km: float = EARTH_RADIUS_KM) -> NDArray[np.float64] | float:
    """Return the unit-sphere chord length of a great-circle distance."""
    c = 2.0 * np.sin(np.minimum(np.asarray(distance_km, dtype=np.float64) / radius_km, math.pi) / 2.0)
    return float(c) if np.ndim(c) == 0 else c


def chord_to_km(chord: ArrayLike, radius_km: float = EARTH_RADIUS_KM) -> NDArray[np.float64] | float:
    """Return the great-circle distance in km for a unit-sphere chord length."""
    d = 2.0 * radius_km * np.arcsin(np.clip(np.asarray(chord, dtype=np.float64) / 2.0, 0.0, 1.0))
    return float(d) if np.ndim(d) == 0 else d


class SphereIndex:
    """Nearest-neighbour index over points on the unit sphere (a KD-tree on 3-D unit vectors).

    Chord distance is monotone in great-circle distance, so Euclidean queries on unit vectors are exact.
    ``groups`` (optional, one label per point, e.g. a place id) lets band sampling exclude every point
    that shares the query's group.
    """

    def __init__(
        self,
        lat: ArrayLike,
        lon: ArrayLike,
        groups: Sequence[object] | NDArray | None = None,
        radius_km: float = EARTH_RADIUS_KM,
    ):
        self.lat = np.asarray(lat, dtype=np.float64).ravel()
        self.lon = np.asarray(lon, dtype=np.float64).ravel()
        if self.lat.shape != self.lon.shape:
            raise ValueError("lat and lon must have the same length")
        bad = (
            ~(np.isfinite(self.lat) & np.isfinite(self.lon))
            | (np.abs(self.lat) > 90)
            | (np.abs(self.lon) > 180)
        )
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"point {i} has invalid coordinates ({self.lat[i]}, {self.lon[i]})")
        self.radius_km = radius_km
        self.xyz = unit_vectors(self.lat, self.lon)
        self.tree = cKDTree(self.xyz)
        self.group_labels: NDArray | None = None
        if groups is None:
            self.group_codes = np.arange(len(self.lat), dtype=np.int64)
        else:
            if len(groups) != len(self.lat):
                raise ValueError("groups must have one label per point")
            self.group_labels, self.group_codes = np.unique(
                np.asarray(groups, dtype=object).astype(str), return_inverse=True
            )
        self._grid: _CellGrid | None = None

    def __len__(self) -> int:
        return len(self.lat)

    def knn(
        self, lat: ArrayLike, lon: ArrayLike, k: int = 1
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Return ``(distances_km, indices)``, each shaped (n, k), of the k nearest points."""
        q = unit_vectors(np.atleast_1d(lat), np.atleast_1d(lon))
        k = min(k, len(self))
        chord, idx = self.tree.query(q, k=k, workers=-1)
        chord, idx = np.asarray(chord).reshape(len(q), k), np.asarray(idx).reshape(len(q), k)
        return np.asarray(chord_to_km(chord, self.radius_km)), idx.astype(np.int64)

    def within(self, lat: ArrayLike, lon: ArrayLike, radius_km: float) -> list[NDArray[np.int64]]:
        """Return, per query point, the indices of all points within ``radius_km`` (sorted by index)."""
        q = unit_vectors(np.atleast_1d(lat), np.atleast_1d(lon))
        hits = self.tree.query_ball_point(q, r=km_to_chord(radius_km, self.radius_km), workers=-1)
        return [np.sort(np.asarray(h, dtype=np.int64)) for h in hits]

    def group_codes_of(self, labels: Sequence[object] | NDArray) -> NDArray[np.int64]:
        """Return the internal group code of each label (-1 for a label no indexed point carries).

        Without ``groups`` every point is its own group, labelled by its index.
        """
        if self.group_labels is None:
            codes = np.asarray(labels, dtype=np.int64).ravel()
            return np.where((codes >= 0) & (codes < len(self)), codes, -1)
        keys = np.asarray(labels, dtype=object).astype(str).ravel()
        pos = np.minimum(np.searchsorted(self.group_labels, keys), len(self.group_labels) - 1)
        return np.where(self.group_labels[pos] == keys, pos, -1).astype(np.int64)

    def sample_band(
        self,
        query: ArrayLike,
        min_km: float,
        max_km: float,
        n: int,
        rng: np.random.Generator,
        *,
        proposal_rounds: int = 8,
    ) -> NDArray[np.int64]:
        """Return an (len(query), n) array of point indices whose distance to each query point lies in
        [min_km, max_km], distinct within a row and never in the query's group; -1 where too few exist.

        ``query`` holds indices of indexed points. See ``sample_band_at`` for the method.
        """
        query = np.asarray(query, dtype=np.int64).ravel()
        return self._sample_band(
            self.lat[query], self.lon[query], self.group_codes[query], min_km, max_km, n, rng, proposal_rounds
        )

    def sample_band_at(
        self,
        lat: ArrayLike,
        lon: ArrayLike,
        min_km: float,
        max_km: float,
        n: int,
        rng: np.random.Generator,
        *,
        exclude_groups: Sequence[object] | NDArray | None = None,
        also_exclude: Sequence[Iterable[object]] | None = None,
        proposal_rounds: int = 8,
    ) -> NDArray[np.int64]:
        """Return an (len(lat), n) array of point indices whose distance to each query coordinate lies in
        [min_km, max_km] (closed interval), distinct within a row and never in the row's
        ``exclude_groups`` label nor in any of its ``also_exclude`` labels (one iterable of group labels
        per row, e.g. places that show the same spot); -1 where fewer than ``n`` such points exist.

        Fast path (all rows at once, vectorised): propose targets uniformly by area inside the band
        around each query, take a uniformly chosen indexed point from the target's cell of an
        equal-area grid (about four points a cell), and keep those inside the band. Points alone in
        sparse cells are therefore picked somewhat more often than points in crowded cells. Rows still
        short after ``proposal_rounds`` fall back to an exact ball query with a uniform choice among all
        band members, so -1 means the band truly holds too few points.
        """
        qlat = np.atleast_1d(np.asarray(lat, dtype=np.float64)).ravel()
        qlon = np.atleast_1d(np.asarray(lon, dtype=np.float64)).ravel()
        if qlat.shape != qlon.shape:
            raise ValueError("lat and lon must have the same length")
        bad = ~(np.isfinite(qlat) & np.isfinite(qlon)) | (np.abs(qlat) > 90) | (np.abs(qlon) > 180)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"query {i} has invalid coordinates ({qlat[i]}, {qlon[i]})")
        if exclude_groups is None:
            qgrp = np.full(len(qlat), -1, dtype=np.int64)
        else:
            if len(exclude_groups) != len(qlat):
                raise ValueError("exclude_groups must have one label per query")
            qgrp = self.group_codes_of(exclude_groups)
        if also_exclude is not None and len(also_exclude) != len(qlat):
            raise ValueError("also_exclude must have one collection of labels per query")
        banned = self._exclusion_keys(also_exclude) if also_exclude is not None else None
        return self._sample_band(qlat, qlon, qgrp, min_km, max_km, n, rng, proposal_rounds, banned)

    def _n_groups(self) -> int:
        return len(self) if self.group_labels is None else len(self.group_labels)

    def _exclusion_keys(self, also_exclude: Sequence[Iterable[object]]) -> NDArray[np.int64]:
        """Return the sorted keys ``row * n_groups + group code`` of every (row, excluded group) pair."""
        rows: list[NDArray[np.int64]] = []
        codes: list[NDArray[np.int64]] = []
        for row, labels in enumerate(also_exclude):
            labels = list(labels)
            if labels:
                found = self.group_codes_of(labels)
                found = found[found >= 0]
                rows.append(np.full(len(found), row, dtype=np.int64))
                codes.append(found)
        if not rows:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate(rows) * self._n_groups() + np.concatenate(codes))

    def _banned(
        self, banned: NDArray[np.int64] | None, rows: NDArray[np.int64], picks: NDArray[np.int64]
    ) -> NDArray[np.bool_]:
        """Return, per (query row, picked point) pair, whether the point's group is excluded for that row."""
        if banned is None or len(banned) == 0:
            return np.zeros(len(picks), dtype=bool)
        keys = rows * self._n_groups() + self.group_codes[picks]
        pos = np.minimum(np.searchsorted(banned, keys), len(banned) - 1)
        return banned[pos] == keys

    def _cell_grid(self) -> _CellGrid:
        if self._grid is None:
            self._grid = _CellGrid(self.xyz)
        return self._grid

    def _sample_band(
        self,
        qlat: NDArray[np.float64],
        qlon: NDArray[np.float64],
        qgrp: NDArray[np.int64],
        min_km: float,
        max_km: float,
        n: int,
        rng: np.random.Generator,
        proposal_rounds: int,
        banned: NDArray[np.int64] | None = None,
    ) -> NDArray[np.int64]:
        if not 0 <= min_km < max_km:
            raise ValueError(f"distance band must satisfy 0 <= min_km < max_km, got [{min_km}, {max_km}]")
        out = np.full((len(qlat), n), -1, dtype=np.int64)
        filled = np.zeros(len(qlat), dtype=np.int64)
        if n == 0 or len(qlat) == 0 or len(self) == 0:
            return out
        grid = self._cell_grid()
        lo_c, hi_c = math.cos(min_km / self.radius_km), math.cos(min(max_km / self.radius_km, math.pi))
        # Local frame of each query: position q, north and east unit vectors.
        p, lm = np.radians(qlat), np.radians(qlon)
        sp, cp, sl, cl = np.sin(p), np.cos(p), np.sin(lm), np.cos(lm)
        for _ in range(proposal_rounds):
            rows = np.flatnonzero(filled < n)
            if len(rows) == 0:
                break
            rep = np.repeat(rows, n - filled[rows])  # one proposal per missing slot
            cosd = rng.uniform(hi_c, lo_c, size=len(rep))  # cos of the angle uniform = uniform by area
            sind = np.sqrt(np.clip(1.0 - cosd * cosd, 0.0, 1.0))
            bearing = rng.uniform(0.0, 2.0 * math.pi, size=len(rep))
            along_n, along_e = sind * np.cos(bearing), sind * np.sin(bearing)
            sp_r, cp_r, sl_r, cl_r = sp[rep], cp[rep], sl[rep], cl[rep]
            target = np.empty((len(rep), 3))
            target[:, 0] = cosd * cp_r * cl_r - along_n * sp_r * cl_r - along_e * sl_r
            target[:, 1] = cosd * cp_r * sl_r - along_n * sp_r * sl_r + along_e * cl_r
            target[:, 2] = cosd * sp_r + along_n * cp_r
            pick = grid.pick(target, rng)
            hit = pick >= 0
            rep, pick = rep[hit], pick[hit]
            d = haversine_km(qlat[rep], qlon[rep], self.lat[pick], self.lon[pick], self.radius_km)
            ok = (d >= min_km) & (d <= max_km) & (self.group_codes[pick] != qgrp[rep])
            ok &= ~self._banned(banned, rep, pick)
            _place_picks(out, filled, rep[ok], pick[ok], len(self))
        short = np.flatnonzero(filled < n)
        for start in range(0, len(short), 256):  # chunks bound the memory of wide-band ball queries
            rows = short[start : start + 256]
            self._fill_exact(rows, qlat, qlon, qgrp, min_km, max_km, out, filled, rng, banned)
        return out

    def _fill_exact(
        self,
        rows: NDArray[np.int64],
        qlat: NDArray[np.float64],
        qlon: NDArray[np.float64],
        qgrp: NDArray[np.int64],
        min_km: float,
        max_km: float,
        out: NDArray[np.int64],
        filled: NDArray[np.int64],
        rng: np.random.Generator,
        banned: NDArray[np.int64] | None = None,
    ) -> None:
        hits = self.tree.query_ball_point(
            unit_vectors(qlat[rows], qlon[rows]), r=km_to_chord(max_km, self.radius_km), workers=-1
        )
        for row, members in zip(rows.tolist(), hits, strict=True):
            members = np.asarray(members, dtype=np.int64)
            if len(members):
                d = haversine_km(qlat[row], qlon[row], self.lat[members], self.lon[members], self.radius_km)
                members = members[(d >= min_km) & (d <= max_km) & (self.group_codes[members] != qgrp[row])]
                members = members[~self._banned(banned, np.full(len(members), row, dtype=np.int64), members)]
            members = np.setdiff1d(members, out[row, : filled[row]])
            take = min(len(members), out.shape[1] - filled[row])
            if take:
                out[row, filled[row] : filled[row] + take] = rng.choice(members, size=take, replace=False)
                filled[row] += take


def _place_picks(
    out: NDArray[np.int64],
    filled: NDArray[np.int64],
    rows: NDArray[np.int64],
    picks: NDArray[np.int64],
    n_points: int,
) -> None:
    """Append accepted ``picks`` to their ``rows`` of ``out`` in proposal order, skipping repeats and
    anything beyond the row's free slots (vectorised; updates ``out`` and ``filled`` in place)."""
    if len(rows) == 0:
        return
    _, first = np.unique(rows * n_points + picks, return_index=True)
    first.sort()  # back to proposal order: taking sorted keys would favour low indices
    rows, picks = rows[first], picks[first]
    fresh = ~(out[rows] == picks[:, None]).any(axis=1)
    rows, picks = rows[fresh], picks[fresh]
    order = np.argsort(rows, kind="stable")
    rows, picks = rows[order], picks[order]
    run_start = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    rank = np.arange(len(rows)) - np.repeat(run_start, np.diff(np.r_[run_start, len(rows)]))
    slot = filled[rows] + rank
    keep = slot < out.shape[1]
    out[rows[keep], slot[keep]] = picks[keep]
    filled += np.bincount(rows[keep], minlength=len(filled))


class _CellGrid:
    """Equal-area grid on the unit sphere (bands equal in z, equal longitude sectors) holding the
    indexed points sorted by cell, so a uniform point of any cell is two array lookups away."""

    def __init__(self, xyz: NDArray[np.float64], points_per_cell: int = 4):
        self.bands = max(1, int(math.sqrt(len(xyz) / points_per_cell / 2.0)))
        self.sectors = 2 * self.bands
        cell = self.cell_of(xyz)
        self.order = np.argsort(cell, kind="stable")
        self.count = np.bincount(cell, minlength=self.bands * self.sectors)
        self.start = np.cumsum(self.count) - self.count

    def cell_of(self, xyz: NDArray[np.float64]) -> NDArray[np.int64]:
        """Return the cell number of each (not necessarily normalised) 3-D direction."""
        norm = np.sqrt(np.einsum("ij,ij->i", xyz, xyz))
        z = xyz[:, 2] / np.where(norm > 0, norm, 1.0)
        band = np.clip(((z + 1.0) * 0.5 * self.bands).astype(np.int64), 0, self.bands - 1)
        lon = np.arctan2(xyz[:, 1], xyz[:, 0])
        sector = np.clip(
            ((lon + math.pi) / (2.0 * math.pi) * self.sectors).astype(np.int64), 0, self.sectors - 1
        )
        return band * self.sectors + sector

    def pick(self, xyz: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.int64]:
        """Return a uniformly chosen point index from each direction's cell (-1 for an empty cell)."""
        cell = self.cell_of(xyz)
        count = self.count[cell]
        slot = self.start[cell] + (rng.random(len(cell)) * count).astype(np.int64)
        return np.where(count > 0, self.order[np.minimum(slot, len(self.order) - 1)], -1)
