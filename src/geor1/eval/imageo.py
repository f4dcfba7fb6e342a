"""IMAGEO-Bench scoring (Li et al., arXiv 2508.01608), comparable with the benchmark authors' numbers.

The model answers in IMAGEO's strict JSON schema::

    {"image_information": {...}, "reasoning": {...},
     "reverse_geocoding": {"confidence": ..., "address": {"street", "city", "state", "country"},
                           "coordinates": {"latitude": ..., "longitude": ...}}}

Default mode reproduces the authors' own analysis code, repository ``Lingyao1219/benchmark-reverse-geocoding``
(``analysis/utils.py``: ``process_jsonl_to_dataframe``, ``standardize_state``, ``haversine_distance``,
``calculate_distances``, ``get_performance_df``; ``src/utils.py``: ``parse_json``; the merge and state
standardisation cells of ``src/evaluation.ipynb``, written for their dataset 2 — the dataset-3 notebook
``analysis/evaluation.ipynb`` was not in the snapshot we could read, so its join key is assumed to
follow the same rule), re-implemented here:

- the answer is the record's ``location_info`` (the authors' parse of ``raw_response`` at generation
  time); a record without that key (our own generations) is parsed from its raw text with the same
  lenient rules as their ``parse_json`` (code fence, Python literals, bare keys, single quotes, trailing
  commas, outermost braces); a JSON line that does not load is skipped (they print a warning);
- predictions are joined to the truth CSV with an INNER join on the image id (``image_file`` without
  its last extension, as their notebook derives ids), so ``n`` counts joined rows only;
- latitude/longitude become floats unless null/"none"/"" or unconvertible, and an exact 0.0 counts as
  missing; distance = haversine with R = 6371 km, only where all four coordinates are present;
  ``median_km``/``mean_km`` are over those rows only;
- city accuracy: lower-cased exact match; state: the prediction standardised to a two-letter code
  (``standardize_state``: two letters upper-cased, US state names mapped, anything else upper-cased)
  and compared exactly with the truth column; country: lower-cased exact match;
- every accuracy's denominator is the rows where BOTH the prediction and the truth are non-null (an
  unparsed answer has null fields, so it is left OUT of the denominators; an empty string or "Unknown"
  stays in and counts as wrong). ``acc_km`` (not in the authors' code; the thresholds come from the
  geolocation literature) follows the same rule: the share of rows with a distance that are within
  the threshold.

``normalize=True`` keeps those denominators but matches names fairly (``geor1.eval.placenames``):
accents/case/punctuation folded, countries compared by ISO code via ``pycountry`` ("USA" =
"United States"), states by ISO 3166-2 code within the true country, cities without "city" suffixes;
the join also strips repeated image extensions ("x.jpg.jpg"). ``count_unparsed=True`` instead puts every
joined row in every denominator (unparsed or missing = wrong).
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geor1.errors import RecordError
from geor1.eval.placenames import city_key, country_key, subdivision_key

KM_THRESHOLDS = (1, 25, 200, 750, 2500)
IMAGEO_RADIUS_KM = 6371.0

US_STATE_CODES = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
    "colorado": "CO", "connecticut": "CT", "delaware": "DE", "florida": "FL", "georgia": "GA",
    "hawaii": "HI", "idaho": "ID", "illinois": "IL", "indiana": "IN", "iowa": "IA", "kansas": "KS",
    "kentucky": "KY", "louisiana": "LA", "maine": "ME", "maryland": "MD", "massachusetts": "MA",
    "michigan": "MI", "minnesota": "MN", "mississippi": "MS", "missouri": "MO", "montana": "MT",
    "nebraska": "NE", "nevada": "NV", "new hampshire": "NH", "new jersey": "NJ", "new mexico": "NM",
    "new york": "NY", "north carolina": "NC", "north dakota": "ND", "ohio": "OH", "oklahoma": "OK",
    "oregon": "OR", "pennsylvania": "PA", "rhode island": "RI", "south carolina": "SC",
    "south dakota": "SD", "tennessee": "TN", "texas": "TX", "utah": "UT", "vermont": "VT",
    "virginia": "VA", "washington": "WA", "west virginia": "WV", "wisconsin": "WI", "wyoming": "WY",
}  # fmt: skip

IMAGEO_PROMPT = (
    "Identify where this image was taken. Respond with ONE JSON object only, in this schema: "
    '{"image_information": {"environment": "indoor|outdoor", "scene_type": "street|scenery|building", '
    '"setting": "urban|suburban|rural|natural"}, "reasoning": {"landmark_recognition": "...", '
    '"text_and_signage": "...", "cultural_indicators": "...", "spatial_context": "..."}, '
    '"reverse_geocoding": {"confidence": "1-5", "address": {"street": "...", "city": "...", '
    '"state": "...", "country": "..."}, "coordinates": {"latitude": "...", "longitude": "..."}}}'
)

_FENCE = re.compile(r"```(?:json)?\s*([\s\S]*?)\s*```")
_BARE_KEY = re.compile(r"(?<=[{\s,])([a-zA-Z_][a-zA-Z0-9_]*)\s*:")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None


def _pythonish_to_json(text: str) -> str:
    # Same blunt rewrite as the authors' parser (it also touches words inside strings, on purpose).
    return text.replace("None", "null").replace("True", "true").replace("False", "false")


def _repair(text: str) -> str:
    text = _BARE_KEY.sub(r'"\1":', text)
    if "'" in text:
        text = text.replace("'", '"')
    return _TRAILING_COMMA.sub(r"\1", text)


def parse_imageo_json(text: object) -> Any:
    """Return the JSON value in a model's raw IMAGEO answer, parsed as leniently as the authors do, or
    None when nothing parses. Never raises."""
    if not isinstance(text, str) or not text:
        return None
    body = text.strip()
    fence = _FENCE.search(body)
    if fence:
        body = fence.group(1).strip()
    value = _loads(body)
    if value is not None:
        return value
    cleaned = _pythonish_to_json(body)
    value = _loads(cleaned)
    if value is not None:
        return value
    try:
        value = ast.literal_eval(cleaned)
        if isinstance(value, (dict, list)):
            return json.loads(json.dumps(value))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    if "{" in cleaned and "}" in cleaned:
        value = _loads(_repair(cleaned))
        if value is not None:
            return value
    if not fence:
        brace, bracket = body.find("{"), body.find("[")
        if brace != -1 and (bracket == -1 or brace < bracket):
            start, end = brace, body.rfind("}")
        elif bracket != -1:
            start, end = bracket, body.rfind("]")
        else:
            start, end = -1, -1
        if start != -1 and end > start:
            value = _loads(_repair(_pythonish_to_json(body[start : end + 1])))
            if value is not None:
                return value
    return None


def _sub(obj: Any, key: str) -> dict[str, Any]:
    value = obj.get(key, {}) if isinstance(obj, dict) else {}
    return value if isinstance(value, dict) else {}


def _coordinate(value: Any) -> float | None:
    """The authors' coordinate rule: float() unless null-like; 0.0 and failures are missing."""
    if value is None or str(value).lower() in ("null", "none", ""):
        return None
    try:
        number = float(value)
    except (ValueError, TypeError, OverflowError):
        return None
    if number == 0.0 or math.isnan(number):
        return None
    return number


