"""Run the demo's stages in order, resumably: each finished stage leaves a done-marker
(``stages/<name>.json``) with its parameters, summary, wall and CPU time; a stage is skipped when its
marker holds the same parameter hash (its config section, the run-wide fields that section names, the
recipe it trains from and the run ids of the stages it reads), so a changed setting or a rebuilt input
redoes it and everything downstream. ``timings.json`` records every
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
    """One step of the demo: its name, its kind (the ``DemoConfig`` section its parameters come from),
    the stages it reads, what it does, and a one-line label."""

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


def _pretrain(c: DemoConfig, p: DemoPaths, cb: list[Any]) -> dict[str, Any]:
    from geor1.demo.stages import pretrain_base

    return pretrain_base(c, p, callbacks=cb)


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


TRAINING = {"base": "pretrain", "sft": "sft", "sft_grpo": "sft_grpo", "grpo": "grpo"}


def demo_stages() -> list[Stage]:
    """Return the stages in the order they run."""
    stages = [
        Stage("data", "data", (), _data, "offline Earth views and tasks (split by place)"),
        Stage("model", "model", (), _model, "tiny Qwen2.5-VL (random weights)"),
        Stage(
            "pretrain",
            "pretrain",
            ("model", "data"),
            _pretrain,
            "base model: contrastive vision pretraining + single-view instructions",
        ),
        Stage("cot", "cot", ("data",), _cot, "scaffolding data: template-teacher CoT"),
        Stage("sft", "sft", ("pretrain", "cot"), _sft, "scaffolding: SFT on the CoT"),
        Stage(
            "sft_grpo", "grpo", ("sft", "data"), _grpo_from("sft", "sft_grpo"), "elevating: GRPO after SFT"
        ),
        Stage("grpo", "grpo", ("pretrain", "data"), _grpo_from("base", "grpo"), "GRPO without SFT"),
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
    """Return ``(hash, params)`` of a stage: its config section and the run-wide fields it names, the
    recipe it trains from (if any) and the run ids of its inputs."""
    from geor1.demo.stages import recipe_params

    params: dict[str, Any] = dict(config.stage_params(stage.kind))
    recipe = recipe_params(stage.kind)
    if recipe is not None:
        params["recipe"] = params_hash(recipe)
    params["inputs"] = {name: (read_marker(paths, name) or {}).get("run_id") for name in stage.inputs}
    return params_hash(params), params


class TrainingProgress:
    """A ``transformers`` callback reporting training progress with the latest loss or reward: a tqdm bar
    (``lines=False``) or, when several stages run at once in worker processes, a line every tenth of the
    run (built lazily so this module imports without transformers)."""

    def __new__(cls, desc: str, lines: bool = False):
        import sys

        from tqdm.auto import tqdm
        from transformers import TrainerCallback

        class _Progress(TrainerCallback):
            def __init__(self) -> None:
                self.bar = None
                self.shown: dict[str, str] = {}
                self.started = time.perf_counter()
                self.next_line = 0

            def on_train_begin(self, args, state, control, **kwargs):
                self.started = time.perf_counter()
                if not lines:
                    self.bar = tqdm(total=state.max_steps, desc=desc, unit="step", leave=False)

            def on_step_end(self, args, state, control, **kwargs):
                if self.bar is not None:
                    self.bar.update(state.global_step - self.bar.n)
                elif lines and state.global_step >= self.next_line:
                    self.next_line = state.global_step + max(1, state.max_steps // 10)
                    shown = " ".join(f"{k} {v}" for k, v in self.shown.items())
                    elapsed = time.perf_counter() - self.started
                    print(f"  {desc}: step {state.global_step}/{state.max_steps} {shown} ({elapsed:.0f} s)",
                          file=sys.stderr, flush=True)  # fmt: skip

            def on_log(self, args, state, control, logs=None, **kwargs):
                for key, short in (("loss", "loss"), ("reward", "reward"), ("rewards/accuracy/mean", "acc")):
                    if logs and isinstance(logs.get(key), (int, float)):
                        self.shown[short] = f"{logs[key]:.3f}"
                if self.bar is not None and self.shown:
                    self.bar.set_postfix(self.shown, refresh=False)

            def on_train_end(self, args, state, control, **kwargs):
                if self.bar is not None:
                    self.bar.close()
                    self.bar = None

        return _Progress()


def _summary_text(summary: dict[str, Any]) -> str:
    parts = []
    for key, value in summary.items():
        if isinstance(value, (dict, list)) or key in ("folder", "report", "html"):
            continue
        parts.append(f"{key} {value}")
    return ", ".join(parts[:6])


def execute_stage(config: DemoConfig, name: str, lines: bool = False) -> dict[str, Any]:
    """Run one stage in this process; return its summary with wall and CPU seconds and the load."""
    from geor1.demo.stages import set_threads

    set_threads(config)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    _quiet_libraries()
    stage = {s.name: s for s in demo_stages()}[name]
    paths = DemoPaths(Path(config.out))
    t0, c0, load0 = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    callbacks = [TrainingProgress(stage.name, lines=lines)] if stage.kind in ("sft", "grpo") else []
    if lines and stage.kind == "eval":
        # The eval runner draws its own generation bars; beside another worker's lines they garble.
        import contextlib
        import io

        with contextlib.redirect_stderr(io.StringIO()):
            summary = stage.run(config, paths, callbacks)
    else:
        summary = stage.run(config, paths, callbacks)
    return {
        "summary": summary,
        "seconds": round(time.perf_counter() - t0, 2),
        "cpu_seconds": round(time.process_time() - c0, 2),
        "load_start": round(load0, 2),
        "load_end": round(os.getloadavg()[0], 2),
    }


def _quiet_libraries() -> None:
    """Silence the libraries' own progress bars and deprecation chatter: the demo prints one line per
    stage and its own training progress."""
    import warnings

    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(transformers|trl|torch)\.")


def _init_worker() -> None:
    # Before anything imports tqdm (it reads TQDM_* variables once): bars of two processes would garble
    # each other, so workers print progress lines instead.
    os.environ["TQDM_DISABLE"] = "1"


def _execute_in_worker(config: DemoConfig, name: str) -> dict[str, Any]:
    return execute_stage(config, name, lines=True)


def run_demo(
    config: DemoConfig,
    *,
    force: bool = False,
    console: Any = None,
    only: set[str] | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Run every stage (skipping finished ones unless ``force``; only the named ones when ``only`` is
    given, e.g. for tuning probes); return the timings document also written to ``timings.json``.

    With ``workers`` > 1, stages whose inputs are done run at the same time in that many worker
    processes (e.g. GRPO without SFT beside SFT): on a 2-core machine with one torch thread per process
    this nearly halves the wall time of the training stages; results do not depend on the schedule.
    """
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from multiprocessing import get_context

    from rich.console import Console

    console = console or Console(stderr=True)
    paths = DemoPaths(Path(config.out))
    paths.root.mkdir(parents=True, exist_ok=True)
    write_json(paths.root / "config.json", config.to_dict())
    stages = [s for s in demo_stages() if only is None or s.name in only]
    number = {s.name: i for i, s in enumerate(stages, start=1)}
    started = time.perf_counter()
    load_start = os.getloadavg()
    rows: dict[str, dict[str, Any]] = {}
    pending = list(stages)
    running: dict[Future, tuple[Stage, str, dict[str, Any]]] = {}
    done: set[str] = set()
    pool = (
        ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker)
        if workers > 1
        else None
    )

    def head(stage: Stage) -> str:
        return f"[{number[stage.name]:>2}/{len(stages)}] {stage.name:<13}"

    def finish(stage: Stage, digest: str, params: dict[str, Any], result: dict[str, Any]) -> None:
        marker = {
            "stage": stage.name,
            "params_hash": digest,
            "params": params,
            "run_id": params_hash({"hash": digest, "finished": time.time()}),
            **result,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        write_json(paths.stages / f"{stage.name}.json", marker)
        console.print(
            f"{head(stage)} [green]done[/green] in {result['seconds']:.1f} s (cpu {result['cpu_seconds']:.1f} s, "
            f"load {result['load_start']:.1f}) {_summary_text(result['summary'])}",
            highlight=False,
        )
        rows[stage.name] = {"stage": stage.name, "skipped": False, **_times(marker)}
        done.add(stage.name)

    try:
        while pending or running:
            for stage in list(pending):
                # inputs outside this run (``only``) count as done when their marker exists
                if any(
                    i not in done and (i in number or read_marker(paths, i) is None) for i in stage.inputs
                ):
                    continue
                digest, params = stage_hash(config, paths, stage)
                marker = read_marker(paths, stage.name)
                if not force and marker and marker.get("params_hash") == digest:
                    pending.remove(stage)
                    console.print(
                        f"{head(stage)} [dim]done earlier ({marker['seconds']:.1f} s), skipped[/dim]",
                        highlight=False,
                    )
                    rows[stage.name] = {"stage": stage.name, "skipped": True, **_times(marker)}
                    done.add(stage.name)
                    continue
                if pool is not None and len(running) >= workers:
                    continue
                pending.remove(stage)
                (paths.stages / f"{stage.name}.json").unlink(missing_ok=True)
                console.print(f"{head(stage)} {stage.label} …", highlight=False)
                if pool is None:
                    finish(stage, digest, params, execute_stage(config, stage.name))
                else:
                    future = pool.submit(_execute_in_worker, config, stage.name)
                    running[future] = (stage, digest, params)
            if running:
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in finished:
                    stage, digest, params = running.pop(future)
                    finish(stage, digest, params, future.result())
            elif pending and not any(
                all(i in done or (i not in number and read_marker(paths, i)) for i in s.inputs)
                for s in pending
            ):
                missing = {i for s in pending for i in s.inputs if i not in done}
                raise RuntimeError(f"stages {[s.name for s in pending]} wait for {sorted(missing)}")
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    total = time.perf_counter() - started
    ordered = [rows[s.name] for s in stages if s.name in rows]
    doc = {
        "total_seconds_this_run": round(total, 2),
        "total_seconds_recorded": round(sum(r["seconds"] for r in ordered), 2),
        "total_cpu_seconds_recorded": round(sum(r["cpu_seconds"] or 0.0 for r in ordered), 2),
        "workers": workers,
        "threads": config.threads,
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "stages": ordered,
    }
    write_json(paths.root / "timings.json", doc)
    console.print(
        f"demo finished in {total:.1f} s this run (stages as recorded: {doc['total_seconds_recorded']:.1f} s "
        f"wall, {doc['total_cpu_seconds_recorded']:.1f} s CPU, {workers} worker(s)); "
        f"report: {paths.root / 'report.md'}",
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
