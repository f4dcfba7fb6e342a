"""University-1652 reader: satellite, street and drone images of 1,652 university buildings.

Layout implemented (layumi/University1652-Baseline; the folder tree as documented by the repositories
that train on it, e.g. SunJ1025/TriSA's README)::

    {root}/train/satellite/{building_id}/*.jpg     one tile per building
    {root}/train/street/{building_id}/*.jpg
    {root}/train/drone/{building_id}/*.jpeg        54 synthetic drone views per building
    {root}/train/google/{building_id}/*.jpg        noisy street views from an image search (opt-in)
    {root}/test/{query|gallery}_{satellite|street|drone}/{building_id}/*

Building ids are the folder names (``0001`` …); train and test buildings are disjoint. The folders carry
no coordinates, so they come from a GPS file the user supplies: CSV rows ``building_id,lat,lon`` (a header
line naming the columns is allowed; ``1`` and ``0001`` name the same building). A building without a GPS
row is reported once, listed with its folders, and skipped (an error when ``strict``). Views of one
building share ``place`` (``university1652/{building_id}``); ``google`` images become ``street`` views
with ``meta.source = "google"``; test views record ``meta.role`` (query or gallery).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from geor1.errors import RecordError
from geor1.sources.folder import (
    LayoutError,
    ViewCollector,
    ViewsResult,
    Where,
    coordinate_problem,
    iter_csv_rows,
    list_images,
)

SPLITS = ("train", "test")
FOLDER_KINDS = {"satellite": "satellite", "street": "street", "drone": "drone", "google": "street"}
DEFAULT_KINDS = ("satellite", "street", "drone")
LAYOUT = "{root}/train/{satellite,street,drone,google}/{building_id}/* or {root}/test/{query,gallery}_{kind}/{building_id}/*"


def building_key(building_id: str) -> str:
    """Return the id a building is matched by: digits without leading zeros (``0001`` -> ``1``), else as is."""
    text = building_id.strip()
    return str(int(text)) if text.isdigit() else text


def read_gps(path: Path, collector: ViewCollector) -> dict[str, tuple[float, float]]:
    """Return ``{building key: (lat, lon)}`` from a ``building_id,lat,lon`` CSV; bad rows go to ``collector``."""
    gps: dict[str, tuple[float, float]] = {}
    first_line: dict[str, int] = {}
    for index, (line, fields) in enumerate(iter_csv_rows(path)):
        where = Where(path, line=line)
        fields = [f.strip() for f in fields]
        if index == 0 and len(fields) >= 2 and "lat" in fields[1].lower():
            continue  # header line
        if len(fields) < 3 or not fields[0]:
            collector.reject("malformed row", where.error("expected building_id,lat,lon"))
            continue
        bad = coordinate_problem(fields[1], fields[2], where)
        if bad is not None:
            collector.reject(*bad)
            continue
        key = building_key(fields[0])
        if key in gps:
            collector.reject(
                "duplicate building",
                where.error(
                    f"building {fields[0]!r} already has a row (line {first_line[key]})", "building_id"
                ),
            )
            continue
        gps[key] = (float(fields[1]), float(fields[2]))
        first_line[key] = line
    return gps


def kind_folders(split_dir: Path, split: str, kind: str) -> list[tuple[Path, str | None]]:
    """Return the existing folders holding ``kind`` images in a split, each with its test role (or None)."""
    if split == "test":
        candidates = [(split_dir / f"{role}_{kind}", role) for role in ("query", "gallery")]
        candidates.append((split_dir / kind, None))
    else:
        candidates = [(split_dir / kind, None)]
    return [(folder, role) for folder, role in candidates if folder.is_dir()]


def load_university1652(
    root: str | Path,
    *,
    gps: str | Path | None = None,
    split: str = "train",
    kinds: Sequence[str] | None = None,
    strict: bool = False,
    verify_images: bool = False,
) -> ViewsResult:
    """Return University-1652's views of ``split`` for the folder ``kinds``, located by the ``gps`` file.

    ``kinds`` defaults to satellite, street and drone (add ``google`` for the noisy street views); named
    kinds must exist, the default needs at least one. Raises LayoutError for missing folders or GPS file,
    ValueError for an unknown split/kind, RecordError on the first bad row or unlocated building if
    ``strict``.
    """
    root = Path(root)
    if split not in SPLITS:
        raise ValueError(f"unknown University-1652 split {split!r}; choose one of {', '.join(SPLITS)}")
    wanted = list(kinds) if kinds else list(DEFAULT_KINDS)
    unknown = [k for k in wanted if k not in FOLDER_KINDS]
    if unknown:
        raise ValueError(f"unknown University-1652 kind(s) {unknown}; choose from {', '.join(FOLDER_KINDS)}")
    if gps is None:
        raise LayoutError(
            "University-1652 has no coordinates in its folders: pass a GPS file (CSV building_id,lat,lon)"
        )
    gps = Path(gps)
    if not gps.is_file():
        raise LayoutError(f"{gps}: GPS file not found (expected CSV rows building_id,lat,lon)")
    split_dir = root / split
    if not split_dir.is_dir():
        raise LayoutError(f"{split_dir}: University-1652 split folder not found; expected {LAYOUT}")
    folders: list[tuple[str, Path, str | None]] = []
    for kind in wanted:
        found = kind_folders(split_dir, split, kind)
        if not found and kinds:
            raise LayoutError(f"{split_dir}: no folder for kind {kind!r}; expected {LAYOUT}")
        folders += [(kind, folder, role) for folder, role in found]
    if not folders:
        raise LayoutError(f"{split_dir}: none of the folders {', '.join(wanted)} found; expected {LAYOUT}")

    buildings = [
        (kind, folder, role, b)
        for kind, folder, role in folders
        for b in sorted(folder.iterdir())
        if b.is_dir()
    ]
    images = [(kind, folder, role, b, list_images(b)) for kind, folder, role, b in buildings]
    collector = ViewCollector(
        root,
        strict=strict,
        verify_images=verify_images,
        total=sum(len(files) for *_, files in images),
        desc=f"reading University-1652 {split}",
    )
    located = read_gps(gps, collector)

    unlocated: dict[str, list[Path]] = {}
    for _, _, _, building, _files in images:
        if building_key(building.name) not in located:
            unlocated.setdefault(building.name, []).append(building)
    for building_id, dirs in unlocated.items():
        n_files = sum(len(list_images(d)) for d in dirs)
        collector.reject(
            "building without GPS",
            RecordError(
                f"building {building_id} has no row in the GPS file {gps}; skipped its {n_files} image(s) in "
                + ", ".join(str(d.relative_to(root)) for d in dirs),
                path=dirs[0],
                field="building_id",
            ),
        )

    for kind, folder, role, building, files in images:
        if building.name in unlocated:
            continue
        lat, lon = located[building_key(building.name)]
        place = f"university1652/{building.name}"
        meta = {"dataset": "university1652", "split": split, "building": building.name, "folder": folder.name}
        if role:
            meta["role"] = role
        if kind == "google":
            meta["source"] = "google"
        for image in files:
            relative = image.relative_to(root).as_posix()
            collector.add_row(
                [
                    {
                        "id": f"university1652/{relative}",
                        "image": relative,
                        "lat": lat,
                        "lon": lon,
                        "view": FOLDER_KINDS[kind],
                        "place": place,
                        "meta": dict(meta),
                    }
                ],
                Where(image),
            )
    return collector.result()
