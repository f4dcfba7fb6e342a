"""What a newcomer reads: --version, override help for sft/grpo, help that keeps every choice at 80 columns."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from geor1 import __version__
from geor1.cli import build_app


def invoke(*args: str):
    return CliRunner().invoke(build_app(), list(args), env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.strip() == f"geo-r1 {__version__}"


@pytest.mark.parametrize(("kind", "trainer"), [("sft", "SFTConfig"), ("grpo", "GRPOConfig")])
def test_train_help_explains_overrides_and_lists_keys(kind, trainer):
    text = " ".join(invoke(kind, "--help").output.split())
    assert "--key value" in text and "--learning_rate 1e-5" in text and f"geo-r1 {kind} --keys" in text
    assert trainer in text
    keys = invoke(kind, "--keys")
    assert keys.exit_code == 0
    lines = {line.split("  ")[0]: line for line in keys.output.splitlines()}
    assert lines["learning_rate"].startswith("learning_rate  float") and trainer in lines["learning_rate"]
    assert "train_file" in lines and "model_name_or_path" in lines
    assert invoke(kind).exit_code == 2  # neither a config nor --keys


def test_help_keeps_every_choice_at_80_columns():
    text = " ".join(invoke("data", "views", "--help").output.replace("│", " ").split())
    for choice in ("university1652", "cross_area_test", "same_area_train"):
        assert choice in text, choice
    assert "…" not in text
    pairing = " ".join(invoke("data", "pairing", "--help").output.replace("│", " ").split())
    assert "Default: medium" in pairing
    for command in (["eval"], ["eval", "run"]):
        text = invoke(*command, "--help").output
        assert "chai…" not in text and "retention" in text


def test_python_dash_m_geor1_is_the_geo_r1_command():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "geor1", "--version"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert __version__ in done.stdout