@dataclass
class ImageoAnswer:
    """The fields of one IMAGEO answer; None where the answer did not give a value."""

    parsed: bool
    city: Any = None
    state: Any = None
    country: Any = None
    street: Any = None
    confidence: Any = None
    lat: float | None = None
    lon: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def answer_from_json(info: Any) -> ImageoAnswer:
    """Return the answer fields of a parsed IMAGEO document (``parsed`` is False without a
    ``reverse_geocoding`` object)."""
    geo = info.get("reverse_geocoding") if isinstance(info, dict) else None
    address, coords = _sub(geo, "address"), _sub(geo, "coordinates")
    return ImageoAnswer(
        parsed=isinstance(geo, dict),
        city=address.get("city"),
        state=address.get("state"),
        country=address.get("country"),
        street=address.get("street"),
        confidence=geo.get("confidence") if isinstance(geo, dict) else None,
        lat=_coordinate(coords.get("latitude")),
        lon=_coordinate(coords.get("longitude")),
    )


def answer_from_text(text: object) -> ImageoAnswer:
    """Return the answer fields of a model's raw IMAGEO answer text."""
    return answer_from_json(parse_imageo_json(text))


def answer_from_record(record: dict[str, Any]) -> ImageoAnswer:
    """Return the answer of one result-file record: its ``location_info`` when present (what the
    authors' analysis reads), else its raw text (``raw_response``, ``response`` or ``completion``)."""
    if "location_info" in record:
        return answer_from_json(record["location_info"])
    for key in ("raw_response", "response", "completion"):
        if key in record:
            return answer_from_text(record[key])
    return ImageoAnswer(parsed=False)


