from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from geor1.cli import build_app
from geor1.records import read_task_file
from test_tasks_common import make_manifest

runner = CliRunner()


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return make_manifest(tmp_path_factory.mktemp("cli") / "earth", n_places=80)


def run(*args):
    return runner.invoke(build_app(), ["data", *map(str, args)])


def test_pairing_split_inspect_preview_export(manifest, tmp_path):
    places = {}
    for split in ("train", "test"):
        out = tmp_path / f"{split}.jsonl"
        r = run(
            "pairing",
            "--views",
            manifest,
            "--out",
            out,
            "--band",
            "easy",
            "--direction",
            "both",
            "--split",
            split,
            "--split-by",
            "region",
            "--region-deg",
            "30",
            "--test-fraction",
            "0.3",
            "--seed",
            1,
        )
        assert r.exit_code == 0, r.output
        assert "examples written" in r.output
        ex = read_task_file(out)
        assert {e.places for e in ex} == {str(manifest)}  # no places.jsonl beside it: the manifest is named
        places[split] = {p for e in ex for p in [e.meta["place"], *e.meta["candidate_places"]]}
    assert places["train"] and places["test"] and not places["train"] & places["test"]
    r = run("inspect", tmp_path / "train.jsonl", "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["directions"]["forward"] == summary["directions"]["reverse"] > 0
    r = run("inspect", tmp_path / "train.jsonl")
    assert r.exit_code == 0 and "answer-letter balance" in r.output
    r = run("preview", tmp_path / "train.jsonl", "--out", tmp_path / "sheet.png", "--n", 2, "--seed", 0)
    assert r.exit_code == 0 and (tmp_path / "sheet.png").stat().st_size > 1000
    r = run("preview", tmp_path / "train.jsonl", "--out", tmp_path / "sheet.jpg", "--n", 2)
    assert r.exit_code == 0 and (tmp_path / "sheet.jpg").read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG bytes
    r = run("preview", tmp_path / "train.jsonl", "--out", tmp_path / "sheet.gif", "--n", 2)
    assert r.exit_code == 2 and ".png, .jpg or .webp" in r.output and not (tmp_path / "sheet.gif").exists()
    r = run(
        "export", tmp_path / "train.jsonl", "--to", "llamafactory", "--out", tmp_path / "lf" / "train.json"
    )
    assert r.exit_code == 0, r.output
    assert (
        json.loads((tmp_path / "lf" / "dataset_info.json").read_text())["train"]["file_name"] == "train.json"
    )
    r = run("export", tmp_path / "train.jsonl", "--to", "vlm-r1", "--out", tmp_path / "vlm.jsonl")
    assert r.exit_code == 0 and "--image_folders" in r.output


def test_geoloc_questions_and_hf_dataset(manifest, tmp_path):
    r = run(
        "geoloc",
        "--views",
        manifest,
        "--out",
        tmp_path / "g.jsonl",
        "--view",
        "satellite,landcover",
        "--limit",
        7,
        "--hf-dataset",
        tmp_path / "g_hf",
    )
    assert r.exit_code == 0, r.output
    assert len(read_task_file(tmp_path / "g.jsonl")) == 7
    from datasets import load_from_disk

    assert len(load_from_disk(str(tmp_path / "g_hf"))) == 7
    r = run(
        "questions",
        "--views",
        manifest,
        "--out",
        tmp_path / "q.jsonl",
        "--types",
        "country,lat_band",
        "--k",
        3,
    )
    assert r.exit_code == 0, r.output
    q = read_task_file(tmp_path / "q.jsonl")
    assert len(q) == 160 and {len(e.meta["options"]) for e in q} == {3}


def test_bad_inputs_are_named(manifest, tmp_path):
    lines = manifest.read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        "\n".join([*lines[:2], '{"id": "x", "image": "../up.png", "lat": 0, "lon": 0, "view": "satellite"}'])
        + "\n"
    )
    r = run("pairing", "--views", bad, "--out", tmp_path / "o.jsonl")
    assert r.exit_code == 2 and "bad.jsonl:3 field 'image'" in r.output and "escapes the root" in r.output
    bad.write_text("\n".join([*lines[:2], "{not json"]) + "\n")
    r = run("geoloc", "--views", bad, "--out", tmp_path / "o.jsonl")
    assert r.exit_code == 2 and "bad.jsonl:3" in r.output and "invalid JSON" in r.output
    # an image missing on disk is named with the manifest line that points at it
    copy = tmp_path / "earth" / "views.jsonl"
    copy.parent.mkdir()
    copy.write_text(manifest.read_text())
    r = run("geoloc", "--views", copy, "--out", tmp_path / "o.jsonl")
    assert r.exit_code == 2 and "views.jsonl:1 field 'image': image file not found" in r.output
    r = run("pairing", "--views", manifest, "--out", tmp_path / "o.jsonl", "--band", "hard", "--min-km", 5)
    assert one_error(r) == "error: option --band: min_km/max_km replace the band; do not give both"
    r = run("pairing", "--views", manifest, "--out", tmp_path / "o.jsonl", "--query-view", "street")
    assert one_error(r).startswith("error: option --query-view: 'street': no view of that kind")
    r = run("pairing", "--views", manifest, "--out", tmp_path / "o.jsonl", "--band", "hard", "--strict")
    assert r.exit_code == 2 and "fewer than 3 other places" in r.output
    r = run("inspect", tmp_path / "nope.jsonl")
    assert r.exit_code == 2 and "nope.jsonl: file not found" in r.output
    assert not (tmp_path / "o.jsonl").exists()


