"""``geo-r1 eval`` commands report bad input as one ``error:`` line on stderr with exit code 2 (as
``geo-r1 cot`` and ``geo-r1 eval imageo`` do), never as a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from geor1.cli import build_app


def invoke(args: list[str]):
    return CliRunner().invoke(build_app(), args)


def assert_clean_error(result, *needles: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr  # one line
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr


@pytest.mark.parametrize("spelling", [[], ["run"]])
def test_eval_run_bad_input_is_a_clean_error(tmp_path: Path, spelling: list[str]) -> None:
    result = invoke(
        ["eval", *spelling, "--model", "m", "--backend", "http", "--base-url", "http://127.0.0.1:9/v1",
         "--tasks", "geolocation", "--data", f"geolocation={tmp_path / 'missing.jsonl'}",
         "--runs-dir", str(tmp_path / "runs")]
    )  # fmt: skip
    assert_clean_error(result, "missing.jsonl", "does not exist")


def test_eval_run_unknown_task_is_a_clean_error(tmp_path: Path) -> None:
    result = invoke(["eval", "--model", "m", "--tasks", "nope", "--runs-dir", str(tmp_path)])
    assert_clean_error(result, "unknown eval task 'nope'")


def test_eval_compare_missing_run_is_a_clean_error(tmp_path: Path) -> None:
    result = invoke(["eval", "compare", "ghost", "--runs-dir", str(tmp_path)])
    assert_clean_error(result, "run 'ghost': no eval results")


def test_eval_compare_broken_result_file_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "r/eval").mkdir(parents=True)
    (tmp_path / "r/eval/pairing.json").write_text("{not json", encoding="utf-8")
    result = invoke(["eval", "compare", "r", "--runs-dir", str(tmp_path)])
    assert_clean_error(result, "pairing.json: invalid JSON")


def test_eval_refuses_test_data_that_shares_places_with_the_training_data(tmp_path: Path) -> None:
    import json

    from conftest import write_pairing_examples

    def with_places(path: Path, prefix: str) -> Path:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for i, row in enumerate(rows):
            row["meta"]["place"] = f"{prefix}{i}"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path

    test = with_places(write_pairing_examples(tmp_path / "test", 4, name="pairing_test.jsonl"), "p")
    train = with_places(write_pairing_examples(tmp_path / "train", 6, name="train.jsonl"), "p")
    args = ["eval", "--model", "m", "--backend", "http", "--base-url", "http://127.0.0.1:9/v1",
            "--tasks", "pairing", "--data", f"pairing={test}", "--runs-dir", str(tmp_path / "runs")]  # fmt: skip
    result = invoke([*args, "--train-data", str(train)])
    assert_clean_error(result, "shares 4 of its 4 places with the training data", "p0, p1, p2, p3")
    assert not (tmp_path / "runs").exists()
    from geor1.builders.split import check_no_shared_places

    other = with_places(write_pairing_examples(tmp_path / "other", 3, name="train.jsonl"), "q")
    check_no_shared_places([{"place": "p0"}], [other], "x")  # disjoint places pass
