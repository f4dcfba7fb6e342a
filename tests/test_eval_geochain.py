"""GeoChain as published: its 21 questions verbatim, its test_samples.csv with and without the answer
columns its generate_answers.py writes, its own answers scoring 1.0, name normalisation, predictions files
(CSV, Parquet, JSONL), the CLI, and a model run (single and chained) against a local HTTP server.

The rows are real-format lines written here (from GeoChain's data/test_samples.csv), never downloaded."""

from __future__ import annotations

import csv
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from geor1.cli import build_app
from geor1.errors import GeoR1Error, RecordError
from geor1.eval.geochain import (
    KEYS,
    judge,
    question_by_key,
    questions,
    read_predictions,
    read_rows,
    row_truth,
    score_files,
)
from geor1.eval.placenames import same_city, same_subdivision

HEADER = "key,locatability_score,lat,lon,city,sub_folder,class_mapping,sequence_key"
SAMPLES = [
    'E-fIB3K6E-Z-GSW_xI-rSw,0.461752325296402,55.6463583,37.7249981,moscow,query,"{""building"": 0.02450521, '
    '""sky"": 0.24231446, ""road, route"": 0.3318685, ""car"": 0.07244466, ""van"": 0.0002636719, '
    '""traffic light"": 0.0002669271}",-1EXgrG8gDElV8qyEAi_iQ',
    '8GEv-Se8N55o4t4ee88gJg,0.5212991237640381,47.3928056,8.530838900000001,zurich,query,"{""wall"": '
    '0.001061198, ""building"": 0.3528874, ""car"": 0.024169922, ""bus"": 0.0027441408}",-1EzZsDyaStdVPhnF-AQ-A',
    'C48i6S9KocN8upRzV_igsQ,0.4892357587814331,55.68679300000001,12.581351,cph,query,"{""building"": '
    '0.2861328, ""bicycle"": 0.0077376305}",1CbXeh_0SNSNlM-DkrCt1Q',
    'NrDDaTD89K0mD2rJHu1F1g,0.5913205146789551,-37.8999148,145.00785280000005,melbourne,query,"{""bus"": '
    '0.06954753, ""flag"": 0.0050195316}",0G4iBN5r5zHaqDRum-M5QA',
]
# What GeoChain's generate_answers.py appends to those rows (answer_0 … answer_20), plus an Amsterdam row
# as its reverse geocoder names the province ("North Holland").
ANSWERS = {
    "E-fIB3K6E-Z-GSW_xI-rSw": ["No", "Yes", "Yes", "No", "No", "No", "Yes", "Europe", "Right",
                               "Russian Federation", "No", "No", "No", "No", "Continental", "Yes", "No",
                               "Russian", "Moscow", "Moscow", "55.6464, 37.7250"],
    "8GEv-Se8N55o4t4ee88gJg": ["No", "Yes", "No", "No", "No", "No", "Yes", "Europe", "Right", "Switzerland",
                               "No", "No", "No", "Yes", "Temperate", "Yes", "No", "German, English", "Zurich",
                               "Zurich", "47.3928, 8.5308"],
    "C48i6S9KocN8upRzV_igsQ": ["No", "Yes", "No", "No", "No", "No", "Yes", "Europe", "Right", "Denmark",
                               "Yes", "No", "No", "No", "Temperate", "Yes", "No", "Danish", "Capital Region",
                               "Copenhagen", "55.6868, 12.5814"],
    "NrDDaTD89K0mD2rJHu1F1g": ["No", "Yes", "No", "Yes", "No", "No", "No", "Oceania", "Left", "Australia",
                               "Yes", "No", "No", "No", "Temperate", "Yes", "No", "English", "Victoria",
                               "Melbourne", "-37.8999, 145.0079"],
    "ams1": ["No", "Yes", "No", "No", "No", "No", "Yes", "Europe", "Right", "Netherlands", "Yes", "No", "No",
             "No", "Temperate", "Yes", "No", "Dutch", "North Holland", "Amsterdam", "52.3702, 4.8952"],
}  # fmt: skip
AMSTERDAM = 'ams1,0.5,52.3702,4.8952,amsterdam,database,"{""car"": 0.1}",s9'


