"""Geographic vocabulary shared by the data builders, the rewards and evaluation: continents, climate
classes, latitude bands and the GeoScore scale. Plain constants, no imports, so any module can use them."""

from __future__ import annotations

# The 7-continent model (Russia split at the Urals; see ``geor1.sources.earth_data.continent_of``).
CONTINENTS = ("Africa", "Antarctica", "Asia", "Europe", "North America", "Oceania", "South America")

# GeoChain's five climate classes (``geor1.eval.placetruth.climate_class`` approximates them).
CLIMATES = ("Tropical", "Dry", "Temperate", "Continental", "Polar")

TROPIC_LAT = 23.44  # Tropics of Cancer and Capricorn
POLAR_CIRCLE_LAT = 66.56  # Arctic and Antarctic circles
NEAR_EQUATOR_LAT = 10.0  # |lat| below this is "near the equator" (GeoChain's rule)

# |lat| below each upper bound falls in that band; at or above the last bound, "polar".
LAT_BANDS = ("tropical", "subtropical", "temperate", "subpolar", "polar")
LAT_BAND_UPPER = (TROPIC_LAT, 35.0, 55.0, POLAR_CIRCLE_LAT)

# GeoGuessr's score for an answer d km away: GEOSCORE_MAX * exp(-d / GEOSCORE_SCALE_KM).
GEOSCORE_MAX = 5000.0
GEOSCORE_SCALE_KM = 1492.7


def lat_band(lat: float) -> str:
    """Return the latitude band of a latitude: tropical, subtropical, temperate, subpolar or polar."""
    for name, upper in zip(LAT_BANDS, LAT_BAND_UPPER, strict=False):
        if abs(lat) < upper:
            return name
    return LAT_BANDS[-1]
