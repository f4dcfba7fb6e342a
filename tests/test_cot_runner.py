"""The CoT runner and CLI with the template teacher: resume gives the same result as one run, a torn last
line is repaired, keep-all ids, the 🤗 dataset export, and located input errors."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from geor1.cli import build_app
from geor1.cot.filter import CotFilter
from geor1.cot.places import PlaceLookup
from geor1.cot.runner import CotRunConfig, CotRunner, log_path_for
from geor1.cot.teachers.template import TemplateTeacher
from geor1.io import read_jsonl, write_jsonl
from geor1.records import user_prompt

CLASSES = ["Croplands", "Grasslands", "Mixed Forests", "Savannas", "Barren", "Open Shrublands"]


def random_place(rng: random.Random) -> dict[str, Any]:
    main, other = rng.sample(CLASSES, 2)
    water = rng.choice([0.0, 0.0, 0.2, 0.45])
    top = round(rng.uniform(0.5, 1.0 - water), 4)
    shares = {main: top, other: round(1.0 - water - top, 4)}
    if water:
        shares["Water Bodies"] = water
    lat = rng.uniform(-60, 60)
    return {
        "landcover_shares": shares,
        "landcover_dominant": main,
        "landcover_dominant_share": top,
        "water_share": water,
        "land_share": 1 - water,
        "coastal": water > 0.3,
        "desert": main == "Barren",
        "mountainous": rng.random() < 0.3,
        "relief_roughness": round(rng.uniform(0, 25), 2),
        "lat_band": "tropical" if abs(lat) < 23.44 else "temperate",
        "hemisphere_ns": "north" if lat >= 0 else "south",
        "hemisphere_ew": "east",
        "continent": rng.choice(["Africa", "Asia", "Europe"]),
        "country": rng.choice(["Kenya", "India", "Spain"]),
    }


def write_examples(
    folder: Path, n: int, seed: int = 0, name_places: bool = False
) -> tuple[Path, PlaceLookup]:
    """Write ``n`` pairing examples over random places (one shared PNG as every image); with
    ``name_places`` the lines name ``places.jsonl`` beside them as their places file, as the builders do."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "img").mkdir(exist_ok=True)
    Image.new("RGB", (16, 16), (90, 120, 60)).save(folder / "img" / "view.png")
    places = {f"p{i}": random_place(rng) for i in range(n + 3)}
    rows = []
    for i in range(n):
        answer = rng.randrange(4)
        others = rng.sample([p for p in places if p != f"p{i}"], 3)
        cands = others[:answer] + [f"p{i}"] + others[answer:]
        rows.append(
            {
                "id": f"ex{i:03d}",
                "task": "pairing",
                "images": ["img/view.png"] * 5,
                "prompt": user_prompt("Which candidate matches the query?", 5),
                "solution": "ABCD"[answer],
                "meta": {
                    "place": f"p{i}",
                    "query_view": "satellite",
                    "candidate_view": "landcover",
                    "candidate_places": cands,
                },
                **({"places": "places.jsonl"} if name_places else {}),
            }
        )
    path = folder / "tasks.jsonl"
    write_jsonl(path, rows)
    return path, PlaceLookup(places)


def run(tasks: Path, out: Path, places: PlaceLookup, **config: Any):
    config.setdefault("progress", False)
    return CotRunner(TemplateTeacher(places), CotFilter(), CotRunConfig(**config)).run(tasks, out)


def canonical(path: Path) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in read_jsonl(path))


def test_interrupted_then_resumed_run_equals_one_full_run(tmp_path) -> None:
    tasks, places = write_examples(tmp_path / "data", 80)
    once = run(tasks, tmp_path / "once" / "cot.jsonl", places)
    assert once.processed == 80 and once.records_written > 40
    resumed_out = tmp_path / "resumed" / "cot.jsonl"
    run(tasks, resumed_out, places, limit=30)  # "killed" after 30 examples
    second = run(tasks, resumed_out, places)
    assert second.resumed_done == 30 and second.processed == 50
    assert canonical(resumed_out) == canonical(tmp_path / "once" / "cot.jsonl")
    assert run(tasks, resumed_out, places).processed == 0  # a third run has nothing left to do