def samples_csv(path: Path, with_answers: bool = False) -> Path:
    lines = [HEADER + ("," + ",".join(f"answer_{i}" for i in range(21)) if with_answers else "")]
    for line in [*SAMPLES, AMSTERDAM]:
        if with_answers:
            key = line.split(",", 1)[0]
            line += "," + ",".join(f'"{a}"' for a in ANSWERS[key])
        lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_questions_are_geochains_verbatim_in_order() -> None:
    qs = questions()
    assert len(qs) == 21 and [q.key for q in qs] == list(KEYS)
    assert qs[0].text == "Do you see any boats or ships?"
    assert qs[1].text == (
        "Do you see one or more of the following vehicles: Bus, Truck, Car, Van, Motorbike, Minibike, Bicycle?"
    )
    assert qs[10].text == "Is this place near coast?" and qs[10].category == "Terrain/Environment"
    assert (
        qs[17].text == "What language(s) are most likely spoken at this place?"
        and qs[17].difficulty == "Hard"
    )
    assert qs[20].text.endswith("Please give a tuple of float coordinates (lat, lon)")
    assert qs[20].column == "answer_20" and qs[20].category == "Exact Location"


def test_rows_without_answer_columns_get_geochains_rule(tmp_path: Path) -> None:
    rows = read_rows(samples_csv(tmp_path / "test_samples.csv"))
    assert [r.line for r in rows] == [2, 3, 4, 5, 6] and rows[0].city == "moscow"
    for row in rows:
        truth = row_truth(row)
        assert set(truth.source.values()) == {"derived"}
        expected = ANSWERS[row.key]
        # GeoChain's answers come back from its own rule, name for name
        assert [truth.answers[i] for i in range(21)] == expected, row.key


def test_geochains_own_answers_score_one_on_every_question(tmp_path: Path) -> None:
    answers = samples_csv(tmp_path / "test_samples_with_answers.csv", with_answers=True)
    metrics = score_files(answers, answers)
    assert metrics["n_rows"] == 5 and metrics["n_unscored"] == 0 and metrics["accuracy"] == 1.0
    assert all(q["accuracy"] == 1.0 and q["n"] == 5 for q in metrics["by_question"].values())
    assert metrics["truth_sources"] == {"geochain": 105}
    assert set(metrics["by_category"]) == {
        "Visual Cues", "Geographical localization", "Culture/Infrastructure", "Terrain/Environment",
        "Exact Location",
    }  # fmt: skip
    assert metrics["coordinates"]["median_km"] < 0.05 and metrics["coordinates"]["acc_km"]["1"] == 1.0
    # the same answers as Parquet (GeoChain on the Hub) and as JSONL {key, question, answer}
    rows = list(csv.DictReader(answers.open(encoding="utf-8")))
    parquet = tmp_path / "answers.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    assert score_files(parquet, parquet)["accuracy"] == 1.0
    jsonl = tmp_path / "predictions.jsonl"
    with jsonl.open("w", encoding="utf-8") as handle:
        for key, values in ANSWERS.items():
            for i, value in enumerate(values):
                question = [i, f"answer_{i}", KEYS[i], questions()[i].text][i % 4]
                handle.write(json.dumps({"key": key, "question": question, "answer": value}) + "\n")
    metrics = score_files(jsonl, samples_csv(tmp_path / "plain.csv"))  # truth by GeoChain's rule
    assert all(q["accuracy"] == 1.0 for q in metrics["by_question"].values())


def test_truth_from_answer_columns_wins_and_unknown_is_unscored(tmp_path: Path) -> None:
    answers = samples_csv(tmp_path / "a.csv", with_answers=True)
    text = answers.read_text(encoding="utf-8").replace('"Russian Federation"', '"Unknown"')
    answers.write_text(text, encoding="utf-8")
    metrics = score_files(samples_csv(tmp_path / "p.csv", with_answers=True), answers)
    assert metrics["by_question"]["country"]["n"] == 4 and metrics["n_unscored"] == 1


@pytest.mark.parametrize(
    ("answer", "truth", "country", "point", "right"),
    [
        ("Moskva", "Moscow", "RU", (55.6464, 37.725), True),  # ISO name (romanised native)
        ("Москва", "Moscow", "RU", (55.6464, 37.725), True),  # native script
        ("Moscow Oblast", "Moscow", "RU", (55.6464, 37.725), False),  # the oblast is not the city
        ("Moscow Oblast", "Moscow Oblast", "RU", (56.0, 37.6), True),
        ("Moskva", "Moscow Oblast", "RU", (56.0, 37.6), False),
        ("Noord-Holland", "North Holland", "NL", (52.37, 4.9), True),
        ("NL-NH", "North Holland", "NL", (52.37, 4.9), True),
        ("South Holland", "North Holland", "NL", (52.37, 4.9), False),
        ("Hovedstaden", "Capital Region", "DK", (55.69, 12.58), True),
        ("Region Hovedstaden", "Capital Region", "DK", (55.69, 12.58), True),
        ("Zealand", "Capital Region", "DK", (55.69, 12.58), False),
        ("Victoria, Australia", "Victoria", "AU", (-37.9, 145.0), False),  # a state answer is one name
        ("VIC", "Victoria", "AU", (-37.9, 145.0), True),
    ],
)
def test_state_names_official_native_and_codes(answer, truth, country, point, right) -> None:
    assert same_subdivision(answer, truth, country, point) is right


