"""University-1652 reader: satellite, street and drone images of 1,652 university buildings.

Layout implemented (layumi/University1652-Baseline; the folder tree as documented by the repositories
that train on it, e.g. SunJ1025/TriSA's README)::

    {root}/train/satellite/{building_id}/*.jpg     one tile per building
    {root}/train/street/{building_id}/*.jpg
    {root}/train/drone/{building_id}/*.jpeg        54 synthetic drone views per building
    {root}/train/google/{building_id}/*.jpg        noisy street views from an image search (opt-in)
    {root}/test/{query|gallery}_{satellite|street|drone}/{building_id}/*

Building ids are the folder names (``0001`` …); train and test buildings are disjoint. The folders carry
no coordinates, so they come from a GPS file: the building coordinates the authors publish as a KML file
(Google Earth placemarks; ``.kml``, or zipped ``.kmz``), or CSV rows ``building_id,lat,lon`` (a header
line naming the columns is allowed; ``1`` and ``0001`` name the same building). In the KML each
``Placemark`` is one building: its id is the placemark's ``<name>`` (or an ``ExtendedData`` value named
``building_id``/``id``), its location the ``Point`` coordinates (KML writes ``lon,lat[,alt]``), or the
mean vertex of its first polygon ring or line when the placemark is drawn as a shape. The KML is read
with the standard library's SAX parser (expat), which keeps line numbers for the error messages and
resolves no external entities. A building without a GPS
row is reported once, listed with its folders, and skipped (an error when ``strict``). Views of one
building share ``place`` (``university1652/{building_id}``); ``google`` images become ``street`` views
with ``meta.source = "google"``; test views record ``meta.role`` (query or gallery).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax import SAXParseException, make_parser
from xml.sax.handler import ContentHandler, feature_external_ges, feature_external_pes

from geor1.errors import ConfigError, RecordError
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


class _Gps:
    """Building coordinates read so far, each checked once; bad rows go to the collector."""

    def __init__(self, collector: ViewCollector):
        self.collector = collector
        self.located: dict[str, tuple[float, float]] = {}
        self.first_line: dict[str, int] = {}

    def add(self, building_id: str, lat: Any, lon: Any, where: Where) -> None:
        bad = coordinate_problem(lat, lon, where)
        if bad is not None:
            self.collector.reject(*bad)
            return
        key = building_key(building_id)
        if key in self.located:
            self.collector.reject(
                "duplicate building",
                where.error(
                    f"building {building_id!r} already has a row (line {self.first_line[key]})", "building_id"
                ),
            )
            return
        self.located[key] = (float(lat), float(lon))
        self.first_line[key] = where.line or 0


def read_gps(path: Path, collector: ViewCollector) -> dict[str, tuple[float, float]]:
    """Return ``{building key: (lat, lon)}`` from a GPS file: KML/KMZ placemarks (by suffix) or a
    ``building_id,lat,lon`` CSV; bad rows go to ``collector``."""
    if path.suffix.lower() in (".kml", ".kmz"):
        return read_kml(path, collector)
    gps = _Gps(collector)
    for index, (line, fields) in enumerate(iter_csv_rows(path)):
        where = Where(path, line=line)
        fields = [f.strip() for f in fields]
        if index == 0 and len(fields) >= 2 and "lat" in fields[1].lower():
            continue  # header line
        if len(fields) < 3 or not fields[0]:
            collector.reject("malformed row", where.error("expected building_id,lat,lon"))
            continue
        gps.add(fields[0], fields[1], fields[2], where)
    return gps.located


_ID_DATA_NAMES = ("building_id", "id")
_SHAPES = ("Point", "LinearRing", "LineString")


class _PlacemarkHandler(ContentHandler):
    """SAX handler collecting ``(line, name, extended data, shape, coordinates text)`` per Placemark."""

    def __init__(self) -> None:
        super().__init__()
        self.placemarks: list[dict[str, Any]] = []
        self._locator: Any = None
        self._stack: list[str] = []
        self._text: list[str] = []
        self._current: dict[str, Any] | None = None
        self._data_name: str | None = None

    def setDocumentLocator(self, locator: Any) -> None:  # noqa: N802 (SAX API name)
        self._locator = locator

    @staticmethod
    def _local(name: str) -> str:
        return name.rpartition(":")[2]  # "kml:Placemark" -> "Placemark"

    def startElement(self, name: str, attrs: Any) -> None:  # noqa: N802
        tag = self._local(name)
        self._stack.append(tag)
        self._text = []
        if tag == "Placemark":
            line = self._locator.getLineNumber() if self._locator else None
            self._current = {"line": line, "name": None, "data": {}, "shape": None, "coordinates": None}
        elif tag in ("Data", "SimpleData") and self._current is not None:
            self._data_name = attrs.get("name")

    def characters(self, content: str) -> None:
        self._text.append(content)

    def endElement(self, name: str) -> None:  # noqa: N802
        tag = self._local(name)
        text = "".join(self._text).strip()
        self._stack.pop()
        current = self._current
        if current is not None:
            parent = self._stack[-1] if self._stack else ""
            if tag == "name" and parent == "Placemark":
                current["name"] = text
            elif tag == "value" and parent == "Data" and self._data_name:
                current["data"][self._data_name.lower()] = text
            elif tag == "SimpleData" and self._data_name:
                current["data"][self._data_name.lower()] = text
            elif tag == "coordinates" and parent in _SHAPES and current["coordinates"] is None:
                current["shape"], current["coordinates"] = parent, text
            elif tag == "Placemark":
                self.placemarks.append(current)
                self._current = None
        self._text = []


def _kml_bytes(path: Path) -> bytes:
    if path.suffix.lower() != ".kmz":
        return path.read_bytes()
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".kml")]
            if not names:
                raise LayoutError(f"{path}: KMZ archive holds no .kml file")
            # the KMZ convention: the root document is doc.kml, else the first .kml in the archive
            main = "doc.kml" if "doc.kml" in names else names[0]
            return archive.read(main)
    except zipfile.BadZipFile:
        raise LayoutError(f"{path}: not a KMZ (zip) archive") from None


def _kml_point(shape: str, text: str) -> tuple[str, str]:
    """Return ``(lat, lon)`` text of a KML shape's coordinates (a point, or the mean vertex)."""
    tuples = [t.split(",") for t in text.split()]
    if not tuples or any(len(t) < 2 for t in tuples):
        raise ValueError(f"{shape} coordinates {text[:60]!r} are not 'lon,lat[,alt]' tuples")
    if len(tuples) > 1 and tuples[0] == tuples[-1]:
        tuples = tuples[:-1]  # a closed ring repeats its first vertex
    if len(tuples) == 1:
        return tuples[0][1], tuples[0][0]
    lons, lats = [float(t[0]) for t in tuples], [float(t[1]) for t in tuples]
    return str(sum(lats) / len(lats)), str(sum(lons) / len(lons))


