"""Benchmark: build the offline Earth with 2,000 places into a temporary folder; print wall time and peak RSS.

Target (issue 2): <= 60 s on the 2-core project machine. Run: ``python benchmarks/earth_build.py [--places N]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_mib() -> float:
    """Return this process's peak resident set size in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main() -> None:
    """Run the build once and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--places", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from geor1.sources import earth_data
    from geor1.sources.earth import build_earth, read_build_info

    with tempfile.TemporaryDirectory(prefix="geor1-earth-bench-") as tmp:
        started = time.perf_counter()
        for load in (
            earth_data.blue_marble,
            earth_data.shaded_relief,
            earth_data.shaded_relief_luminance,
            earth_data.landcover_classes,
            earth_data.land_sea_mask,
            earth_data.geonames,
        ):
            load()
        loaded = time.perf_counter()
        manifest = build_earth(Path(tmp) / "earth", places=args.places, seed=args.seed, progress=False)
        finished = time.perf_counter()
        counts = read_build_info(manifest.parent)["counts"]
        size_mib = sum(p.stat().st_size for p in (manifest.parent / "images").rglob("*.png")) / 2**20

    total = finished - started
    print(
        f"places: {counts['places']}  views: {counts['views']}  per continent: {json.dumps(counts['per_continent'])}"
    )
    print(
        f"data load: {loaded - started:.2f} s   build: {finished - loaded:.2f} s   total wall: {total:.2f} s"
    )
    print(f"PNG bytes: {size_mib:.1f} MiB   peak RSS: {peak_rss_mib():.0f} MiB")
    print(f"target <= 60 s: {'OK' if total <= 60 else 'MISSED'}")


if __name__ == "__main__":
    main()