def test_city_country_and_language_names() -> None:
    assert same_city("Moskva", "Moscow", "RU", (55.6464, 37.725))
    assert not same_city("Mar'ino", "Moscow", "RU", (55.6464, 37.725))  # the nearest GeoNames place
    assert same_city("São Paulo", "Sao Paulo", "BR") and same_city("City of Melbourne", "Melbourne", "AU")
    country = question_by_key("country")
    for answer in (
        "Russia",
        "RU",
        "RUS",
        "Russian Federation",
        "<think>…</think><answer>Российская Федерация</answer>",
    ):
        assert judge(country, answer, "Russian Federation").correct, answer
    assert (
        judge(country, "Nederland", "Netherlands").correct
        and not judge(country, "Belgium", "Netherlands").correct
    )
    languages = question_by_key("languages")
    assert judge(languages, "English and Swahili", "Swahili, English").correct
    assert judge(languages, "sw", "Swahili, English").correct  # an ISO 639 code
    assert not judge(languages, "French", "Swahili, English").correct
    yes = question_by_key("near_equator")
    assert judge(yes, "<answer>No, it is far north</answer>", "No").correct
    assert judge(yes, "maybe", "No").correct is False and judge(yes, "Yes", "Unknown").correct is None
    continent = question_by_key("continent")
    assert judge(continent, "It is in Europe.", "Europe").correct
    assert not judge(continent, "Europe or Asia", "Europe").correct
    coords = question_by_key("coordinates")
    far = judge(coords, "(55.0, 37.0)", "55.6464, 37.7250", lat=55.6463583, lon=37.7249981)
    assert far.correct is False and 80 < far.km < 95
    assert judge(coords, "no idea", "55.6464, 37.7250").correct is False


def test_predictions_file_errors_name_file_line_field(tmp_path: Path) -> None:
    bad = tmp_path / "p.jsonl"
    bad.write_text(
        '{"key": "a", "question": 3, "answer": "No"}\n{"key": "a", "question": "Is it?", "answer": "x"}\n'
    )
    with pytest.raises(RecordError, match=r"p\.jsonl:2 field 'question'"):
        read_predictions(bad)
    bad.write_text('{"key": "a", "answer": "No"}\n')
    with pytest.raises(RecordError, match=r"p\.jsonl:1 field 'question': missing field"):
        read_predictions(bad)
    table = tmp_path / "t.csv"
    table.write_text("key,lat\nx,1\n")
    with pytest.raises(RecordError, match=r"t\.csv field 'lon': missing column"):
        read_rows(table)
    table.write_text("key,lat,lon\nx,1,2\ny,95,2\n")
    with pytest.raises(RecordError, match=r"t\.csv:3 field 'lat/lon'"):
        read_rows(table)
    other = tmp_path / "o.csv"
    other.write_text("key,answer_0\nzzz,Yes\n")
    with pytest.raises(GeoR1Error, match="none of its 1 key"):
        score_files(other, samples_csv(tmp_path / "s.csv"))


