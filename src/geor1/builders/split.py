"""Train/test splits of places, so that no place (and, for region splits, no region) leaks across.

Every view of a place lands in the split of its place. A place's split comes from a hash of a key and
the *split seed* (``SplitConfig.seed``, ``--split-seed``): the key is the place id (``by="place"``), the lat/lon grid cell of ``region_deg`` degrees that
holds the place (``by="region"``, a harder split: test places sit in areas never seen in training),
or the place's ``country_code`` / ``continent`` metadata. A key goes to ``test`` when its hash, read as
a number in [0, 1), is below ``test_fraction``; the fraction is over keys, so region/country/continent
splits hold roughly, not exactly, that fraction of places.

The split seed is deliberately separate from the seed a task builder samples with (negatives, answer
letters, ``--limit`` subsets): task sets built with different sampling seeds but the same split seed,
split-by and test fraction share one train/test division, so a training set never holds a test place.

Task builders draw negatives only from views of the same split (the candidate index is built over the
split's places), so a test example never shows a training place, even as a distractor.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from geor1.errors import ConfigError, RecordError
from geor1.records import View

SPLIT_BY = ("place", "region", "country", "continent")
SPLITS = ("train", "test", "all")


@dataclass
class SplitConfig:
    """How places are divided between train and test."""

    by: str = "place"
    test_fraction: float = 0.2
    seed: int = 0  # the split seed: keep it fixed across every task set of one experiment
    region_deg: float = 10.0

    def __post_init__(self) -> None:
        if self.by not in SPLIT_BY:
            raise ConfigError("by", f"must be one of {', '.join(SPLIT_BY)}, got {self.by!r}")
        if not 0.0 <= self.test_fraction <= 1.0:
            raise ConfigError("test_fraction", f"must be in [0, 1], got {self.test_fraction}")
        if not 0.0 < self.region_deg <= 180.0:
            raise ConfigError(
                "region_deg", f"the region cell size must be in (0, 180] degrees, got {self.region_deg}"
            )


def unit_hash(key: str, seed: int) -> float:
    """Return a number in [0, 1) fixed by ``key`` and ``seed`` (SHA-256, stable across runs and machines)."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def region_cell(lat: float, lon: float, deg: float) -> str:
    """Return the id of the ``deg``-degree lat/lon grid cell holding the point."""
    row = min(int(math.floor((lat + 90.0) / deg)), int(math.ceil(180.0 / deg)) - 1)
    col = int(math.floor(((lon + 180.0) % 360.0) / deg))
    return f"{row}:{col}"


def split_key(
    view: View, config: SplitConfig, *, manifest: str | None = None, line: int | None = None
) -> str:
    """Return the key whose hash decides the split of ``view``'s place."""
    if config.by == "place":
        return view.place
    if config.by == "region":
        return region_cell(view.lat, view.lon, config.region_deg)
    meta_key = "country_code" if config.by == "country" else "continent"
    value = view.meta.get(meta_key)
    if not value:
        raise RecordError(
            f"splitting by {config.by} needs meta.{meta_key} on every view",
            path=manifest,
            line=line,
            field="meta",
        )
    return str(value)


def assign_splits(
    views: list[View], config: SplitConfig, *, manifest: str | None = None, lines: list[int] | None = None
) -> dict[str, str]:
    """Return ``{place: "train" | "test"}``; a place's split follows its first view in the list."""
    out: dict[str, str] = {}
    for i, view in enumerate(views):
        if view.place in out:
            continue
        key = split_key(view, config, manifest=manifest, line=lines[i] if lines else None)
        out[view.place] = "test" if unit_hash(key, config.seed) < config.test_fraction else "train"
    return out


def places_in_split(assignment: dict[str, str], split: str) -> set[str] | None:
    """Return the places of ``split`` (None for ``all``: no filtering), or raise if the split is empty."""
    if split not in SPLITS:
        raise ConfigError("split", f"must be one of {', '.join(SPLITS)}, got {split!r}")
    if split == "all":
        return None
    places = {place for place, s in assignment.items() if s == split}
    if not places:
        raise ConfigError(
            "split", f"{split!r} holds no places (try another test fraction, split seed or split unit)"
        )
    return places


def split_places(
    views: list[View],
    split: str,
    config: SplitConfig,
    *,
    manifest: str | None = None,
    lines: list[int] | None = None,
) -> set[str] | None:
    """Return the places of ``split`` under ``config`` (None for ``all``), or raise if that split is empty.

    Only ``config`` (its ``seed`` is the split seed) decides the division, never a task's sampling seed.
    """
    return places_in_split(assign_splits(views, config, manifest=manifest, lines=lines), split)


def split_record(config: SplitConfig, split: str) -> dict[str, object]:
    """Return what a task example records of how its places were split (``meta.split_config``)."""
    return {
        "split": split,
        "by": config.by,
        "test_fraction": config.test_fraction,
        "seed": config.seed,
        "region_deg": config.region_deg,
    }


def example_places(meta: dict[str, object]) -> set[str]:
    """Return every place a task example shows: its own (``meta.place``) and its candidates'."""
    places = {str(meta["place"])} if meta.get("place") else set()
    candidates = meta.get("candidate_places")
    if isinstance(candidates, list):
        places.update(str(p) for p in candidates if p)
    return places


def read_train_places(paths: list[str] | list[object]) -> tuple[set[str], list[dict[str, object]]]:
    """Return the places shown by the task/CoT examples of the JSONL files ``paths`` (read by
    ``read_task_file``) and the distinct split records (``meta.split_config``) they carry; errors name
    file:line."""
    from geor1.records import read_task_file

    places: set[str] = set()
    records: list[dict[str, object]] = []
    for path in paths:
        for example in read_task_file(str(path), check_images=False):
            meta = example.meta
            places |= example_places(meta)
            record = meta.get("split_config")
            if isinstance(record, dict) and record not in records:
                records.append(record)
    return places, records


def check_no_shared_places(test_metas: list[dict[str, object]], train_paths: list[object], what: str) -> None:
    """Raise GeoR1Error if the examples described by ``test_metas`` show a place that the training task
    files ``train_paths`` also show; the message counts them, names a few and compares split settings."""
    from geor1.errors import GeoR1Error

    if not train_paths:
        return
    train_places, train_records = read_train_places(list(train_paths))
    test_places = set().union(*(example_places(m) for m in test_metas)) if test_metas else set()
    shared = sorted(test_places & train_places)
    if not shared:
        return
    test_records = []
    for meta in test_metas:
        record = meta.get("split_config")
        if isinstance(record, dict) and record not in test_records:
            test_records.append(record)

    def settings(records: list[dict[str, object]]) -> str:
        keys = ("by", "test_fraction", "seed")
        shown = {tuple((k, r.get(k)) for k in keys) for r in records}
        if not shown:
            return "not recorded"
        return " / ".join(", ".join(f"{k}={v}" for k, v in item) for item in sorted(shown, key=str))

    names = ", ".join(shared[:5]) + (", …" if len(shared) > 5 else "")
    raise GeoR1Error(
        f"{what} shares {len(shared)} of its {len(test_places)} places with the training data "
        f"({', '.join(map(str, train_paths))}): {names}. Split settings of the training data: "
        f"{settings(train_records)}; of this set: {settings(test_records)}. Build every task set of one "
        "experiment with the same split seed, split unit and test fraction."
    )