def _task_places(path) -> set[str]:
    """Return every place an example of the task file shows (query and pairing candidates)."""
    return {p for e in read_task_file(path) for p in [e.meta["place"], *e.meta.get("candidate_places", [])]}


def test_split_does_not_follow_the_sampling_seed(manifest, tmp_path):
    train = tmp_path / "pair_train.jsonl"
    r = run("pairing", "--views", manifest, "--out", train, "--split", "train", "--test-fraction", 0.3,
            "--band", "easy", "--seed", 1)  # fmt: skip
    assert r.exit_code == 0, r.output

    def geoloc_test_places(name: str, *seeds: object) -> set[str]:
        out = tmp_path / f"geoloc_{name}.jsonl"
        r = run(
            "geoloc", "--views", manifest, "--out", out, "--split", "test", "--test-fraction", 0.3, *seeds
        )
        assert r.exit_code == 0, r.output
        return _task_places(out)

    places = {seed: geoloc_test_places(f"seed{seed}", "--seed", seed) for seed in (0, 1, 7)}
    for found in places.values():
        assert found and not found & _task_places(train)
    assert places[0] == places[1] == places[7]  # the sampling seed never moves a place between splits
    assert geoloc_test_places("split5", "--split-seed", 5) != places[0]  # ...the split seed does


def test_test_set_sharing_places_with_the_training_data_is_refused(manifest, tmp_path):
    train = tmp_path / "pair_train.jsonl"
    r = run("pairing", "--views", manifest, "--out", train, "--split", "train", "--test-fraction", 0.3,
            "--band", "easy")  # fmt: skip
    assert r.exit_code == 0, r.output
    recorded = read_task_file(train)[0].meta["split_config"]
    assert recorded == {"split": "train", "by": "place", "test_fraction": 0.3, "seed": 0, "region_deg": 10.0}
    test = tmp_path / "geoloc_test.jsonl"
    args = ["geoloc", "--views", manifest, "--out", test, "--split", "test", "--train-tasks", train]
    r = run(*args, "--test-fraction", 0.5, "--split-seed", 5)  # other split settings: places leak
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert r.exit_code == 2 and len(errors) == 1, r.output
    assert "shares" in errors[0] and "seed=0" in errors[0] and "seed=5" in errors[0] and not test.exists()
    r = run(*args, "--test-fraction", 0.3)  # the same split settings: no shared place
    assert r.exit_code == 0, r.output
    assert not _task_places(test) & _task_places(train)


def one_error(result) -> str:
    """Exit code 2 and exactly one ``error:`` line, no traceback; return that line."""
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(errors) == 1, result.output
    assert "Traceback" not in result.output, result.output
    return errors[0]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["pairing", "--candidate-view", "satellite"],
            "option --candidate-view: must differ from query_view",
        ),
        (["pairing", "--k", "1"], "option --k: must be at least 2"),
        (["pairing", "--mix", "easy"], "option --mix: 'easy' is not band=weight"),
        (["pairing", "--split-by", "city"], "option --split-by: must be one of place, region"),
        (["pairing", "--test-fraction", "2"], "option --test-fraction: must be in [0, 1]"),
        (["pairing", "--split", "valid"], "option --split: must be one of train, test, all"),
        (["geoloc", "--view", "street"], "option --view: 'street': no view of that kind"),
        (["geoloc", "--limit", "-1"], "option --limit: must be >= 0"),
        (["questions", "--types", "weather"], "option --types: must name some of"),
        (["instruct", "--kinds", "poem"], "option --kinds: must be among describe, geolocation"),
    ],
)
def test_library_config_errors_name_the_option(manifest, tmp_path, args, line):
    """The task builders raise ConfigError naming their config field; the CLI names its own option."""
    out = tmp_path / "o.jsonl"
    error = one_error(run(args[0], "--views", manifest, "--out", out, *args[1:]))
    assert error.startswith(f"error: {line}"), error
    assert not out.exists()


def test_export_names_the_to_option(manifest, tmp_path):
    tasks = tmp_path / "t.jsonl"
    assert run("geoloc", "--views", manifest, "--out", tasks, "--limit", "2").exit_code == 0
    error = one_error(run("export", tasks, "--to", "alpaca", "--out", tmp_path / "x.jsonl"))
    assert error.startswith("error: option --to: must be one of"), error
