"""Every command fails fast on bad input with one ``error:`` line and exit code 2, leaving nothing
half-written: mistyped models, bad training data and settings, OS errors on outputs, merge-lora inputs."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from geor1.cli import build_app


def invoke(*args: str) -> tuple[int, str, float]:
    """Run the CLI in-process; return (exit code, output, seconds)."""
    started = time.perf_counter()
    result = CliRunner().invoke(build_app(), [str(a) for a in args])
    return result.exit_code, result.output, time.perf_counter() - started


def assert_one_error(code: int, output: str, *needles: str) -> str:
    """Exit code 2, exactly one ``error:`` line, no traceback; return that line."""
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert code == 2, output
    assert len(errors) == 1, output
    assert "Traceback" not in output, output
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def sft_config(tmp_path: Path, model: str | Path, train: str | Path, kind: str = "sft", **extra) -> Path:
    mapping = {
        "model_name_or_path": str(model),
        "train_file": [str(train)],
        "output_dir": str(tmp_path / "run"),
        "use_cpu": True,
        "bf16": False,
        "per_device_train_batch_size": 4,
        "learning_rate": 3e-3,
        "max_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        **({"max_length": None} if kind == "sft" else {"num_generations": 2}),
        **extra,
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(mapping))
    return path


# ------------------------------------------------------------------------------ item 7: mistyped models


@pytest.mark.parametrize("kind", ["sft", "grpo"])
def test_train_with_a_mistyped_model_fails_at_once(tmp_path, cot_jsonl, kind):
    config = sft_config(tmp_path, tmp_path / "no-such-model", cot_jsonl, kind)
    code, output, seconds = invoke(kind, config)
    assert_one_error(code, output, "model_name_or_path", "no-such-model", "no such model folder")
    assert seconds < 30 and not (tmp_path / "run").exists()


def test_hub_like_name_with_an_unreachable_hub_fails_in_seconds(tmp_path, cot_jsonl, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    config = sft_config(tmp_path, "Qwen/Qwen2.5-VL-3B-Instrukt", cot_jsonl)
    code, output, seconds = invoke("sft", config)
    assert_one_error(code, output, "unreachable")
    assert seconds < 30


def test_hub_like_name_offline_and_uncached(tmp_path, cot_jsonl):
    config = sft_config(tmp_path, "someone/not-cached-model", cot_jsonl)
    code, output, _ = invoke("sft", config)
    assert_one_error(code, output, "not in the hub cache")


def test_folder_without_a_model(tmp_path, cot_jsonl):
    (tmp_path / "empty").mkdir()
    config = sft_config(tmp_path, tmp_path / "empty", cot_jsonl)
    code, output, _ = invoke("sft", config)
    assert_one_error(code, output, "not a model folder", "config.json")


def test_eval_with_a_mistyped_model(tmp_path, pairing_jsonl):
    code, output, seconds = invoke(
        "eval", "--model", tmp_path / "tiny-modle", "--tasks", "pairing", "--data", f"pairing={pairing_jsonl}",
        "--runs-dir", tmp_path / "runs",
    )  # fmt: skip
    assert_one_error(code, output, "--model", "tiny-modle")
    assert seconds < 30 and not (tmp_path / "runs").exists()


def test_cot_hf_teacher_with_a_mistyped_model(tmp_path, pairing_jsonl):
    out = tmp_path / "cot.jsonl"
    code, output, seconds = invoke(
        "cot", "--input", pairing_jsonl, "--out", out, "--teacher", "hf", "--model", tmp_path / "nope"
    )
    assert_one_error(code, output, "nope")
    assert seconds < 30 and not out.exists()


# ------------------------------------------------------------------------------ item 8: training data


def test_train_data_problems_are_one_line(tmp_path, tiny_model_dir, cot_jsonl):
    missing = sft_config(tmp_path, tiny_model_dir, tmp_path / "missing.jsonl")
    assert_one_error(*invoke("sft", missing)[:2], "missing.jsonl", "file not found")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert_one_error(*invoke("sft", sft_config(tmp_path, tiny_model_dir, empty))[:2], "no examples")
    views = tmp_path / "views.jsonl"  # a view manifest is not a task file
    views.write_text(json.dumps({"id": "a", "image": "a.png", "lat": 1, "lon": 2, "view": "street"}) + "\n")
    assert_one_error(*invoke("sft", sft_config(tmp_path, tiny_model_dir, views))[:2], "views.jsonl:1")
    assert not (tmp_path / "run").exists()


def test_corrupt_training_image_is_one_located_line(tmp_path, tiny_model_dir, cot_jsonl):
    data = tmp_path / "data"
    shutil.copytree(cot_jsonl.parent, data)
    first = json.loads((data / cot_jsonl.name).read_text().splitlines()[0])
    (data / first["images"][0]).write_bytes(b"\x89PNG\r\n\x1a\n not really")
    code, output, _ = invoke("sft", sft_config(tmp_path, tiny_model_dir, data / cot_jsonl.name))
    assert_one_error(code, output, f"{cot_jsonl.name}:1", "unreadable image")
    assert not (tmp_path / "run").exists()  # found before the model loads: nothing half-made


@pytest.mark.parametrize(
    ("key", "value"),
    [("learning_rate", -1e-4), ("per_device_train_batch_size", 0), ("max_steps", 0), ("weight_decay", -1)],
)
def test_bad_numbers_fail_before_the_model_loads(tmp_path, cot_jsonl, key, value):
    # the model folder does not even exist: the setting must be refused before it is looked at
    config = sft_config(tmp_path, tmp_path / "no-model", cot_jsonl, **{key: value})
    code, output, _ = invoke("sft", config)
    assert_one_error(code, output, f"'{key}'")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------ item 9: merge-lora


def test_merge_lora_with_a_folder_that_is_not_an_adapter(tmp_path, tiny_model_dir):
    out = tmp_path / "merged"
    code, output, _ = invoke(
        "model", "merge-lora", "--base", tiny_model_dir, "--adapter", tiny_model_dir, "--out", out
    )
    assert_one_error(code, output, "--adapter", "adapter_config.json")
    assert not out.exists()
    code, output, _ = invoke(
        "model", "merge-lora", "--base", tmp_path / "x", "--adapter", tmp_path, "--out", out
    )
    assert_one_error(code, output, "--base")


# ------------------------------------------------------------------------------ item 9: OS errors, nesting


def write_manifest_csv(folder: Path) -> Path:
    from PIL import Image

    (folder / "img").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(folder / "img" / "a.png")
    manifest = folder / "m.csv"
    manifest.write_text("id,image,lat,lon,view\na,img/a.png,1,2,street\n")
    return manifest


def test_outputs_that_cannot_be_written_are_one_line(tmp_path):
    manifest = write_manifest_csv(tmp_path / "data")
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me\n")
    a_folder = tmp_path / "a_folder"
    a_folder.mkdir()
    views = ["data", "views", "--source", "manifest", "--manifest", manifest]
    assert_one_error(*invoke(*views, "--out", a_folder)[:2], "a_folder", "is a folder")
    assert_one_error(*invoke(*views, "--out", a_file / "v.jsonl")[:2], "a file is in the way", "a_file")
    code, output, _ = invoke("data", "earth", "--out", a_file, "--places", "2", "--quiet")
    assert_one_error(code, output, "a_file", "a file is in the way")
    assert a_file.read_text() == "keep me\n" and list(a_folder.iterdir()) == []


def test_deeply_nested_jsonl_line_is_a_bad_line_not_a_crash(tmp_path):
    from geor1.errors import RecordError
    from geor1.io import read_jsonl
    from geor1.records import read_views

    folder = tmp_path / "data"
    write_manifest_csv(folder)
    good = json.dumps({"id": "a", "image": "img/a.png", "lat": 1, "lon": 2, "view": "street"})
    nested = '{"id": "b", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    manifest = folder / "m.jsonl"
    manifest.write_text(f"{good}\n{nested}\n")
    out = tmp_path / "v.jsonl"
    views = ["data", "views", "--source", "manifest", "--manifest", manifest, "--out", out]
    code, output, _ = invoke(*views)
    assert code == 0 and f"{manifest}:2: invalid JSON (nested too deeply to read)" in output, output
    assert [v.id for v in read_views(out)] == ["a"]
    assert_one_error(*invoke(*views, "--strict")[:2], f"{manifest}:2", "nested too deeply")
    with pytest.raises(RecordError, match=r"m\.jsonl:2: invalid JSON \(nested too deeply"):
        read_jsonl(manifest)


def test_eval_corrupt_image_names_the_task_line(tmp_path, tiny_model_dir, pairing_jsonl):
    data = tmp_path / "data"
    shutil.copytree(pairing_jsonl.parent, data)
    third = json.loads((data / pairing_jsonl.name).read_text().splitlines()[2])
    (data / third["images"][1]).write_bytes(b"\x89PNG\r\n\x1a\n broken")
    code, output, _ = invoke(
        "eval", "--model", tiny_model_dir, "--tasks", "pairing", "--data", f"pairing={data / pairing_jsonl.name}",
        "--runs-dir", tmp_path / "runs", "--max-new-tokens", "2", "--batch-size", "1", "--no-plots",
    )  # fmt: skip
    assert_one_error(code, output, f"{pairing_jsonl.name}:3", third["id"], third["images"][1].split("/")[-1])


def test_training_module_entry_points_fail_with_one_line(tmp_path, cot_jsonl):
    """``python -m geor1.train.grpo`` (what some accelerate launches run) reports errors as geo-r1 does."""
    import os
    import subprocess
    import sys

    config = sft_config(tmp_path, tmp_path / "no-model", cot_jsonl, "grpo")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "geor1.train.grpo", str(config), "--learning_rate", "-1"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert_one_error(done.returncode, done.stderr, "'learning_rate'")


# ------------------------------------------------------------------------------ one error path (issue 12)


def task_file_with_a_missing_image(tmp_path: Path, source: Path) -> tuple[Path, str]:
    """Copy a task/CoT file and its images, delete one image of line 3; return (file, that image's path)."""
    data = tmp_path / "data"
    shutil.copytree(source.parent, data)
    third = json.loads((data / source.name).read_text().splitlines()[2])
    missing = data / third["images"][1]
    missing.unlink()
    return data / source.name, str(missing.resolve())


@pytest.mark.parametrize("kind", ["sft", "grpo"])
def test_train_with_a_missing_image_is_one_line_naming_the_task_line(
    tmp_path, tiny_model_dir, cot_jsonl, kind
):
    """The same bad task file gives the same one located line from sft, grpo and eval, before any model
    is loaded or run folder made (eval: test_eval_missing_image_fails_before_the_model)."""
    train, missing = task_file_with_a_missing_image(tmp_path, cot_jsonl)
    code, output, seconds = invoke(kind, sft_config(tmp_path, tiny_model_dir, train, kind))
    line = assert_one_error(code, output, f"{train}:3", "field 'images'", "image file not found", missing)
    assert line == f"error: {train}:3 field 'images': image file not found: {missing}"
    assert not (tmp_path / "run").exists() and seconds < 60


def test_eval_missing_image_fails_before_the_model(tmp_path, pairing_jsonl):
    data, missing = task_file_with_a_missing_image(tmp_path, pairing_jsonl)
    code, output, _ = invoke(
        "eval", "--model", tmp_path / "no-model-yet", "--tasks", "pairing", "--data", f"pairing={data}",
        "--runs-dir", tmp_path / "runs",
    )  # fmt: skip
    # the data is read before the model is even looked for: the image is what is reported
    line = assert_one_error(code, output, f"{data}:3", missing)
    assert line == f"error: {data}:3 field 'images': image file not found: {missing}"
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("kind", ["sft", "grpo"])
def test_bad_yaml_key_names_the_file_and_line(tmp_path, tiny_model_dir, cot_jsonl, kind):
    config = sft_config(tmp_path, tiny_model_dir, cot_jsonl, kind)
    text = config.read_text()
    config.write_text(text + "learnin_rate: 0.001\n")
    line_no = len(text.splitlines()) + 1
    code, output, _ = invoke(kind, config)
    line = assert_one_error(
        code, output, f"{config}:{line_no}", "'learnin_rate'", "did you mean 'learning_rate'"
    )
    assert line.startswith(
        f"error: {config}:{line_no}: config key 'learnin_rate': unknown key for a {kind} run"
    )
    # a bad value is located the same way; the same key given on the command line names no file
    config.write_text(text.replace("learning_rate: 0.003", "learning_rate: fast"))
    value_line = 1 + next(
        i for i, t in enumerate(config.read_text().splitlines()) if t.startswith("learning_rate")
    )
    assert_one_error(*invoke(kind, config)[:2], f"{config}:{value_line}: config key 'learning_rate'")
    config.write_text(text)
    code, output, _ = invoke(kind, config, "--learning_rate", "fast")
    line = assert_one_error(code, output, "config key 'learning_rate'")
    assert str(config) not in line
    assert not (tmp_path / "run").exists()


def test_unexpected_exceptions_keep_their_traceback(capsys):
    """The guard turns geor1's own errors (and OS errors on files) into one line and exit 2; anything else
    is a bug and keeps its traceback."""
    from geor1.commands import exit_on_error
    from geor1.errors import ConfigError

    def bad_value(limit: int = 0) -> None:
        raise ConfigError("limit", "must be >= 0, got -1")

    with pytest.raises(SystemExit) as info:
        exit_on_error(bad_value)()
    assert info.value.code == 2
    assert capsys.readouterr().err.strip() == "error: config key 'limit': must be >= 0, got -1"

    def bug() -> None:
        raise KeyError("oops")

    with pytest.raises(KeyError):
        exit_on_error(bug)()


def test_every_command_is_listed_and_guarded():
    """Commands come from the explicit lists in geor1.cli and geor1.commands.data, and every one of them
    (and every group callback) goes through the one error guard."""
    from geor1.cli import COMMANDS
    from geor1.commands.data import DATA_COMMANDS

    app = build_app()
    assert [m.__name__.rsplit(".", 1)[-1] for m in COMMANDS] == [
        "cot", "data", "demo", "eval", "model", "predict", "serve", "train",
    ]  # fmt: skip
    assert DATA_COMMANDS == ("data_earth", "data_views", "data_tasks", "data_export", "data_inspect")

    def walk(typer_app):
        for command in typer_app.registered_commands:
            yield command.name, command.callback
        if typer_app.registered_callback is not None:
            yield "(callback)", typer_app.registered_callback.callback
        for group in typer_app.registered_groups:
            yield from walk(group.typer_instance)

    names = []
    for name, callback in walk(app):
        assert getattr(callback, "__geor1_guarded__", False), name
        names.append(name)
    for name in ("sft", "grpo", "cot", "demo", "predict", "serve", "pairing", "views", "earth", "merge-lora"):
        assert name in names, name
