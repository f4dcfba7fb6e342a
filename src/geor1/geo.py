"""Geodesy on a spherical Earth: validated coordinates, haversine, bearings, and a unit-sphere index.

Distances use the mean Earth radius (IUGG R1 = 6371.0088 km) unless a radius is passed; the
spherical error against the WGS84 ellipsoid stays under 0.5 % (checked against geographiclib in tests).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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
        if groups is None:
            self.group_codes = np.arange(len(self.lat), dtype=np.int64)
        else:
            if len(groups) != len(self.lat):
                raise ValueError("groups must have one label per point")
            _, self.group_codes = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)

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

        Fast path: propose random targets uniformly (by area) inside the band around each query and take
        their nearest indexed points, keeping those that fall in the band. Rows still short after
        ``proposal_rounds`` fall back to an exact ball query with uniform choice among band members.
        """
        if not 0 <= min_km < max_km:
            raise ValueError(f"distance band must satisfy 0 <= min_km < max_km, got [{min_km}, {max_km}]")
        query = np.asarray(query, dtype=np.int64).ravel()
        out = np.full((len(query), n), -1, dtype=np.int64)
        filled = np.zeros(len(query), dtype=np.int64)
        if n == 0 or len(query) == 0:
            return out
        qlat, qlon, qgrp = self.lat[query], self.lon[query], self.group_codes[query]
        lo_c, hi_c = math.cos(min_km / self.radius_km), math.cos(min(max_km / self.radius_km, math.pi))
        knn_k = min(4, len(self))
        for _ in range(proposal_rounds):
            rows = np.flatnonzero(filled < n)
            if len(rows) == 0:
                break
            # one proposal per missing slot, area-uniform in the band (cos of angle uniform)
            need = n - filled[rows]
            rep = np.repeat(rows, need)
            cosd = rng.uniform(hi_c, lo_c, size=len(rep))
            dist = np.arccos(np.clip(cosd, -1.0, 1.0)) * self.radius_km
            tlat, tlon = destination(qlat[rep], qlon[rep], rng.uniform(0.0, 360.0, size=len(rep)), dist)
            _, cand = self.tree.query(unit_vectors(tlat, tlon), k=knn_k, workers=-1)
            cand = np.asarray(cand).reshape(len(rep), knn_k)
            pick = cand[np.arange(len(rep)), rng.integers(0, knn_k, size=len(rep))]
            d = haversine_km(qlat[rep], qlon[rep], self.lat[pick], self.lon[pick], self.radius_km)
            ok = (d >= min_km) & (d <= max_km) & (self.group_codes[pick] != qgrp[rep])
            for row, idx in zip(rep[ok].tolist(), pick[ok].tolist(), strict=True):
                f = filled[row]
                if f < n and idx not in out[row, :f]:
                    out[row, f] = idx
                    filled[row] = f + 1
        for row in np.flatnonzero(filled < n).tolist():
            self._fill_exact(row, int(query[row]), min_km, max_km, out, filled, rng)
        return out

    def _fill_exact(
        self,
        row: int,
        q: int,
        min_km: float,
        max_km: float,
        out: NDArray[np.int64],
        filled: NDArray[np.int64],
        rng: np.random.Generator,
    ) -> None:
        members = np.asarray(
            self.tree.query_ball_point(self.xyz[q], r=km_to_chord(max_km, self.radius_km)), dtype=np.int64
        )
        if len(members):
            d = haversine_km(self.lat[q], self.lon[q], self.lat[members], self.lon[members], self.radius_km)
            members = members[(d >= min_km) & (self.group_codes[members] != self.group_codes[q])]
        members = np.setdiff1d(members, out[row, : filled[row]])
        take = min(len(members), out.shape[1] - filled[row])
        if take:
            out[row, filled[row] : filled[row] + take] = rng.choice(members, size=take, replace=False)
            filled[row] += take
