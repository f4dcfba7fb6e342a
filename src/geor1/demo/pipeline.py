"""Run the demo's stages in order, resumably: each finished stage leaves a done-marker
(``stages/<name>.json``) with its parameters, summary, wall and CPU time; a stage is skipped when its
marker holds the same parameter hash (its own settings plus the run ids of the stages it reads), so a
changed setting or a rebuilt input redoes it and everything downstream. ``timings.json`` records every
stage's time and the machine load."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geor1.demo.config import MODELS, DemoConfig, params_hash
from geor1.demo.stages import DemoPaths
from geor1.io import write_json

StageFn = Callable[[DemoConfig, DemoPaths, list[Any]], dict[str, Any]]


@dataclass(frozen=True)
class Stage:
    """One step of the demo: its name, the config kind its parameters come from, the stages it reads,
    what it does, and a one-line label."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    run: StageFn
    label: str


def _data(c: DemoConfig, p: DemoPaths, cb: list[Any]) -> dict[str, Any]:
    from geor1.demo.stages import build_data

    return build_data(c, p)


def _model(c: DemoConfig, p: DemoPaths, cb: list[Any]) -> dict[str, Any]:
    from geor1.demo.stages import make_model

    return make_model(c, p)


def _cot(c: DemoConfig, p: DemoPaths, cb: list[Any]) -> dict[str, Any]:
    from geor1.demo.stages import make_cot

    if p.cot.exists():  # a stage that runs again starts from scratch (the runner would resume instead)
        p.cot.unlink()
        log = p.cot.with_name("cot.log.jsonl")
        if log.exists():
            log.unlink()
    return make_cot(c, p)


def _sft(c: DemoConfig, p: DemoPaths, cb: list[Any]) -> dict[str, Any]:
    from geor1.demo.stages import train_sft

    return train_sft(c, p, callbacks=cb)


def _grpo_from(init: str, name: str) -> StageFn:
    def run(c: DemoConfig, p: DemoPaths, cb: list[Any]) -> dict[str, Any]:
        from geor1.demo.stages import train_grpo

        return train_grpo(c, p, init, name, callbacks=cb)

    return run


def _eval_of(name: str) -> StageFn:
    def run(c: DemoConfig, p: DemoPaths, cb: list[Any]) -> dict[str, Any]:
        import shutil

        from geor1.demo.stages import evaluate_model

        shutil.rmtree(p.eval_root / name, ignore_errors=True)  # the generation cache keys on the folder
        return evaluate_model(c, p, name)

    return run


def _report(c: DemoConfig, p: DemoPaths, cb: list[Any]) -> dict[str, Any]:
    from geor1.demo.report import write_report

    md, html = write_report(c, p)
    return {"report": str(md), "html": str(html)}


TRAINING = {"base": "model", "sft": "sft", "sft_grpo": "sft_grpo", "grpo": "grpo"}


def demo_stages() -> list[Stage]:
    """Return the stages in the order they run."""
    stages = [
        Stage("data", "data", (), _data, "offline Earth views and tasks (split by place)"),
        Stage("model", "model", (), _model, "tiny Qwen2.5-VL"),
        Stage("cot", "cot", ("data",), _cot, "scaffolding data: template-teacher CoT"),
        Stage("sft", "sft", ("model", "cot"), _sft, "scaffolding: SFT on the CoT"),
        Stage(
            "sft_grpo", "grpo", ("sft", "data"), _grpo_from("sft", "sft_grpo"), "elevating: GRPO after SFT"
        ),
        Stage("grpo", "grpo", ("model", "data"), _grpo_from("base", "grpo"), "GRPO without SFT"),
    ]
    for name, _label in MODELS:
        stages.append(
            Stage(f"eval_{name}", "eval", (TRAINING[name], "data"), _eval_of(name), f"evaluate {name}")
        )
    stages.append(
        Stage(
            "report",
            "report",
            tuple(s.name for s in stages),
            _report,
            "report.md + report.html",
        )
    )
    return stages


def read_marker(paths: DemoPaths, name: str) -> dict[str, Any] | None:
    """Return a stage's done-marker, or None if it has not finished (or the marker is unreadable)."""
    path = paths.stages / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def stage_hash(config: DemoConfig, paths: DemoPaths, stage: Stage) -> tuple[str, dict[str, Any]]:
    """Return ``(hash, params)`` of a stage: its own settings plus the run ids of its inputs."""
    params: dict[str, Any] = dict(config.stage_params(stage.kind))
    params["inputs"] = {name: (read_marker(paths, name) or {}).get("run_id") for name in stage.inputs}
    return params_hash(params), params