def test_cli_scores_a_predictions_file(tmp_path: Path) -> None:
    truth = samples_csv(tmp_path / "truth.csv", with_answers=True)
    predictions = tmp_path / "model.csv"
    rows = list(csv.DictReader(truth.open(encoding="utf-8")))
    changed = {"answer_18": "Moskva", "answer_19": "Mar'ino"}
    with predictions.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["key", *(f"answer_{i}" for i in range(21))])
        writer.writeheader()
        for row in rows:
            out = {k: row[k] for k in writer.fieldnames}
            if row["key"] == "E-fIB3K6E-Z-GSW_xI-rSw":
                out.update(changed)
            writer.writerow(out)
    runner, app = CliRunner(), build_app()
    result = runner.invoke(
        app, ["eval", "geochain", "--predictions", str(predictions), "--truth", str(truth), "--json"]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["by_question"]["state"]["accuracy"] == 1.0  # Moskva is Moscow
    assert metrics["by_question"]["city"]["accuracy"] == pytest.approx(4 / 5)  # Mar'ino is not
    result = runner.invoke(
        app, ["eval", "geochain", "--predictions", str(predictions), "--truth", str(truth)]
    )
    assert (
        result.exit_code == 0
        and "Geographical localization" in result.output
        and "coordinates: median" in result.output
    )
    result = runner.invoke(
        app, ["eval", "geochain", "--predictions", str(tmp_path / "none.csv"), "--truth", str(truth)]
    )
    assert result.exit_code == 2
    assert result.output == f"error: {tmp_path / 'none.csv'}: predictions file not found\n"
    result = runner.invoke(app, ["eval", "geochain", "--truth", str(truth)])
    assert result.exit_code == 2 and "needs both --predictions F and --truth T" in result.output


# ---------------------------------------------------------------- running a model


class GeoChainServer:
    """OpenAI-compatible chat server on 127.0.0.1 answering "<answer>Yes</answer>"; logs each request's
    message roles and whether each message carries an image."""

    def __init__(self) -> None:
        self.log: list[list[tuple[str, bool]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.log.append([
                    (m["role"], any(p.get("type") == "image_url" for p in m["content"]) if isinstance(m["content"], list) else False)
                    for m in body["messages"]
                ])  # fmt: skip
                reply = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": "<think>look</think><answer>Yes</answer>"}}],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}  # fmt: skip
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> GeoChainServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


def images_tree(root: Path) -> Path:
    data = samples_csv(root / "test_samples_with_answers.csv", with_answers=True)
    for line in SAMPLES[:2]:
        key, _, _, _, city, sub, *_ = line.split(",")
        Image.new("RGB", (16, 16), (40, 90, 140)).save(
            _mkdir(root / "images_root" / city / sub / "images") / f"{key}.jpg"
        )
    return data


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize("mode", ["single", "chained"])
def test_cli_runs_a_model_on_all_21_questions(tmp_path: Path, mode: str, monkeypatch) -> None:
    data = images_tree(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with GeoChainServer() as server:
        args = ["eval", "geochain", "--model", "served", "--backend", "http", "--base-url", server.url,
                "--data", str(data), "--image-root", str(tmp_path / "images_root"), "--mode", mode,
                "--run", mode, "--runs-dir", str(tmp_path / "runs"), "--json"]  # fmt: skip
        result = CliRunner().invoke(build_app(), args)
        assert result.exit_code == 0, result.output
    assert len(server.log) == 2 * 21  # two images have files, 21 questions each
    if mode == "single":
        assert all(messages == [("user", True)] for messages in server.log)
    else:
        lengths = sorted(len(m) for m in server.log)
        assert lengths == sorted([2 * k + 1 for k in range(21)] * 2)
        longest = max(server.log, key=len)
        assert longest[0] == ("user", True) and all(not image for _, image in longest[1:])
        assert [role for role, _ in longest[:4]] == ["user", "assistant", "user", "assistant"]
    task = "geochain" if mode == "single" else "geochain-chained"
    doc = json.loads((tmp_path / "runs" / mode / "eval" / f"{task}.json").read_text())
    assert doc["metrics"]["n_rows"] == 2 and doc["mode"] == mode
    # every answer was "Yes": right exactly where GeoChain says Yes
    assert doc["metrics"]["by_question"]["vehicles"]["accuracy"] == 1.0
    assert doc["metrics"]["by_question"]["boats"]["accuracy"] == 0.0
    predictions = tmp_path / "runs" / mode / "eval" / f"{task}_predictions.csv"
    assert score_files(predictions, data)["n_rows_without_prediction"] == 3  # their images are absent
    two = tmp_path / "two.csv"
    two.write_text("".join(data.read_text(encoding="utf-8").splitlines(keepends=True)[:3]), encoding="utf-8")
    assert score_files(predictions, two)["by_question"] == doc["metrics"]["by_question"]
    from geor1.eval.compare import compare_runs

    _, markdown = compare_runs([mode], runs_dir=tmp_path / "runs", n_boot=100)
    assert f"| {task} | accuracy[Visual Cues] ↑ | 0.375" in markdown  # "Yes" right on 3 of 8


def test_cli_run_errors_before_loading_a_model(tmp_path: Path) -> None:
    data = images_tree(tmp_path)
    result = CliRunner().invoke(build_app(), ["eval", "geochain", "--model", "m", "--data", str(data)])
    assert (
        result.exit_code == 2
        and "option --image-root:" in result.output
        and "give the folder holding" in result.output
    )
    result = CliRunner().invoke(build_app(), ["eval", "geochain", "--model", "m", "--data", str(data),
                                              "--image-root", str(tmp_path / "images_root"), "--mode", "both"])  # fmt: skip
    assert result.exit_code == 2 and "error: option --mode: 'both': choose one of" in result.output
