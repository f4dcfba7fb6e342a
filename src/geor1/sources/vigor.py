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
    {root}/splits/{city}/satellite_list.txt              every tile of the city, one file name a line

SliceMatch's corrected labels (tudelft-iv/SliceMatch ``VIGOR_corrected_labels``; the original offsets
assumed a wrong ground resolution) come as ``splits__corrected/{city}/same_area_balanced_{train,test}
__corrected.txt`` with the same ``satellite_list.txt``; their README has users put that folder in place
of ``splits/``. Both folder names and both file names (with or without the ``__corrected`` suffix) are
detected; when both are present the corrected labels win (pass ``splits_dir``/``label_suffix``, on the
CLI ``--splits-dir``/``--label-suffix``, to choose). Each panorama records the label file it came from
(``meta.label_file``).

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
semi-positive tile names (they show the same spot: ``geor1.builders.pairing`` never draws them as negatives
of the panorama, nor the panorama as a negative of them). With ``all_tiles`` every tile named in the
city's ``satellite_list.txt`` becomes a view too (the whole gallery that VIGOR's retrieval evaluation
searches); a tile that is nobody's positive has its own place.

Without ``split`` every image in the city folders is read and a panorama is paired with the nearest tile
centre within ``max_pair_m`` metres (VIGOR tiles are about 73 m wide, so a positive's centre is at most
~26 m away). VIGOR's tiles overlap by half their width, so about four tiles cover each spot: every other
tile whose footprint contains the panorama is listed in its ``meta.semi_positives``, exactly as the label
files list them, so pairing never offers a tile showing the query's own place as a negative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geor1.errors import ConfigError
from geor1.geo import EARTH_RADIUS_KM
from geor1.sources.folder import (
    LayoutError,
    ViewCollector,
    ViewsResult,
    Where,
    count_lines,
    list_images,
)