def image_id(image_file: object, *, strip_all_extensions: bool = False) -> str:
    """Return the benchmark image id of an ``image_file`` value: the name without its last extension
    (the authors' rule) or, with ``strip_all_extensions``, without every trailing image extension."""
    name = str(image_file).replace("\\", "/").rsplit("/", 1)[-1]
    if strip_all_extensions:
        while re.search(r"\.(jpe?g|png|webp|gif|bmp|tiff?)$", name, flags=re.I):
            name = name.rsplit(".", 1)[0]
        return name
    return name.rsplit(".", 1)[0]


@dataclass
class ImageoTruth:
    """One ground-truth row of an IMAGEO info CSV."""

    image_id: str
    lat: float
    lon: float
    city: Any
    state: Any
    country: Any


def read_truth(path: str | Path) -> list[ImageoTruth]:
    """Return the rows of an IMAGEO ``dataset*_info.csv`` (pandas' CSV rules, as the authors read it:
    an empty cell, "NA", "null" … is missing). Raises RecordError naming a missing column."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise RecordError("file not found", path=path)
    frame = pd.read_csv(path)
    for column in ("image_id", "latitude", "longitude", "city", "state", "country"):
        if column not in frame.columns:
            raise RecordError("missing column", path=path, field=column)

    def cell(value: Any) -> Any:
        return None if pd.isna(value) else value

    rows = []
    for i, row in enumerate(frame.itertuples(index=False), start=2):
        try:
            lat, lon = float(row.latitude), float(row.longitude)
        except (TypeError, ValueError):
            raise RecordError("latitude/longitude not numbers", path=path, line=i) from None
        rows.append(
            ImageoTruth(str(row.image_id), lat, lon, cell(row.city), cell(row.state), cell(row.country))
        )
    return rows


def read_predictions(path: str | Path) -> tuple[list[dict[str, Any]], int]:
    """Return ``(records, n_malformed_lines)`` of an IMAGEO result JSONL; lines that are not JSON objects
    are counted and skipped, as the authors do."""
    path = Path(path)
    if not path.is_file():
        raise RecordError("file not found", path=path)
    records, malformed = [], 0
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.strip():
                continue
            obj = _loads(line)
            if isinstance(obj, dict):
                records.append(obj)
            else:
                malformed += 1
    return records, malformed


def standardize_state(value: Any) -> str | None:
    """The authors' state standardisation: None/"" → None; two letters → upper case; a US state name →
    its code; anything else upper-cased."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    s = str(value).strip().lower()
    if len(s) == 2 and s.isalpha():
        return s.upper()
    return US_STATE_CODES.get(s, s.upper())


def imageo_haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance with the authors' radius (6371 km); NaN where their formula fails."""
    try:
        p1, l1, p2, l2 = map(math.radians, (lat1, lon1, lat2, lon2))
        a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin((l2 - l1) / 2) ** 2
        return 2 * math.asin(math.sqrt(a)) * IMAGEO_RADIUS_KM
    except (ValueError, TypeError, OverflowError):
        return math.nan


def _lower_equal(a: Any, b: Any) -> bool:
    # pandas' .str.lower() turns non-strings into NaN, and NaN never equals anything.
    return isinstance(a, str) and isinstance(b, str) and a.lower() == b.lower()


@dataclass
class ImageoRow:
    """One joined (prediction, truth) row with its per-field verdicts (None = not in that denominator)."""

    image_id: str
    answer: ImageoAnswer
    truth: ImageoTruth
    km: float | None
    city_ok: bool | None
    state_ok: bool | None
    country_ok: bool | None


def _authors_verdicts(a: ImageoAnswer, t: ImageoTruth) -> tuple[bool | None, bool | None, bool | None]:
    city = None if a.city is None or t.city is None else _lower_equal(a.city, t.city)
    std = standardize_state(a.state)
    state = None if std is None or t.state is None else std == t.state
    country = None if a.country is None or t.country is None else _lower_equal(a.country, t.country)
    return city, state, country