class TrainingProgress:
    """A ``transformers`` callback showing a tqdm bar over the training steps with the latest loss or
    reward (built lazily so this module imports without transformers)."""

    def __new__(cls, desc: str):
        from tqdm.auto import tqdm
        from transformers import TrainerCallback

        class _Bar(TrainerCallback):
            def __init__(self) -> None:
                self.bar = None

            def on_train_begin(self, args, state, control, **kwargs):
                self.bar = tqdm(total=state.max_steps, desc=desc, unit="step", leave=False)

            def on_step_end(self, args, state, control, **kwargs):
                if self.bar is not None:
                    self.bar.update(state.global_step - self.bar.n)

            def on_log(self, args, state, control, logs=None, **kwargs):
                if self.bar is None or not logs:
                    return
                shown = {}
                for key, short in (("loss", "loss"), ("reward", "reward"), ("rewards/accuracy/mean", "acc")):
                    if isinstance(logs.get(key), (int, float)):
                        shown[short] = f"{logs[key]:.3f}"
                if shown:
                    self.bar.set_postfix(shown, refresh=False)

            def on_train_end(self, args, state, control, **kwargs):
                if self.bar is not None:
                    self.bar.close()
                    self.bar = None

        return _Bar()


def _summary_text(summary: dict[str, Any]) -> str:
    parts = []
    for key, value in summary.items():
        if isinstance(value, (dict, list)) or key in ("folder", "report", "html"):
            continue
        parts.append(f"{key} {value}")
    return ", ".join(parts[:6])


def run_demo(config: DemoConfig, *, force: bool = False, console: Any = None) -> dict[str, Any]:
    """Run every stage (skipping finished ones unless ``force``); return the timings document that is
    also written to ``timings.json``."""
    from rich.console import Console

    from geor1.demo.stages import set_threads

    console = console or Console(stderr=True)
    paths = DemoPaths(Path(config.out))
    paths.root.mkdir(parents=True, exist_ok=True)
    set_threads(config)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    write_json(paths.root / "config.json", config.to_dict())
    stages = demo_stages()
    started = time.perf_counter()
    load_start = os.getloadavg()
    rows: list[dict[str, Any]] = []
    for number, stage in enumerate(stages, start=1):
        digest, params = stage_hash(config, paths, stage)
        marker = read_marker(paths, stage.name)
        head = f"[{number:>2}/{len(stages)}] {stage.name:<13}"
        if not force and marker and marker.get("params_hash") == digest:
            console.print(
                f"{head} [dim]done earlier ({marker['seconds']:.1f} s), skipped[/dim]", highlight=False
            )
            rows.append({"stage": stage.name, "skipped": True, **_times(marker)})
            continue
        (paths.stages / f"{stage.name}.json").unlink(missing_ok=True)
        console.print(f"{head} {stage.label} …", highlight=False)
        t0, c0, load0 = time.perf_counter(), time.process_time(), os.getloadavg()[0]
        callbacks = [TrainingProgress(stage.name)] if stage.kind in ("sft", "grpo") else []
        summary = stage.run(config, paths, callbacks)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        marker = {
            "stage": stage.name,
            "params_hash": digest,
            "params": params,
            "run_id": params_hash({"hash": digest, "finished": time.time()}),
            "summary": summary,
            "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu, 2),
            "load_start": round(load0, 2),
            "load_end": round(os.getloadavg()[0], 2),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        write_json(paths.stages / f"{stage.name}.json", marker)
        console.print(
            f"{head} [green]done[/green] in {seconds:.1f} s (cpu {cpu:.1f} s, load {load0:.1f}) "
            f"{_summary_text(summary)}",
            highlight=False,
        )
        rows.append({"stage": stage.name, "skipped": False, **_times(marker)})
    total = time.perf_counter() - started
    doc = {
        "total_seconds_this_run": round(total, 2),
        "total_seconds_recorded": round(sum(r["seconds"] for r in rows), 2),
        "total_cpu_seconds_recorded": round(sum(r["cpu_seconds"] or 0.0 for r in rows), 2),
        "threads": config.threads,
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "stages": rows,
    }
    write_json(paths.root / "timings.json", doc)
    console.print(
        f"demo finished in {total:.1f} s this run (stages as recorded: {doc['total_seconds_recorded']:.1f} s "
        f"wall, {doc['total_cpu_seconds_recorded']:.1f} s CPU); report: {paths.root / 'report.md'}",
        highlight=False,
    )
    return doc


def _times(marker: dict[str, Any]) -> dict[str, Any]:
    return {
        "seconds": marker.get("seconds", 0.0),
        "cpu_seconds": marker.get("cpu_seconds"),
        "load_start": marker.get("load_start"),
        "load_end": marker.get("load_end"),
    }