def test_torn_last_lines_are_repaired_on_restart(tmp_path) -> None:
    tasks, places = write_examples(tmp_path / "data", 20)
    out = tmp_path / "cot.jsonl"
    run(tasks, out, places, limit=10)
    for path in (out, log_path_for(out)):
        with path.open("a") as handle:
            handle.write('{"id": "ex0')  # a write cut short by a kill
    run(tasks, out, places)
    records = read_jsonl(out)  # strict reader: every line is valid JSON again
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    assert all(json.loads(line) for line in log_path_for(out).read_text().splitlines())


def test_keep_all_writes_one_record_per_kept_sample(tmp_path) -> None:
    tasks, places = write_examples(tmp_path / "data", 15)
    out = tmp_path / "cot.jsonl"
    summary = run(tasks, out, places, samples_per_example=3, keep="all")
    records = read_jsonl(out)
    assert len({r["id"] for r in records}) == len(records) == summary.records_written
    for record in records:
        assert record["id"] == f"{record['example_id']}#{record['sample']}"
    assert sum(summary.abstentions.values()) == summary.rejections.get("teacher_abstained", 0)
    assert set(summary.abstentions) <= {"indistinguishable distractor", "missing metadata"}
    judged = summary.samples_judged
    assert judged == 3 * summary.processed
    assert judged == summary.records_written + sum(summary.rejections.values())
    texts = [r["completion"][0]["content"] for r in records]
    assert len(set(texts)) == len(texts)  # samples of one example are phrased differently


class MalformedFirstSamples(TemplateTeacher):
    """The template teacher, except that samples below ``bad`` of every other example come back malformed."""

    def __init__(self, places: PlaceLookup, bad: int):
        super().__init__(places)
        self.bad = bad

    def generate(self, jobs):
        for result in super().generate(jobs):
            if result.text and int(result.job.example_id[2:]) % 2 == 0 and result.job.sample < self.bad:
                result.text = "not a completion"
            yield result


def test_keep_first_tries_more_samples_only_when_needed(tmp_path) -> None:
    tasks, places = write_examples(tmp_path / "data", 16)
    out = tmp_path / "cot.jsonl"
    teacher = MalformedFirstSamples(places, bad=2)
    summary = CotRunner(teacher, CotFilter(), CotRunConfig(samples_per_example=4, progress=False)).run(
        tasks, out
    )
    per_example: dict[str, list[dict]] = {}
    for event in read_jsonl(log_path_for(out)):
        if event["event"] == "sample":
            per_example.setdefault(event["example_id"], []).append(event)
    for example_id, events in per_example.items():
        assert [e["sample"] for e in events] == list(range(len(events)))
        kept = [e["keep"] for e in events]
        if events[0]["reason"] == "teacher_abstained":
            assert len(events) == 1  # abstention is final: no more samples
        elif int(example_id[2:]) % 2 == 0:
            assert kept == [False, False, True]  # two malformed, then the first passing one
        else:
            assert kept == [True]
    assert summary.rejections["malformed"] == 2 * sum(
        1 for k, ev in per_example.items() if int(k[2:]) % 2 == 0 and ev[0]["reason"] != "teacher_abstained"
    )
    assert summary.records_written == summary.examples_with_kept == len(read_jsonl(out))