EARTH_RADIUS_M = EARTH_RADIUS_KM * 1000.0
CITIES = ("Chicago", "NewYork", "SanFrancisco", "Seattle")
CROSS_AREA_TRAIN = ("NewYork", "Seattle")
CROSS_AREA_TEST = ("SanFrancisco", "Chicago")
SPLITS = ("same_area_train", "same_area_test", "cross_area_train", "cross_area_test")
LABEL_FOLDERS = ("splits__corrected", "splits")  # detection order: SliceMatch's corrected labels first
LABEL_SUFFIXES = ("__corrected", "")
SATELLITE_LIST = "satellite_list.txt"
TILE_PX = 640
# Ground resolution of a tile: Web-Mercator zoom 20 at the tile's latitude (the correction SliceMatch
# made), never less than the 0.114 m/px VIGOR's paper assumed; the larger footprint of the two is used so
# that a tile which might cover a panorama is never offered as its negative.
MERCATOR_M_PER_PX_Z20_EQUATOR = 156543.03392 / 2**20
VIGOR_PAPER_M_PER_PX = 0.114
DEFAULT_MAX_PAIR_M = 50.0
COVER_SEARCH_KM = 0.1  # beyond every tile's half-diagonal (at most ~55 m)
LAYOUT = (
    "{root}/{city}/panorama/<id>,<lat>,<lon>,.jpg, {root}/{city}/satellite/satellite_<lat>_<lon>.png "
    "and {root}/splits/{city}/*.txt (SliceMatch's corrected labels: {root}/splits__corrected/{city}/*__corrected.txt)"
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


def label_name(split: str, suffix: str = "") -> str:
    """Return the label file name of ``split`` (see SPLITS), with the file-name ``suffix`` before ``.txt``."""
    area, _, part = split.rpartition("_")
    stem = f"same_area_balanced_{part}" if area == "same_area" else "pano_label_balanced"
    return f"{stem}{suffix}.txt"


def label_file(root: Path, split: str, city: str, splits_dir: str = "splits", suffix: str = "") -> Path:
    """Return the label file of ``city`` for ``split`` in the label folder ``splits_dir``."""
    return root / splits_dir / city / label_name(split, suffix)


def find_labels(
    root: Path,
    split: str,
    cities: Sequence[str],
    splits_dir: str | None = None,
    label_suffix: str | None = None,
) -> tuple[str, str]:
    """Return ``(label folder, file-name suffix)`` holding ``split``'s label file for every city.

    ``splits_dir``/``label_suffix`` fix one or both; the rest is detected among LABEL_FOLDERS and
    LABEL_SUFFIXES (corrected labels first). Raises LayoutError naming the file that is missing in the
    layout that came closest, and every folder and name looked for.
    """
    folders = [splits_dir] if splits_dir else list(LABEL_FOLDERS)
    suffixes = [label_suffix] if label_suffix is not None else list(LABEL_SUFFIXES)
    best: tuple[int, int, int, str, str, list[Path]] | None = None
    for order, (folder, suffix) in enumerate((f, x) for f in folders for x in suffixes):
        missing = [p for c in cities if not (p := label_file(root, split, c, folder, suffix)).is_file()]
        if not missing:
            return folder, suffix
        rank = (len(missing), 0 if (root / folder).is_dir() else 1, order, folder, suffix, missing)
        if best is None or rank[:3] < best[:3]:
            best = rank
    assert best is not None
    names = " or ".join(sorted({label_name(split, x) for x in suffixes}))
    looked = " and ".join(f"{root / f}/<city>/" for f in folders)
    raise LayoutError(
        f"{best[5][0]}: VIGOR label file for split {split!r} not found (looked for {names} in "
        f"{looked}; the split covers {', '.join(cities)}; pass cities=/--city to read fewer, "
        f"splits_dir=/--splits-dir and label_suffix=/--label-suffix for another layout); expected {LAYOUT}"
    )


def tile_half_width_m(lat: float) -> float:
    """Return half the ground width of a VIGOR tile centred at latitude ``lat`` (see TILE_PX)."""
    per_px = max(VIGOR_PAPER_M_PER_PX, MERCATOR_M_PER_PX_Z20_EQUATOR * math.cos(math.radians(lat)))
    return TILE_PX * per_px / 2


def tile_covers(tile_lat: float, tile_lon: float, lat: float, lon: float) -> bool:
    """Return True when the north-up square tile centred at (tile_lat, tile_lon) contains (lat, lon)."""
    half = tile_half_width_m(tile_lat)
    north = math.radians(lat - tile_lat) * EARTH_RADIUS_M
    east = math.radians(lon - tile_lon) * EARTH_RADIUS_M * math.cos(math.radians(tile_lat))
    return abs(north) <= half and abs(east) <= half


def split_cities(split: str) -> tuple[str, ...]:
    """Return the cities a split covers under the VIGOR protocol."""
    if split.startswith("same_area"):
        return CITIES
    return CROSS_AREA_TRAIN if split.endswith("train") else CROSS_AREA_TEST


def _view(view_id: str, image: str, lat: str, lon: str, kind: str, place: str, meta: dict[str, Any]) -> dict:
    return {"id": view_id, "image": image, "lat": lat, "lon": lon, "view": kind, "place": place, "meta": meta}


def _tile_view(city: str, sat_dir: str, sat: str, lat: str, lon: str, meta: dict[str, Any]) -> dict:
    return _view(
        f"vigor/{city}/satellite/{sat}",
        f"{sat_dir}/{sat}",
        lat,
        lon,
        "satellite",
        f"vigor/{city}/{Path(sat).stem}",
        meta,
    )


def _load_split(
    root: Path,
    split: str,
    cities: Sequence[str],
    labels_at: tuple[str, str],
    all_tiles: bool,
    strict: bool,
    verify_images: bool,
) -> ViewsResult:
    splits_dir, suffix = labels_at
    labels = []
    for city in cities:
        path = label_file(root, split, city, splits_dir, suffix)
        tiles = root / splits_dir / city / SATELLITE_LIST
        if all_tiles and not tiles.is_file():
            raise LayoutError(
                f"{tiles}: VIGOR tile list not found (all_tiles/--all-tiles reads every tile of a city from "
                f"its {SATELLITE_LIST}, next to the label file {path.name})"
            )
        labels.append((city, city_folders(root, city), path, tiles if all_tiles else None))
    collector = ViewCollector(
        root,
        strict=strict,
        verify_images=verify_images,
        allow_repeats=True,
        total=sum(count_lines(p) + (count_lines(t) if t else 0) for *_, p, t in labels),
        desc=f"reading VIGOR {split}",
    )
    for city, (pano_dir, sat_dir), path, tiles in labels:
        meta: dict[str, Any] = {"dataset": "vigor", "city": city, "split": split}
        label_rel = path.relative_to(root).as_posix()
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
                pano_meta: dict[str, Any] = {
                    **meta,
                    "panorama": True,
                    "positive": sat,
                    "label_file": label_rel,
                }
                if len(fields) >= 13:
                    try:
                        pano_meta["positive_delta_px"] = [float(x) for x in fields[2:4]]
                    except ValueError:
                        collector.reject(
                            "malformed row", where.error(f"pixel offsets {fields[2:4]} are not numbers")
                        )
                        continue
                    pano_meta["semi_positives"] = [fields[i] for i in (4, 7, 10)]
                place = f"vigor/{city}/{Path(sat).stem}"
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
                        _tile_view(city, sat_dir, sat, sat_lat, sat_lon, meta),
                    ],
                    where,
                )
        if tiles is None:
            continue
        # After the labels: a listed tile that is some panorama's positive is then a silent repeat.
        with tiles.open("r", encoding="utf-8") as handle:
            for number, text in enumerate(handle, start=1):
                sat = text.strip()
                if not sat:
                    continue
                where = Where(tiles, line=number)
                try:
                    sat_lat, sat_lon = parse_satellite_name(sat)
                except ValueError as exc:
                    collector.reject("no GPS in file name", where.error(str(exc), "image"))
                    continue
                collector.add_row([_tile_view(city, sat_dir, sat, sat_lat, sat_lon, meta)], where)
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
        tiles: list[tuple[str, float, float, str]] = []  # (place, lat, lon, file name) of the tiles kept
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
                tiles.append((place, kept[0].lat, kept[0].lon, sat.name))
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
                positive = None
                if distance_km[0, 0] * 1000.0 <= max_pair_m:
                    positive = int(nearest[0, 0])
                    place = tiles[positive][0]
                    pano_meta["positive_distance_m"] = round(float(distance_km[0, 0]) * 1000.0, 2)
                covering = [
                    tiles[i][3]
                    for i in index.within(lat_f, lon_f, COVER_SEARCH_KM)[0].tolist()
                    if i != positive and tile_covers(tiles[i][1], tiles[i][2], lat_f, lon_f)
                ]
                if covering:
                    pano_meta["semi_positives"] = covering
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
    splits_dir: str | None = None,
    label_suffix: str | None = None,
    all_tiles: bool = False,
    max_pair_m: float | None = None,
    strict: bool = False,
    verify_images: bool = False,
) -> ViewsResult:
    """Return VIGOR's panorama (``street``) and satellite views under ``root``, paired by ``place``.

    ``split`` picks a protocol's label files (see SPLITS; ``cities`` then defaults to the protocol's);
    without it every image in the city folders is read and panoramas pair with the nearest tile within
    ``max_pair_m`` (default DEFAULT_MAX_PAIR_M). ``splits_dir`` (``splits``, ``splits__corrected``, …) and ``label_suffix``
    (``__corrected`` or ``""``) pick the label layout; left out, they are detected (see ``find_labels``).
    ``all_tiles`` adds every tile of ``satellite_list.txt`` (split mode). Raises LayoutError for a
    missing folder or label file, ConfigError for an unknown split, RecordError on the first bad row
    when ``strict``.
    """
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"{root}: VIGOR root folder not found (expected {LAYOUT})")
    if max_pair_m is not None and not max_pair_m > 0:
        raise ConfigError("max_pair_m", f"must be a positive distance in metres, got {max_pair_m!r}")
    if max_pair_m is not None and split is not None:
        raise ConfigError(
            "max_pair_m",
            "pairs panoramas with tiles by distance, without a split: a split's label files name each "
            "panorama's tile",
        )
    if split is not None:
        if split not in SPLITS:
            raise ConfigError("split", f"unknown VIGOR split {split!r}; choose one of {', '.join(SPLITS)}")
        chosen = list(cities) if cities else list(split_cities(split))
        labels_at = find_labels(root, split, chosen, splits_dir, label_suffix)
        return _load_split(root, split, chosen, labels_at, all_tiles, strict, verify_images)
    if splits_dir is not None or label_suffix is not None or all_tiles:
        raise ConfigError(
            "split",
            "splits_dir, label_suffix and all_tiles choose label files: they need a split; "
            "without one every image in the city folders is read",
        )
    cities = list(cities) if cities else find_cities(root)
    if not cities:
        raise LayoutError(f"{root}: no VIGOR city folders found; expected {LAYOUT}")
    pair_m = DEFAULT_MAX_PAIR_M if max_pair_m is None else max_pair_m
    return _load_folders(root, cities, pair_m, strict, verify_images)
