"""Report plots: the pairing accuracy-by-band chart, and bar-chart CIs drawn with the run's own bootstrap
seed and resample count (so they match ``report.md``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geor1.eval import plots
from geor1.eval.backends import Backend
from geor1.eval.report import format_value, write_report
from geor1.eval.runner import EvalConfig, run_eval
from geor1.eval.types import EvalExample, SamplingConfig

_BAR_ORANGE = (0xF5, 0x85, 0x18)


class BandBackend(Backend):
    """Right on every "easy" example, right on every other "medium" one, wrong on "hard" ones."""

    def __init__(self) -> None:
        super().__init__("band-scripted")
        self.medium_seen = 0

    def generate(self, examples: Sequence[EvalExample], sampling: SamplingConfig) -> list[str]:
        out = []
        for e in examples:
            band = e.meta.get("band")
            right = band == "easy"
            if band == "medium":
                right = self.medium_seen % 2 == 0
                self.medium_seen += 1
            letter = e.solution if right else ("A" if e.solution != "A" else "B")
            out.append(f"<think>looking</think><answer>{letter}</answer>")
        return out


def orange_pixels(path: Path) -> int:
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return int((np.abs(rgb - np.array(_BAR_ORANGE)).sum(axis=2) < 30).sum())


def test_pairing_run_draws_accuracy_by_band(pairing_jsonl: Path, tmp_path: Path) -> None:
    config = EvalConfig(model="bands", tasks=["pairing"], data=[f"pairing={pairing_jsonl}"], run="bands",
                        runs_dir=tmp_path, n_boot=200)  # fmt: skip
    report = run_eval(config, backend=BandBackend())
    doc = json.loads((report.parent / "pairing.json").read_text())
    by_band = doc["metrics"]["by_band"]
    assert set(by_band) == {"easy", "medium", "hard"}
    assert by_band["easy"]["accuracy"] == 1.0 and by_band["hard"]["accuracy"] == 0.0
    assert 0.0 < by_band["medium"]["accuracy"] < 1.0
    png = report.parent / "pairing_bands.png"
    assert png.stat().st_size > 5_000
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width > 400 and image.height > 200
    # bars for easy (full height), medium (partial) and the direction panel: a lot of bar colour
    assert orange_pixels(png) > 5_000
    assert "![pairing_bands](pairing_bands.png)" in report.read_text()


def test_pairing_band_plot_bar_heights_follow_the_accuracies(tmp_path: Path) -> None:
    def doc(acc: dict[str, float]) -> dict:
        table = {band: {"n": 4, "accuracy": a} for band, a in acc.items()}
        metrics = {"by_band": table, "by_direction": {"s→t": {"n": 12, "accuracy": 0.0}}, "chance": 0.25}
        return {"task": "pairing", "metrics": metrics, "headline": [], "examples": []}

    low = plots.pairing_by_band([doc({"easy": 0.2, "medium": 0.1, "hard": 0.0})], tmp_path / "low.png")
    high = plots.pairing_by_band([doc({"easy": 1.0, "medium": 0.9, "hard": 0.8})], tmp_path / "high.png")
    assert low is not None and high is not None
    assert orange_pixels(high) > 3 * orange_pixels(low) > 0


def test_bar_chart_cis_use_the_run_seed_and_resamples(tmp_path: Path, monkeypatch) -> None:
    rng = np.random.default_rng(0)
    values = (rng.random(60) < 0.4).astype(float).tolist()
    doc = {
        "task": "retention", "model": "m", "backend": "hf", "sampling": {}, "created": "now", "data": "d",
        "metrics": {"accuracy": float(np.mean(values))}, "examples": [],
        "headline": [{"metric": "accuracy", "values": values, "statistic": "mean", "higher_is_better": True}],
    }  # fmt: skip
    calls: list[tuple[int, int]] = []
    real = plots.headline_rows

    def spy(d: dict, *, seed: int = 0, n_boot: int = 2000) -> list[dict]:
        calls.append((seed, n_boot))
        return real(d, seed=seed, n_boot=n_boot)

    monkeypatch.setattr(plots, "headline_rows", spy)
    report = write_report(tmp_path, [doc], seed=7, n_boot=333)
    assert calls == [(7, 333)]
    ((_, value, ci),) = plots.share_bars([doc], seed=7, n_boot=333)
    assert f"| {format_value(value, ci)} |" in report.read_text()
    assert ci != plots.share_bars([doc], seed=0, n_boot=500)[0][2]
    assert (tmp_path / "tasks_bar.png").stat().st_size > 1_000
    assert value == pytest.approx(np.mean(values))
