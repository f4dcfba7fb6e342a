"""CV-Cities reader (Geo-R1's scaffolding data): a street panorama and a satellite tile per location.

Layout implemented (from the dataset loaders of GaoShuang98/CVCities, ``cvcities_base/dataset/cvcities.py``
and ``calc_distance/calc_distance_cvcities.py``)::

    {root}/{city}/img_info.csv      one row per location, NO header:
                                    name, longitude, latitude, city, sat_dir, pano_dir

Note the order: **longitude before latitude** (the loaders rename columns 0..5 to ``name, longitude,
latitude, city, sat_dir, pano_dir`` and build ``(latitude, longitude)`` from columns 2 and 1).
``sat_dir`` and ``pano_dir`` are image paths relative to the dataset root (the loaders open
``f"{data_folder}/{pano_dir}"``); a copy whose paths are relative to the city folder is accepted too.

Each row yields a ``street`` view (the panorama, ``meta.panorama = True``) and a ``satellite`` view that
share one ``place`` (``cvcities/{city}/{name}``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from geor1.errors import RecordError
from geor1.records import check_relative_path
from geor1.sources.folder import LayoutError, ViewCollector, ViewsResult, Where, count_lines, iter_csv_rows

INFO_FILE = "img_info.csv"
COLUMNS = ("name", "longitude", "latitude", "city", "sat_dir", "pano_dir")
LAYOUT = f"{{root}}/{{city}}/{INFO_FILE} (no header; columns {', '.join(COLUMNS)})"


def find_cities(root: Path) -> list[str]:
    """Return the names of the city folders under ``root`` that hold an ``img_info.csv``, sorted."""
    return sorted(p.parent.name for p in root.glob(f"*/{INFO_FILE}") if p.is_file())


def _image_path(root: Path, city_folder: str, value: str, where: Where) -> str:
    """Return an image path relative to ``root``: as written (root-relative) or under the city folder."""
    try:
        image = check_relative_path(value)
    except RecordError as exc:
        raise RecordError(exc.reason, path=where.path, line=where.line, field="image") from None
    if not (root / image).is_file() and (root / city_folder / image).is_file():
        return f"{city_folder}/{image}"
    return image


def load_cvcities(
    root: str | Path,
    *,
    cities: Sequence[str] | None = None,
    strict: bool = False,
    verify_images: bool = False,
) -> ViewsResult:
    """Return the street and satellite views of CV-Cities under ``root`` (every city, or ``cities``).

    Raises LayoutError when the root has no ``{city}/img_info.csv`` or a named city lacks one, and
    RecordError on the first bad row when ``strict``.
    """
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"{root}: CV-Cities root folder not found (expected {LAYOUT})")
    cities = list(cities) if cities else find_cities(root)
    if not cities:
        raise LayoutError(f"{root}: no city folder with {INFO_FILE} found; expected {LAYOUT}")
    info_files = []
    for city in cities:
        info = root / city / INFO_FILE
        if not info.is_file():
            raise LayoutError(f"{info}: file not found; expected {LAYOUT}")
        info_files.append((city, info))
    collector = ViewCollector(
        root,
        strict=strict,
        verify_images=verify_images,
        total=sum(count_lines(p) for _, p in info_files),
        desc="reading CV-Cities",
    )
    for city_folder, info in info_files:
        for line, fields in iter_csv_rows(info):
            where = Where(info, line=line)
            fields = [f.strip() for f in fields]
            if len(fields) < len(COLUMNS):
                collector.reject(
                    "malformed row",
                    where.error(f"expected {len(COLUMNS)} columns ({', '.join(COLUMNS)}), got {len(fields)}"),
                )
                continue
            name, lon, lat, city, sat_dir, pano_dir = fields[: len(COLUMNS)]
            if not name:
                collector.reject("missing value", where.error("missing required field", "name"))
                continue
            try:
                pano = _image_path(root, city_folder, pano_dir, where)
                sat = _image_path(root, city_folder, sat_dir, where)
            except RecordError as exc:
                collector.reject(
                    "image path escapes root" if "escapes" in exc.reason else "missing value", exc
                )
                continue
            place = f"cvcities/{city_folder}/{name}"
            meta = {"dataset": "cvcities", "city": city or city_folder, "name": name}
            common = {"lat": lat, "lon": lon, "place": place}
            collector.add_row(
                [
                    {
                        "id": f"{place}/street",
                        "image": pano,
                        "view": "street",
                        **common,
                        "meta": {**meta, "panorama": True},
                    },
                    {
                        "id": f"{place}/satellite",
                        "image": sat,
                        "view": "satellite",
                        **common,
                        "meta": dict(meta),
                    },
                ],
                where,
            )
    return collector.result()