def read_kml(path: Path, collector: ViewCollector) -> dict[str, tuple[float, float]]:
    """Return ``{building key: (lat, lon)}`` from a KML/KMZ file of building placemarks (see the module
    docstring); a placemark without an id or coordinates goes to ``collector``. Raises LayoutError when
    the file is not well-formed XML."""
    handler = _PlacemarkHandler()
    parser = make_parser()
    parser.setFeature(feature_external_ges, False)
    parser.setFeature(feature_external_pes, False)
    parser.setContentHandler(handler)
    try:
        parser.parse(io.BytesIO(_kml_bytes(path)))
    except SAXParseException as exc:
        raise LayoutError(
            f"{path}:{exc.getLineNumber()}: not a well-formed KML file ({exc.getMessage()})"
        ) from None
    if not handler.placemarks:
        raise LayoutError(f"{path}: no Placemark in this KML file (expected one placemark per building)")
    gps = _Gps(collector)
    for mark in handler.placemarks:
        where = Where(path, line=mark["line"])
        data = mark["data"]
        building = next((data[k] for k in _ID_DATA_NAMES if data.get(k)), None) or mark["name"]
        if not building:
            collector.reject("malformed row", where.error("placemark has no <name> (the building id)"))
            continue
        if mark["coordinates"] is None:
            collector.reject(
                "malformed row",
                where.error(f"placemark {building!r} has no Point coordinates", "coordinates"),
            )
            continue
        try:
            lat, lon = _kml_point(mark["shape"], mark["coordinates"])
        except ValueError as exc:
            collector.reject("non-numeric coordinate", where.error(str(exc), "coordinates"))
            continue
        gps.add(building, lat, lon, where)
    return gps.located


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
    """Return University-1652's views of ``split`` for the folder ``kinds``, located by the ``gps`` file
    (the published KML/KMZ of building placemarks, or a ``building_id,lat,lon`` CSV).

    ``kinds`` defaults to satellite, street and drone (add ``google`` for the noisy street views); named
    kinds must exist, the default needs at least one. Raises LayoutError for missing folders or GPS file,
    ConfigError for an unknown split/kind, RecordError on the first bad row or unlocated building if
    ``strict``.
    """
    root = Path(root)
    if split not in SPLITS:
        raise ConfigError(
            "split", f"unknown University-1652 split {split!r}; choose one of {', '.join(SPLITS)}"
        )
    wanted = list(kinds) if kinds else list(DEFAULT_KINDS)
    unknown = [k for k in wanted if k not in FOLDER_KINDS]
    if unknown:
        raise ConfigError(
            "kinds", f"unknown University-1652 kind(s) {unknown}; choose from {', '.join(FOLDER_KINDS)}"
        )
    if gps is None:
        raise LayoutError(
            "University-1652 has no coordinates in its folders: pass a GPS file (the buildings' KML, or "
            "CSV building_id,lat,lon)"
        )
    gps = Path(gps)
    if not gps.is_file():
        raise LayoutError(
            f"{gps}: GPS file not found (expected the buildings' KML/KMZ, or CSV rows building_id,lat,lon)"
        )
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
