"""VIGOR reader: street panoramas and satellite tiles of four US cities, GPS carried in the file names.

Layout implemented (Jeff-Zilence/VIGOR ``data/DATASET.md`` and ``dataloader.py``; the same loader in
Jeff-Zilence/TransGeo2022 ``dataset/VIGOR.py`` and tudelft-iv/CrossViewMetricLocalization
``readdata_VIGOR.py``)::

    {root}/{city}/panorama/{prefix},{latitude},{longitude},.jpg
    {root}/{city}/satellite/satellite_{latitude}_{longitude}.png
    {root}/splits/{city}/same_area_balanced_train.txt    same-area protocol, all four cities
    {root}/splits/{city}/same_area_balanced_test.txt
    {root}/splits/{city}/pano_label_balanced.txt         cross-area protocol: train on NewYork and
                                                         Seattle, test on SanFrancisco and Chicago

A label line holds 13 space-separated fields: the panorama file name, then four satellite file names
each followed by two pixel offsets of the panorama inside that tile; the first satellite is the
*positive* (the panorama lies in its central area), the other three are *semi-positives* (they also
cover the panorama's location). Cities are ``Chicago, NewYork, SanFrancisco, Seattle``.

The re-organised copy used by Sample4Geo and CV-Cities' ``cvcities_base/dataset/vigor.py``
(``{root}/ground/{city}/…``, ``{root}/satellite/{city}/…``, same ``splits/``) is read as well.

With ``split`` (``same_area_train``, ``same_area_test``, ``cross_area_train``, ``cross_area_test``) each
label line yields the panorama (``street``, ``meta.panorama = True``) and its positive tile
(``satellite``) sharing one ``place`` (``vigor/{city}/{tile stem}``); a tile that is the positive of
two panoramas is written once. The panorama's ``meta`` keeps the positive's pixel offset and the
semi-positive tile names (they show the same spot: ``geor1.tasks.pairing`` never draws them as negatives
of the panorama, nor the panorama as a negative of them). Without ``split``
every image in the city folders is read and a panorama is paired with the nearest tile centre within
``max_pair_m`` metres (VIGOR tiles are about 73 m wide, so a positive's centre is at most ~26 m away).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geor1.sources.folder import (
    LayoutError,
    ViewCollector,
    ViewsResult,
    Where,
    count_lines,
    list_images,
)

CITIES = ("Chicago", "NewYork", "SanFrancisco", "Seattle")
CROSS_AREA_TRAIN = ("NewYork", "Seattle")
CROSS_AREA_TEST = ("SanFrancisco", "Chicago")
SPLITS = ("same_area_train", "same_area_test", "cross_area_train", "cross_area_test")
LAYOUT = (
    "{root}/{city}/panorama/<id>,<lat>,<lon>,.jpg, {root}/{city}/satellite/satellite_<lat>_<lon>.png "
    "and {root}/splits/{city}/*.txt"
)


def parse_panorama_name(name: str) -> tuple[str, str]:
    """Return ``(lat, lon)`` text from a VIGOR panorama file name ``<id>,<lat>,<lon>,.jpg``; ValueError if absent."""
    parts = Path(name).stem.rstrip(",").rsplit(",", 2)
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise ValueError(f"panorama file name {name!r} does not read '<id>,<lat>,<lon>,.jpg'")
    return parts[1], parts[2]


def parse_satellite_name(name: str) -> tuple[str, str]:
    """Return ``(lat, lon)`` text from a VIGOR tile file name ``satellite_<lat>_<lon>.png``; ValueError if absent."""
    parts = Path(name).stem.rsplit("_", 2)
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise ValueError(f"satellite file name {name!r} does not read 'satellite_<lat>_<lon>.png'")
    return parts[1], parts[2]


def city_folders(root: Path, city: str) -> tuple[str, str]:
    """Return the (panorama, satellite) folders of ``city`` relative to ``root``, in either known layout."""
    if (root / city / "panorama").is_dir() and (root / city / "satellite").is_dir():
        return f"{city}/panorama", f"{city}/satellite"
    if (root / "ground" / city).is_dir() and (root / "satellite" / city).is_dir():
        return f"ground/{city}", f"satellite/{city}"
    raise LayoutError(
        f"{root / city}: no VIGOR folders for city {city!r}; expected {root / city / 'panorama'} and "
        f"{root / city / 'satellite'} (or {root / 'ground' / city} and {root / 'satellite' / city})"
    )


def find_cities(root: Path) -> list[str]:
    """Return the city names under ``root`` that have panorama folders (either layout), sorted."""
    found = {p.parent.name for p in root.glob("*/panorama") if p.is_dir()}
    if (root / "ground").is_dir():
        found |= {p.name for p in (root / "ground").iterdir() if p.is_dir()}
    return sorted(found)


def label_file(root: Path, split: str, city: str, splits_dir: str = "splits") -> Path:
    """Return the label file of ``city`` for ``split`` (see SPLITS)."""
    area, _, part = split.rpartition("_")
    name = f"same_area_balanced_{part}.txt" if area == "same_area" else "pano_label_balanced.txt"
    return root / splits_dir / city / name


def split_cities(split: str) -> tuple[str, ...]:
    """Return the cities a split covers under the VIGOR protocol."""
    if split.startswith("same_area"):
        return CITIES
    return CROSS_AREA_TRAIN if split.endswith("train") else CROSS_AREA_TEST


def _view(view_id: str, image: str, lat: str, lon: str, kind: str, place: str, meta: dict[str, Any]) -> dict:
    return {"id": view_id, "image": image, "lat": lat, "lon": lon, "view": kind, "place": place, "meta": meta}


def _load_split(
    root: Path, split: str, cities: Sequence[str], splits_dir: str, strict: bool, verify_images: bool
) -> ViewsResult:
    labels = []
    for city in cities:
        path = label_file(root, split, city, splits_dir)
        if not path.is_file():
            raise LayoutError(
                f"{path}: VIGOR label file for split {split!r} not found (the split covers "
                f"{', '.join(cities)}; pass cities=/--city to read fewer); expected {LAYOUT}"
            )
        labels.append((city, city_folders(root, city), path))
    collector = ViewCollector(
        root,
        strict=strict,
        verify_images=verify_images,
        allow_repeats=True,
        total=sum(count_lines(p) for _, _, p in labels),
        desc=f"reading VIGOR {split}",
    )
    for city, (pano_dir, sat_dir), path in labels:
        with path.open("r", encoding="utf-8") as handle:
            for number, text in enumerate(handle, start=1):
                fields = text.split()
                if not fields:
                    continue
                where = Where(path, line=number)
                if len(fields) < 2:
                    collector.reject(
                        "malformed row",
                        where.error("expected a panorama name and its positive satellite name"),
                    )
                    continue
                pano, sat = fields[0], fields[1]
                try:
                    pano_lat, pano_lon = parse_panorama_name(pano)
                    sat_lat, sat_lon = parse_satellite_name(sat)
                except ValueError as exc:
                    collector.reject("no GPS in file name", where.error(str(exc), "image"))
                    continue
                place = f"vigor/{city}/{Path(sat).stem}"
                meta: dict[str, Any] = {"dataset": "vigor", "city": city, "split": split}
                pano_meta: dict[str, Any] = {**meta, "panorama": True, "positive": sat}
                if len(fields) >= 13:
                    try:
                        pano_meta["positive_delta_px"] = [float(x) for x in fields[2:4]]
                    except ValueError:
                        collector.reject(
                            "malformed row", where.error(f"pixel offsets {fields[2:4]} are not numbers")
                        )
                        continue
                    pano_meta["semi_positives"] = [fields[i] for i in (4, 7, 10)]
                collector.add_row(
                    [
                        _view(
                            f"vigor/{city}/panorama/{pano}",
                            f"{pano_dir}/{pano}",
                            pano_lat,
                            pano_lon,
                            "street",
                            place,
                            pano_meta,
                        ),
                        _view(
                            f"vigor/{city}/satellite/{sat}",
                            f"{sat_dir}/{sat}",
                            sat_lat,
                            sat_lon,
                            "satellite",
                            place,
                            meta,
                        ),
                    ],
                    where,
                )
    return collector.result()


def _load_folders(
    root: Path, cities: Sequence[str], max_pair_m: float, strict: bool, verify_images: bool
) -> ViewsResult:
    from geor1.geo import SphereIndex  # scipy: imported only when pairing by distance

    listing = []
    for city in cities:
        pano_dir, sat_dir = city_folders(root, city)
        listing.append((city, pano_dir, sat_dir, list_images(root / pano_dir), list_images(root / sat_dir)))
    collector = ViewCollector(
        root,
        strict=strict,
        verify_images=verify_images,
        total=sum(len(p) + len(s) for *_, p, s in listing),
        desc="reading VIGOR",
    )
    for city, pano_dir, sat_dir, panos, sats in listing:
        meta = {"dataset": "vigor", "city": city}
        tiles: list[tuple[str, float, float]] = []  # (place, lat, lon) of the tiles kept
        for sat in sats:
            where = Where(sat)
            try:
                lat, lon = parse_satellite_name(sat.name)
            except ValueError as exc:
                collector.reject("no GPS in file name", where.error(str(exc), "image"))
                continue
            place = f"vigor/{city}/{sat.stem}"
            kept = collector.add_row(
                [
                    _view(
                        f"vigor/{city}/satellite/{sat.name}",
                        f"{sat_dir}/{sat.name}",
                        lat,
                        lon,
                        "satellite",
                        place,
                        meta,
                    )
                ],
                where,
            )
            if kept:
                tiles.append((place, kept[0].lat, kept[0].lon))
        index = SphereIndex([t[1] for t in tiles], [t[2] for t in tiles]) if tiles else None
        for pano in panos:
            where = Where(pano)
            try:
                lat, lon = parse_panorama_name(pano.name)
                lat_f, lon_f = float(lat), float(lon)
            except ValueError as exc:
                collector.reject("no GPS in file name", where.error(str(exc), "image"))
                continue
            place = f"vigor/{city}/{pano.name}"
            pano_meta: dict[str, Any] = {**meta, "panorama": True}
            if index is not None and math.isfinite(lat_f) and math.isfinite(lon_f) and abs(lat_f) <= 90:
                distance_km, nearest = index.knn(lat_f, lon_f, k=1)
                if distance_km[0, 0] * 1000.0 <= max_pair_m:
                    place = tiles[int(nearest[0, 0])][0]
                    pano_meta["positive_distance_m"] = round(float(distance_km[0, 0]) * 1000.0, 2)
            collector.add_row(
                [
                    _view(
                        f"vigor/{city}/panorama/{pano.name}",
                        f"{pano_dir}/{pano.name}",
                        lat,
                        lon,
                        "street",
                        place,
                        pano_meta,
                    )
                ],
                where,
            )
    return collector.result()


def load_vigor(
    root: str | Path,
    *,
    split: str | None = None,
    cities: Sequence[str] | None = None,
    splits_dir: str = "splits",
    max_pair_m: float = 50.0,
    strict: bool = False,
    verify_images: bool = False,
) -> ViewsResult:
    """Return VIGOR's panorama (``street``) and satellite views under ``root``, paired by ``place``.

    ``split`` picks a protocol's label files (see SPLITS; ``cities`` then defaults to the protocol's);
    without it every image in the city folders is read. ``splits_dir`` names the label folder (e.g.
    ``splits__corrected`` for SliceMatch's corrected offsets). Raises LayoutError for a missing folder
    or label file, ValueError for an unknown split, RecordError on the first bad row when ``strict``.
    """
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"{root}: VIGOR root folder not found (expected {LAYOUT})")
    if split is not None:
        if split not in SPLITS:
            raise ValueError(f"unknown VIGOR split {split!r}; choose one of {', '.join(SPLITS)}")
        return _load_split(
            root, split, list(cities) if cities else split_cities(split), splits_dir, strict, verify_images
        )
    cities = list(cities) if cities else find_cities(root)
    if not cities:
        raise LayoutError(f"{root}: no VIGOR city folders found; expected {LAYOUT}")
    return _load_folders(root, cities, max_pair_m, strict, verify_images)