def _normalized_verdicts(a: ImageoAnswer, t: ImageoTruth) -> tuple[bool | None, bool | None, bool | None]:
    city = (
        None
        if a.city is None or t.city is None
        else bool(city_key(t.city)) and (city_key(a.city) == city_key(t.city))
    )
    state = None
    if a.state not in (None, "") and t.state is not None:
        state = subdivision_key(a.state, t.country) == subdivision_key(t.state, t.country)
    country = (
        None if a.country is None or t.country is None else country_key(a.country) == country_key(t.country)
    )
    return city, state, country


def join_predictions(
    records: Iterable[dict[str, Any]],
    truth: Iterable[ImageoTruth],
    *,
    normalize: bool = False,
) -> tuple[list[ImageoRow], int]:
    """Return ``(rows, n_unmatched_predictions)``: the inner join of result records with the truth
    (every matching pair, like a pandas merge), each with its distance and field verdicts."""
    by_id: dict[str, list[ImageoTruth]] = {}
    for t in truth:
        by_id.setdefault(t.image_id, []).append(t)
    verdicts = _normalized_verdicts if normalize else _authors_verdicts
    rows, unmatched = [], 0
    for record in records:
        key = record.get("image_id") or record.get("image_file") or record.get("id")
        rid = image_id(key, strip_all_extensions=normalize)
        matches = by_id.get(rid, [])
        if not matches:
            unmatched += 1
            continue
        answer = answer_from_record(record)
        for t in matches:
            km = None
            if answer.lat is not None and answer.lon is not None:
                d = imageo_haversine_km(answer.lat, answer.lon, t.lat, t.lon)
                km = None if math.isnan(d) else d
            rows.append(ImageoRow(rid, answer, t, km, *verdicts(answer, t)))
    return rows, unmatched


def _rate(flags: list[bool | None], count_missing: bool) -> tuple[float | None, int]:
    if count_missing:
        values = [bool(f) for f in flags]
    else:
        values = [f for f in flags if f is not None]
    return (float(np.mean(values)) if values else None), len(values)


def imageo_metrics(rows: list[ImageoRow], *, count_unparsed: bool = False) -> dict[str, Any]:
    """Return the IMAGEO metrics of joined rows: ``n, n_parsed, median_km, mean_km, acc_km{"1",…},
    city_acc, state_acc, country_acc`` plus ``n_with_coords`` and each accuracy's ``denominators``."""
    km = np.array([r.km for r in rows if r.km is not None], dtype=np.float64)
    out: dict[str, Any] = {
        "n": len(rows),
        "n_parsed": sum(r.answer.parsed for r in rows),
        "n_with_coords": int(km.size),
        "median_km": float(np.median(km)) if km.size else None,
        "mean_km": float(np.mean(km)) if km.size else None,
    }
    km_denominator = len(rows) if count_unparsed else int(km.size)
    out["acc_km"] = {
        str(t): (float(np.sum(km <= t) / km_denominator) if km_denominator else None) for t in KM_THRESHOLDS
    }
    denominators = {"km": km_denominator}
    for name in ("city", "state", "country"):
        value, denom = _rate([getattr(r, f"{name}_ok") for r in rows], count_unparsed)
        out[f"{name}_acc"] = value
        denominators[name] = denom
    out["denominators"] = denominators
    return out


def score_imageo_files(
    predictions: str | Path,
    truth: str | Path,
    *,
    normalize: bool = False,
    count_unparsed: bool = False,
) -> dict[str, Any]:
    """Score an IMAGEO result JSONL against an info CSV; return the metrics dict of ``imageo_metrics``
    plus ``n_malformed_lines``, ``n_unmatched_predictions`` and the ``mode`` used."""
    records, malformed = read_predictions(predictions)
    rows, unmatched = join_predictions(records, read_truth(truth), normalize=normalize)
    metrics = imageo_metrics(rows, count_unparsed=count_unparsed)
    metrics["n_malformed_lines"] = malformed
    metrics["n_unmatched_predictions"] = unmatched
    metrics["mode"] = ("normalized" if normalize else "authors") + (
        "+count_unparsed" if count_unparsed else ""
    )
    return metrics
