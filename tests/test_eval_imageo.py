"""IMAGEO-Bench scoring, checked with an independent plain-Python computation: on a layout written here in
the published format (always runs), and on the authors' own result files in ../shared/fixtures/imageo when
that folder is present (CI has it; its ATTRIBUTION.md asks that the files are not copied into the project)."""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geor1.cli import build_app
from geor1.eval.imageo import (
    answer_from_json,
    answer_from_text,
    parse_imageo_json,
    read_predictions,
    score_imageo_files,
    standardize_state,
)

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared/fixtures/imageo"
MODELS = ("gpt-4.1-mini", "Llama-3.2-11B-Vision-Instruct-Turbo")

needs_fixtures = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason=f"IMAGEO fixtures folder {FIXTURES} is absent (CI has it)"
)

STATES = {"michigan": "MI", "minnesota": "MN", "texas": "TX", "california": "CA", "georgia": "GA",
          "pennsylvania": "PA", "new york": "NY", "tennessee": "TN", "florida": "FL", "ohio": "OH",
          "illinois": "IL", "virginia": "VA", "maryland": "MD", "arizona": "AZ", "alabama": "AL",
          "new jersey": "NJ", "washington": "WA", "oregon": "OR", "nevada": "NV", "colorado": "CO",
          "louisiana": "LA", "north carolina": "NC", "south carolina": "SC", "kentucky": "KY",
          "massachusetts": "MA", "wisconsin": "WI", "indiana": "IN", "missouri": "MO", "utah": "UT",
          "oklahoma": "OK", "kansas": "KS", "new mexico": "NM", "arkansas": "AR", "iowa": "IA",
          "mississippi": "MS", "nebraska": "NE", "delaware": "DE", "connecticut": "CT", "maine": "ME",
          "new hampshire": "NH", "vermont": "VT", "rhode island": "RI", "west virginia": "WV",
          "idaho": "ID", "montana": "MT", "wyoming": "WY", "north dakota": "ND", "south dakota": "SD",
          "alaska": "AK", "hawaii": "HI"}  # fmt: skip


def independent_metrics(pred_path: Path, truth_path: Path) -> dict:
    """A deliberately plain re-computation of the authors' scoring from the two files."""
    truth = {}
    with truth_path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            truth[row["image_id"]] = {k: (v if v != "" else None) for k, v in row.items()}
    joined = []
    for line in pred_path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        key = rec["image_file"].rsplit(".", 1)[0]
        if key in truth:
            joined.append((rec.get("location_info") or {}, truth[key]))

    def num(v):
        if v is None or str(v).lower() in ("null", "none", ""):
            return None
        try:
            x = float(v)
        except ValueError:
            return None
        return None if x == 0.0 else x

    dists, city, state, country, parsed = [], [], [], [], 0
    for info, t in joined:
        rg = info.get("reverse_geocoding")
        if isinstance(rg, dict):
            parsed += 1
        rg = rg if isinstance(rg, dict) else {}
        addr = rg.get("address") if isinstance(rg.get("address"), dict) else {}
        co = rg.get("coordinates") if isinstance(rg.get("coordinates"), dict) else {}
        lat, lon = num(co.get("latitude")), num(co.get("longitude"))
        if lat is not None and lon is not None:
            p1, p2 = math.radians(lat), math.radians(float(t["latitude"]))
            dp, dl = p2 - p1, math.radians(float(t["longitude"]) - lon)
            h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
            dists.append(2 * 6371 * math.asin(math.sqrt(h)))
        if addr.get("city") is not None and t["city"] is not None:
            city.append(str(addr["city"]).lower() == t["city"].lower())
        s = addr.get("state")
        if s not in (None, "") and t["state"] is not None:
            s = s.strip().lower()
            code = s.upper() if (len(s) == 2 and s.isalpha()) else STATES.get(s, s.upper())
            state.append(code == t["state"])
        if addr.get("country") is not None and t["country"] is not None:
            country.append(str(addr["country"]).lower() == t["country"].lower())
    return {
        "n": len(joined),
        "n_parsed": parsed,
        "median_km": statistics.median(dists),
        "mean_km": statistics.fmean(dists),
        "acc_km": {str(k): sum(d <= k for d in dists) / len(dists) for k in (1, 25, 200, 750, 2500)},
        "city_acc": sum(city) / len(city),
        "state_acc": sum(state) / len(state),
        "country_acc": sum(country) / len(country),
    }


