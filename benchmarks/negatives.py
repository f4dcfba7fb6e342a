"""Benchmark negative sampling by distance band (prints figures; no assertions).

1. 1,000,000 views uniform on the sphere, K=4 (3 negatives each), medium band [100, 1000] km:
   wall time of building the index and of sampling, and peak RSS of the process.
   Target: <= 30 s and <= 2 GiB on a 2-core machine.
2. 20,000 views: ``SphereIndex.sample_band`` against the naive all-pairs loop (per query: haversine to
   every view, keep the band, ``rng.choice``), both timed over all 20,000 queries in the same run.
   ``--naive-queries N`` times the naive loop on a random subset of N queries instead and extrapolates
   (the output says which was done). Target: >= 100x faster.

Run: ``python benchmarks/negatives.py [--views 1000000] [--small 20000] [--naive-queries N]``
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

from geor1.geo import SphereIndex, haversine_km

MEDIUM = (100.0, 1000.0)


def random_views(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(lat, lon)`` of ``n`` points uniform on the sphere."""
    return np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n))), rng.uniform(-180.0, 180.0, n)


def peak_rss_mib() -> float:
    """Return this process's peak resident set size in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def check_band(index: SphereIndex, query: np.ndarray, out: np.ndarray) -> tuple[int, int]:
    """Return ``(negatives outside the band or repeated or the query itself, rows short of negatives)``."""
    ok = out >= 0
    q = np.repeat(query[:, None], out.shape[1], axis=1)[ok]
    d = haversine_km(index.lat[q], index.lon[q], index.lat[out[ok]], index.lon[out[ok]])
    bad = int(((d < MEDIUM[0]) | (d > MEDIUM[1]) | (out[ok] == q)).sum())
    srt = np.sort(out, axis=1)
    bad += int(((srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)).sum())
    return bad, int((~ok).any(axis=1).sum())


def naive_negatives(lat: np.ndarray, lon: np.ndarray, q: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Return ``n`` negatives for view ``q`` by measuring the distance to every view (the baseline)."""
    d = haversine_km(lat[q], lon[q], lat, lon)
    members = np.flatnonzero((d >= MEDIUM[0]) & (d <= MEDIUM[1]))
    members = members[members != q]
    return rng.choice(members, size=min(n, len(members)), replace=False)


def time_naive(
    lat: np.ndarray, lon: np.ndarray, n_queries: int | None, rng: np.random.Generator
) -> tuple[float, float, int]:
    """Return ``(seconds for all len(lat) queries, seconds measured, queries measured)`` of the naive loop;
    the first equals the second when every query was measured (``n_queries`` None), else it extrapolates."""
    n = len(lat)
    queries = np.arange(n) if n_queries is None or n_queries >= n else rng.choice(n, n_queries, replace=False)
    t0 = time.perf_counter()
    for q in queries.tolist():
        naive_negatives(lat, lon, q, 3, rng)
    measured = time.perf_counter() - t0
    return measured / len(queries) * n, measured, len(queries)


def main() -> None:
    """Run both measurements and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--views", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument(
        "--naive-queries",
        type=int,
        default=None,
        help="time the naive loop on this many random queries and extrapolate (default: all, measured)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    lat, lon = random_views(args.views, rng)
    t0 = time.perf_counter()
    index = SphereIndex(lat, lon)
    t_build = time.perf_counter() - t0
    query = np.arange(args.views)
    t0 = time.perf_counter()
    out = index.sample_band(query, *MEDIUM, 3, rng)
    t_sample = time.perf_counter() - t0
    bad, short = check_band(index, query, out)
    print(f"[1] {args.views:,} views, K=4 (3 negatives each), medium band [100, 1000] km")
    print(f"    index build     {t_build:7.2f} s")
    print(f"    sampling        {t_sample:7.2f} s")
    print(f"    total           {t_build + t_sample:7.2f} s   (target <= 30 s)")
    print(f"    peak RSS        {peak_rss_mib():7.0f} MiB (target <= 2048 MiB)")
    print(f"    check: {bad} negatives outside the band/repeated, {short} rows short of negatives")
    del index, out

    lat, lon = random_views(args.small, rng)
    index = SphereIndex(lat, lon)
    query = np.arange(args.small)
    t0 = time.perf_counter()
    out = index.sample_band(query, *MEDIUM, 3, rng)
    t_fast = time.perf_counter() - t0
    bad, short = check_band(index, query, out)
    t_naive, t_measured, n_measured = time_naive(lat, lon, args.naive_queries, rng)
    how = "measured" if n_measured == args.small else "EXTRAPOLATED from a subsample"
    print(f"[2] {args.small:,} views, same band and K")
    print(f"    SphereIndex.sample_band (all {args.small:,} queries, incl. grid build)  {t_fast:8.3f} s")
    if n_measured == args.small:
        print(f"    naive all-pairs loop (all {args.small:,} queries, measured)         {t_naive:8.3f} s")
    else:
        print(
            f"    naive all-pairs loop: {t_measured:.3f} s measured on a subsample of {n_measured:,} queries, "
            f"extrapolated to {args.small:,} queries = {t_naive:.2f} s"
        )
    print(f"    speed-up        {t_naive / t_fast:7.0f}x  (target >= 100x; naive time {how})")
    print(f"    check: {bad} negatives outside the band/repeated, {short} rows short of negatives")


if __name__ == "__main__":
    main()
