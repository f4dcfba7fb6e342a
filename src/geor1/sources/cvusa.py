"""CVUSA reader (the CVPR'17 "19zl" subset): street panoramas and Bing satellite tiles, GPS in a table.

Layout implemented (split files as read by Jeff-Zilence/TransGeo2022 ``dataset/CVUSA.py``; location
table as read by Sample4Geo's and GaoShuang98/CVCities' ``calc_distance/calc_distance_cvusa.py``)::

    {root}/splits/train-19zl.csv      no header; one pair a line:
    {root}/splits/val-19zl.csv          bingmap/19/0000001.jpg,streetview/panos/0000001.jpg,streetview/annotations/0000001.png
                                        (satellite tile, street panorama, segmentation annotation; paths
                                        relative to the root)
    {root}/split_locations/all.csv    no header; line N holds the location of image index N:
                                        sat_lat, sat_lon, ground_lat, ground_lon, <5th column, unused>

The image index is the number in the tile's file name (``0000001`` -> 1), looked up on physical line
``index`` of ``all.csv`` (row ``index - 1`` of those loaders, for a file without blank lines). A blank
line keeps its number: it holds no location (the image is reported) and never shifts later images onto
their neighbours' coordinates. Each split line yields a ``street`` view
(the panorama at ``ground_lat, ground_lon``, ``meta.panorama = True``) and a ``satellite`` view (at
``sat_lat, sat_lon``) sharing one ``place`` (``cvusa/{index}``). ``val-19zl`` is the usual test set.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from geor1.errors import ConfigError
from geor1.sources.folder import (
    LayoutError,
    ViewCollector,
    ViewsResult,
    Where,
    coordinate_problem,
    iter_csv_rows,
)

SPLIT_FILES = {
    "train": ("train-19zl.csv",),
    "val": ("val-19zl.csv",),
    "all": ("train-19zl.csv", "val-19zl.csv"),
}
SPLITS = tuple(SPLIT_FILES)
LOCATIONS = "split_locations/all.csv"
LAYOUT = (
    "{root}/splits/train-19zl.csv and val-19zl.csv (rows: bingmap/19/<n>.jpg,streetview/panos/<n>.jpg,…) "
    "and {root}/split_locations/all.csv (rows: sat_lat, sat_lon, ground_lat, ground_lon, …)"
)


def image_index(path: str) -> int | None:
    """Return the image index in a CVUSA file name (``bingmap/19/0000042.jpg`` -> 42), or None."""
    stem = PurePosixPath(path.replace("\\", "/")).stem
    return int(stem) if stem.isdigit() else None


def load_cvusa(
    root: str | Path,
    *,
    split: str = "all",
    strict: bool = False,
    verify_images: bool = False,
) -> ViewsResult:
    """Return CVUSA's street and satellite views for ``split`` (``train``, ``val`` or ``all``), paired by place.

    ``all`` reads the split lists that are there (many copies ship only ``train-19zl.csv``); a missing
    one is named in ``result.notes``. Raises LayoutError for a missing location file, for the list of
    ``train``/``val``, or when ``all`` finds no list at all; ConfigError for an unknown split and
    RecordError on the first bad row when ``strict``.
    """
    root = Path(root)
    if split == "test":
        split = "val"
    if split not in SPLIT_FILES:
        raise ConfigError("split", f"unknown CVUSA split {split!r}; choose one of {', '.join(SPLITS)}")
    split_paths = [root / "splits" / name for name in SPLIT_FILES[split]]
    missing = [p for p in split_paths if not p.is_file()]
    if missing and (split != "all" or len(missing) == len(split_paths)):
        also = f" (nor {', '.join(str(p) for p in missing[1:])})" if len(missing) > 1 else ""
        raise LayoutError(f"{missing[0]}: CVUSA split list not found{also}; expected {LAYOUT}")
    split_paths = [p for p in split_paths if p not in missing]
    locations_path = root / LOCATIONS
    if not locations_path.is_file():
        raise LayoutError(f"{locations_path}: CVUSA file not found; expected {LAYOUT}")
    locations = dict(iter_csv_rows(locations_path))  # physical line number -> fields
    rows = [(path, line, fields) for path in split_paths for line, fields in iter_csv_rows(path)]
    collector = ViewCollector(
        root, strict=strict, verify_images=verify_images, total=len(rows), desc="reading CVUSA"
    )
    for path, line, fields in rows:
        where = Where(path, line=line)
        fields = [f.strip() for f in fields]
        if len(fields) < 2:
            collector.reject(
                "malformed row", where.error("expected satellite path, street path[, annotation]")
            )
            continue
        sat, street = fields[0], fields[1]
        index = image_index(sat)
        if index is None:
            collector.reject("no image index", where.error(f"no image number in file name {sat!r}", "image"))
            continue
        street_index = image_index(street)
        if street_index is not None and street_index != index:
            collector.reject(
                "malformed row",
                where.error(
                    f"satellite {sat!r} and street view {street!r} have different image numbers", "image"
                ),
            )
            continue
        location = locations.get(index)
        if location is None:
            collector.reject(
                "no location",
                where.error(
                    f"image index {index} has no location: line {index} of {locations_path} is "
                    f"blank or missing",
                    "image",
                ),
            )
            continue
        location_where = Where(locations_path, line=index)
        if len(location) < 4:
            collector.reject(
                "malformed row",
                location_where.error("expected sat_lat, sat_lon, ground_lat, ground_lon"),
            )
            continue
        location = [v.strip() for v in location]
        bad = coordinate_problem(location[0], location[1], location_where) or coordinate_problem(
            location[2], location[3], location_where
        )
        if bad is not None:
            collector.reject(*bad)
            continue
        stem = PurePosixPath(sat.replace("\\", "/")).stem
        place = f"cvusa/{stem}"
        meta = {"dataset": "cvusa", "index": index, "split": path.stem}
        street_meta = {**meta, "panorama": True}
        if len(fields) > 2 and fields[2]:
            street_meta["annotation"] = fields[2]
        collector.add_row(
            [
                {
                    "id": f"{place}/street",
                    "image": street,
                    "lat": location[2],
                    "lon": location[3],
                    "view": "street",
                    "place": place,
                    "meta": street_meta,
                },
                {
                    "id": f"{place}/satellite",
                    "image": sat,
                    "lat": location[0],
                    "lon": location[1],
                    "view": "satellite",
                    "place": place,
                    "meta": meta,
                },
            ],
            where,
        )
    result = collector.result()
    result.notes += [
        f"{p}: CVUSA split list not found; read {', '.join(q.name for q in split_paths)} only"
        for p in missing
    ]
    return result