def scored_like_the_independent_computation(pred: Path, truth: Path) -> dict:
    """Score ``pred`` against ``truth`` with geor1, assert every metric equals the independent
    computation's, and return geor1's metrics."""
    got, want = score_imageo_files(pred, truth), independent_metrics(pred, truth)
    for key in ("n", "n_parsed"):
        assert got[key] == want[key], key
    for key in ("median_km", "mean_km", "city_acc", "state_acc", "country_acc"):
        assert got[key] == pytest.approx(want[key], rel=1e-9), key
    for t, value in want["acc_km"].items():
        assert got["acc_km"][t] == pytest.approx(value, rel=1e-9), t
    return got


@needs_fixtures
@pytest.mark.parametrize("model", MODELS)
def test_imageo_fixture_metrics_match_independent_computation(model: str) -> None:
    pred, truth = FIXTURES / f"dataset3_{model}.jsonl", FIXTURES / "dataset3_info.csv"
    got = scored_like_the_independent_computation(pred, truth)
    # the files: 271 answers, one id absent from the truth, one "x.jpg.jpg" id the authors' join drops
    assert got["n"] == 269 and got["n_unmatched_predictions"] == 2


@needs_fixtures
@pytest.mark.parametrize("model", MODELS)
def test_reparsing_raw_responses_reproduces_the_authors_parsed_field(model: str) -> None:
    records, malformed = read_predictions(FIXTURES / f"dataset3_{model}.jsonl")
    assert malformed == 0 and len(records) == 271
    for rec in records:
        a, b = answer_from_json(rec["location_info"]), answer_from_text(rec["raw_response"])
        assert (a.parsed, a.city, a.state, a.country, a.lat, a.lon) == (
            b.parsed, b.city, b.state, b.country, b.lat, b.lon,
        ), rec["image_file"]  # fmt: skip


@needs_fixtures
def test_normalize_mode_credits_country_aliases() -> None:
    pred, truth = FIXTURES / "dataset3_gpt-4.1-mini.jsonl", FIXTURES / "dataset3_info.csv"
    strict, fair = score_imageo_files(pred, truth), score_imageo_files(pred, truth, normalize=True)
    assert fair["country_acc"] > strict["country_acc"]  # "United States" vs "USA" counts as right
    assert fair["n"] == 270  # the "x.jpg.jpg" file joins once extensions are stripped
    every = score_imageo_files(pred, truth, count_unparsed=True)
    assert every["denominators"]["city"] == every["n"] and every["city_acc"] < strict["city_acc"]


