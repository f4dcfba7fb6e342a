from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from geor1.builders.common import load_view_set, write_task_set
from geor1.builders.export import export_examples, read_export
from geor1.builders.geolocation import GeolocationConfig, build_geolocation
from geor1.builders.pairing import PairingConfig, build_pairing
from geor1.builders.questions import QuestionsConfig, build_questions
from geor1.errors import ConfigError, RecordError
from geor1.records import THINK_ANSWER_SUFFIX, read_task_file
from test_tasks_common import make_manifest


@pytest.fixture(scope="module")
def task_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp")
    views = load_view_set(make_manifest(root / "earth", n_places=40))
    out = root / "tasks" / "mixed.jsonl"
    pairing, _ = build_pairing(views, PairingConfig(band="easy", direction="both"), out.parent)
    geoloc = build_geolocation(views, GeolocationConfig(limit=10), out.parent)
    questions, _ = build_questions(views, QuestionsConfig(limit=30), out.parent)
    write_task_set(out, pairing + geoloc + questions)
    return out


@pytest.mark.parametrize(
    "fmt,suffix", [("vlm-r1", ".jsonl"), ("llamafactory", ".jsonl"), ("llamafactory", ".json")]
)
def test_round_trip(task_file, tmp_path, fmt, suffix):
    examples = read_task_file(task_file)
    out = tmp_path / "elsewhere" / f"data{suffix}"
    assert export_examples(examples, fmt, out) == len(examples)
    back = read_export(out, fmt)
    assert len(back) == len(examples)
    for ex, rt in zip(examples, back, strict=True):
        assert rt["id"] == ex.id
        assert rt["prompt"] == ex.prompt  # labels, question text and image slots identical
        assert rt["solution"] == ex.solution
        src = [Path(p).resolve() for p in ex.images]
        dst = [(out.parent / p).resolve() for p in rt["images"]]
        assert src == dst  # same files, paths re-anchored to the export's folder


def test_vlm_r1_layout(task_file, tmp_path):
    examples = read_task_file(task_file)
    out = tmp_path / "vlm.jsonl"
    export_examples(examples, "vlm-r1", out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    pair = next(r for r in rows if r["id"].startswith("pairing"))
    geo = next(r for r in rows if r["id"].startswith("geolocation"))
    assert isinstance(pair["image"], list) and len(pair["image"]) == 5 and isinstance(geo["image"], str)
    human = pair["conversations"][0]["value"]
    assert human.startswith(
        "<image>" * 5 + "\n[Image 1] Query (satellite view):\n[Image 2] Candidate A (terrain view):"
    )
    assert THINK_ANSWER_SUFFIX not in human  # VLM-R1 appends its own instruction
    assert pair["conversations"][1] == {"from": "gpt", "value": pair_solution(examples, pair["id"])}
    assert pair["accu_reward_method"] == "mcq" and geo["accu_reward_method"] == "default"


def pair_solution(examples, example_id):
    return next(e.solution for e in examples if e.id == example_id)


def test_llamafactory_layout_and_dataset_info(task_file, tmp_path):
    examples = read_task_file(task_file)
    (tmp_path / "dataset_info.json").write_text(json.dumps({"other": {"file_name": "x.json"}}))
    cot = dataclasses.replace(
        examples[0],
        extra={"completion": [{"role": "assistant", "content": "<think>x</think><answer>C</answer>"}]},
    )
    export_examples([cot, *examples[1:]], "llamafactory", tmp_path / "geo.jsonl", dataset_name="geo_pairing")
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert set(info) == {"other", "geo_pairing"}
    assert (
        info["geo_pairing"]["formatting"] == "sharegpt"
        and info["geo_pairing"]["columns"]["images"] == "images"
    )
    assert info["geo_pairing"]["tags"]["role_tag"] == "role"
    row = json.loads((tmp_path / "geo.jsonl").read_text().splitlines()[0])
    assert row["messages"][0]["content"].count("<image>") == len(row["images"]) == 5
    assert row["messages"][0]["content"].startswith("Query (satellite view):\n<image>\nCandidate A")
    assert row["messages"][0]["content"].endswith(THINK_ANSWER_SUFFIX)
    assert row["messages"][1]["content"] == "<think>x</think><answer>C</answer>"
    assert read_export(tmp_path / "geo.jsonl", "llamafactory")[0]["solution"] == "C"


def test_export_errors(task_file, tmp_path):
    examples = read_task_file(task_file)
    with pytest.raises(ConfigError, match="config key 'fmt': must be one of"):
        export_examples(examples, "alpaca", tmp_path / "x.jsonl")
    missing = str(task_file.parent / "missing.png")
    broken = [dataclasses.replace(examples[0], images=[missing, *examples[0].images[1:]])]
    with pytest.raises(RecordError, match=r"mixed\.jsonl:1 field 'images': image file not found"):
        export_examples(broken, "vlm-r1", tmp_path / "x.jsonl")
    assert not (tmp_path / "x.jsonl").exists()
    (tmp_path / "bad.jsonl").write_text('{"id": "a", "image": "x.png"}\n')
    with pytest.raises(RecordError, match=r"bad\.jsonl:1: not a vlm-r1 record"):
        read_export(tmp_path / "bad.jsonl", "vlm-r1")