def test_cli_prints_rejections_and_writes_a_hf_dataset(tmp_path) -> None:
    from datasets import load_from_disk

    tasks, places = write_examples(tmp_path / "data", 12, name_places=True)
    places_file = tmp_path / "data" / "places.jsonl"
    write_jsonl(places_file, [{"place": k, "meta": v} for k, v in places._metas.items()])
    out = tmp_path / "cot.jsonl"
    result = CliRunner().invoke(
        build_app(),
        [
            "cot",
            "--input",
            str(tasks),
            "--out",
            str(out),
            "--hf-dataset",
            str(tmp_path / "ds"),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "rejections by reason" in result.output and "examples/s" in result.output
    records = read_jsonl(out)
    assert {r["places"] for r in records} == {"data/places.jsonl"}  # the named file, relative to the output
    dataset = load_from_disk(str(tmp_path / "ds"))
    assert len(dataset) == len(records) > 0
    row = dataset[0]
    assert row["completion"][0]["role"] == "assistant" and row["completion"][0]["content"].startswith(
        "<think>"
    )
    assert len(row["images"]) == 5 and row["images"][0].size == (16, 16)
    assert json.loads(row["filter"])["keep"] is True and json.loads(row["teacher"])["name"] == "template"


def test_cli_reports_bad_input_with_file_and_line(tmp_path) -> None:
    # a path longer than a terminal line: the location must not be wrapped apart
    tasks, _ = write_examples(tmp_path / ("data-" + "d" * 100), 3)
    rows = read_jsonl(tasks)
    write_jsonl(tasks, [*rows, rows[0]])
    result = CliRunner().invoke(
        build_app(), ["cot", "--input", str(tasks), "--out", str(tmp_path / "o.jsonl")]
    )
    assert result.exit_code == 2 and f"{tasks}:4" in result.output and "duplicate id" in result.output
    result = CliRunner().invoke(
        build_app(), ["cot", "--input", str(tasks), "--out", str(tmp_path / "o.jsonl"), "--keep", "some"]
    )
    assert result.exit_code == 2
    assert result.output == "error: option --keep: must be one of ('first', 'all'), got 'some'\n"


@pytest.mark.parametrize("teacher", ["http", "hf"])
def test_cli_needs_a_model_for_model_teachers(tmp_path, teacher) -> None:
    tasks, _ = write_examples(tmp_path / "data", 2)
    result = CliRunner().invoke(
        build_app(), ["cot", "--input", str(tasks), "--out", str(tmp_path / "o.jsonl"), "--teacher", teacher]
    )
    assert result.exit_code == 2
    needs = {"http": "the HTTP teacher needs a model name", "hf": "the hf teacher needs a model folder or id"}
    assert result.output == f"error: option --model: {needs[teacher]}\n"


def test_cli_resumes_by_content_after_the_task_file_is_regenerated(tmp_path) -> None:
    """Same ids, other content (a new seed): the old CoT is set aside, not kept as done."""

    def build(seed: int) -> Path:
        tasks, places = write_examples(tmp_path / "data", 12, seed=seed, name_places=True)
        write_jsonl(
            tmp_path / "data" / "places.jsonl", [{"place": k, "meta": v} for k, v in places._metas.items()]
        )
        return tasks

    out = tmp_path / "cot.jsonl"
    args = ["cot", "--input", str(tmp_path / "data" / "tasks.jsonl"), "--out", str(out), "--no-progress"]
    build(0)
    assert CliRunner().invoke(build_app(), args).exit_code == 0
    first = read_jsonl(out)
    # as written before records carried fingerprints: the content of each record is compared instead
    write_jsonl(out, [{k: v for k, v in r.items() if k != "input_fingerprint"} for r in first])
    log = log_path_for(out)
    write_jsonl(log, [{k: v for k, v in e.items() if k != "fingerprint"} for e in read_jsonl(log)])
    tasks = build(1)
    solutions = {r["id"]: r["solution"] for r in read_jsonl(tasks)}
    changed = [r["id"] for r in first if r["solution"] != solutions[r["id"]]]
    assert changed  # the regenerated file moved some answers
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    assert "the input changed since the earlier run" in result.output and "solution" in result.output
    assert "already done before this run: 0" in result.output
    records = read_jsonl(out)
    assert all(r["solution"] == solutions[r["example_id"]] for r in records)
    assert len({r["id"] for r in records}) == len(records)
    stale = read_jsonl(tmp_path / "cot.stale.jsonl")
    assert sorted(r["id"] for r in stale) == sorted(r["id"] for r in first)  # every old record kept aside
    assert sum(r["solution"] != solutions[r["id"]] for r in stale) == len(changed)
    # a third run with the same file resumes everything and moves nothing
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0 and f"already done before this run: {len(solutions)}" in result.output
    assert "input changed" not in result.output and read_jsonl(out) == records


def test_a_run_that_made_nothing_or_mostly_failed_is_a_failure() -> None:
    from geor1.cot.runner import RunSummary

    nothing = RunSummary(examples=3, processed=3, samples_judged=3)
    nothing.rejections.update({"wrong_answer": 3})
    assert "no CoT example was kept (rejections: wrong_answer 3)" in nothing.failure(0.5)
    mostly = RunSummary(examples=10, processed=10, records_written=4, samples_judged=4, teacher_errors=6)
    mostly.first_error = "HTTP 503: busy"
    assert "60% of teacher calls failed" in mostly.failure(0.5) and "HTTP 503" in mostly.failure(0.5)
    assert mostly.failure(0.7) is None
    resumed = RunSummary(examples=5, resumed_done=5)  # nothing to do is not a failure
    assert resumed.failure(0.5) is None