@needs_fixtures
def test_cli_prints_metrics_json() -> None:
    result = CliRunner().invoke(
        build_app(),
        ["eval", "imageo", "--predictions", str(FIXTURES / "dataset3_gpt-4.1-mini.jsonl"),
         "--truth", str(FIXTURES / "dataset3_info.csv"), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) >= {
        "n",
        "n_parsed",
        "median_km",
        "mean_km",
        "acc_km",
        "city_acc",
        "state_acc",
        "country_acc",
    }
    assert set(out["acc_km"]) == {"1", "25", "200", "750", "2500"}


def test_malformed_lines_and_answers_are_counted_not_fatal(tmp_path: Path) -> None:
    truth = tmp_path / "info.csv"
    truth.write_text(
        "image_id,address,latitude,longitude,street,city,state,country\n"
        "A,x,48.8566,2.3522,,Paris,,France\nB,x,40.7128,-74.006,,New York,NY,USA\n"
        "C,x,35.0,139.0,,Tokyo,,Japan\n",
        encoding="utf-8",
    )
    good = {"reverse_geocoding": {"address": {"city": "paris", "state": "", "country": "France"},
                                  "coordinates": {"latitude": "48.85", "longitude": "2.35"}}}  # fmt: skip
    lines = [
        json.dumps({"image_file": "A.jpg", "raw_response": "```json\n" + json.dumps(good) + "\n```\nthanks"}),
        "{not json at all",
        json.dumps({"image_file": "B.jpg", "raw_response": "Sorry, I cannot help."}),
        json.dumps({"image_file": "C.png", "raw_response": "{'reverse_geocoding': {'address': {'city': 'Tokyo',"
                    " 'state': 'Tokyo', 'country': 'Japan'}, 'coordinates': {'latitude': 0, 'longitude': 0}},}"}),
    ]  # fmt: skip
    pred = tmp_path / "pred.jsonl"
    pred.write_text("\n".join(lines) + "\n", encoding="utf-8")
    m = score_imageo_files(pred, truth)
    assert m["n_malformed_lines"] == 1 and m["n"] == 3 and m["n_parsed"] == 2
    assert m["n_with_coords"] == 1  # (0, 0) counts as missing, as in the authors' code
    assert m["city_acc"] == 1.0 and m["denominators"]["city"] == 2
    assert m["state_acc"] is None  # "" is no state; Tokyo has no truth state


def test_parser_and_state_rules() -> None:
    assert parse_imageo_json("") is None and parse_imageo_json(None) is None
    assert parse_imageo_json("Here you go: {a: 1, 'b': True,} bye") == {"a": 1, "b": True}
    assert standardize_state("michigan") == "MI" and standardize_state(" tx ") == "TX"
    assert standardize_state("Kyoto Prefecture") == "KYOTO PREFECTURE" and standardize_state("") is None


def _answer(city: str, state: str, country: str, lat: str, lon: str) -> dict:
    """One answer in the benchmark's JSON layout (the fields its scoring reads)."""
    return {
        "image_information": {"environment": "outdoor", "scene_type": "street", "setting": "urban"},
        "reasoning": {"landmark_recognition": "none", "text_and_signage": "none"},
        "reverse_geocoding": {
            "confidence": "3",
            "address": {"street": "", "city": city, "state": state, "country": country},
            "coordinates": {"latitude": lat, "longitude": lon},
        },
    }


@pytest.fixture
def written_layout(tmp_path: Path) -> tuple[Path, Path]:
    """An IMAGEO-Bench result pair written here in the published layout (``dataset3_info.csv`` columns,
    one ``dataset3_<model>.jsonl`` record a line), with the cases the shared sample holds: state names and
    codes, "United States" for "USA", a "x.jpg.jpg" file name, an id missing from the truth, an answer
    that is not JSON, and (0, 0) coordinates."""
    truth = tmp_path / "dataset3_info.csv"
    truth.write_text(
        "image_id,address,latitude,longitude,street,city,state,country\n"
        'AAA,"Mackinac Bridge, Mackinaw City, MI 49701",45.8388,-84.7209,Mackinac Bridge,Mackinaw City,MI,USA\n'
        'BBB,"1 Main St, Austin, TX 78701",30.2672,-97.7431,Main St,Austin,TX,USA\n'
        'CCC,"Pike Place, Seattle, WA 98101",47.6097,-122.3422,Pike Place,Seattle,WA,USA\n'
        'DDD,"Navy Pier, Chicago, IL 60611",41.8917,-87.6086,Navy Pier,Chicago,IL,USA\n'
        'EEE,"Bourbon St, New Orleans, LA 70116",29.9584,-90.0644,Bourbon St,New Orleans,LA,USA\n'
        'FFF,"Union Sq, San Francisco, CA 94108",37.7880,-122.4075,Union Sq,San Francisco,CA,USA\n',
        encoding="utf-8",
    )
    answers = [
        ("AAA.jpg", _answer("Mackinaw City", "Michigan", "USA", "45.80", "-84.70")),
        ("BBB.jpg", _answer("Dallas", "TX", "United States", "32.7767", "-96.7970")),
        ("CCC.jpg", _answer("seattle", "washington", "USA", "47.6062", "-122.3321")),
        ("DDD.jpg.jpg", _answer("Chicago", "Illinois", "USA", "41.88", "-87.63")),
        ("EEE.jpg", _answer("New Orleans", "LA", "USA", "0", "0")),
        ("ZZZ.jpg", _answer("Boston", "MA", "USA", "42.36", "-71.06")),
    ]
    lines = []
    for name, answer in answers:
        raw = json.dumps(answer, indent=2)
        lines.append(json.dumps({"image_file": name, "provider": "openai", "model_used": "gpt-4.1-mini",
                                 "raw_response": raw, "location_info": answer, "usage_info": {}}))  # fmt: skip
    lines.append(json.dumps({"image_file": "FFF.jpg", "provider": "openai", "model_used": "gpt-4.1-mini",
                             "raw_response": "I cannot tell where this is.", "location_info": {}}))  # fmt: skip
    pred = tmp_path / "dataset3_gpt-4.1-mini.jsonl"
    pred.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return pred, truth


def test_written_layout_metrics_match_independent_computation(written_layout: tuple[Path, Path]) -> None:
    pred, truth = written_layout
    got = scored_like_the_independent_computation(pred, truth)
    # AAA, BBB, CCC, EEE, FFF join; "DDD.jpg.jpg" and "ZZZ" do not; FFF's answer is not JSON
    assert (got["n"], got["n_parsed"], got["n_unmatched_predictions"]) == (5, 4, 2)
    assert got["n_with_coords"] == 3  # EEE's (0, 0) is no answer, as in the authors' code
    assert got["city_acc"] == pytest.approx(3 / 4) and got["state_acc"] == 1.0  # names become codes
    assert got["country_acc"] == pytest.approx(3 / 4)  # "United States" is not "USA" unless normalized


def test_written_layout_normalize_and_count_unparsed(written_layout: tuple[Path, Path]) -> None:
    pred, truth = written_layout
    strict, fair = score_imageo_files(pred, truth), score_imageo_files(pred, truth, normalize=True)
    assert fair["country_acc"] == 1.0 > strict["country_acc"]
    assert fair["n"] == 6  # "DDD.jpg.jpg" joins once every extension is stripped
    every = score_imageo_files(pred, truth, count_unparsed=True)
    assert every["denominators"]["city"] == every["n"] == 5 and every["city_acc"] == pytest.approx(3 / 5)


def test_written_layout_raw_responses_reparse_to_the_parsed_field(written_layout: tuple[Path, Path]) -> None:
    pred, _ = written_layout
    records, malformed = read_predictions(pred)
    assert malformed == 0 and len(records) == 7
    for rec in records[:-1]:
        a, b = answer_from_json(rec["location_info"]), answer_from_text(rec["raw_response"])
        assert a.parsed and (a.city, a.state, a.country, a.lat, a.lon) == (
            b.city,
            b.state,
            b.country,
            b.lat,
            b.lon,
        )
    assert not answer_from_text(records[-1]["raw_response"]).parsed


def test_cli_scores_the_written_layout(written_layout: tuple[Path, Path]) -> None:
    pred, truth = written_layout
    result = CliRunner().invoke(
        build_app(), ["eval", "imageo", "--predictions", str(pred), "--truth", str(truth), "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["n"] == 5 and out["country_acc"] == pytest.approx(3 / 4)
    assert set(out["acc_km"]) == {"1", "25", "200", "750", "2500"}
