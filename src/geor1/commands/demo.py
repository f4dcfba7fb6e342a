"""``geo-r1 demo``: run the whole Geo-R1 loop on the offline Earth on CPU and write a report."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the top-level ``demo`` command."""
    app.command("demo")(demo)


def demo(
    out: Path = typer.Option(
        Path("runs/demo"), "--out", help="Run folder (report.md, report.html, stages/, …)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the data, model, training and bootstrap CIs."),
    quick: bool = typer.Option(False, "--quick", help="Smoke run: fewer places, steps and eval examples."),
    force: bool = typer.Option(False, "--force", help="Redo every stage, even finished ones."),
    threads: int = typer.Option(
        1, "--threads", help="Torch threads per process (1 is fastest on a shared CPU)."
    ),
    settings: list[str] = typer.Option(
        [],
        "--set",
        help="Override a setting as section.field=value, e.g. --set sft.steps=100 --set grpo.lr=1e-3 "
        "(repeatable; sections: data, model, pretrain, cot, sft, grpo, eval, report; see DemoConfig).",
    ),
    workers: int = typer.Option(
        2,
        "--workers",
        help="Stages run at once in worker processes when their inputs are ready (1: in order).",
    ),
) -> None:
    """Build offline Earth tasks, make a tiny Qwen2.5-VL, run CoT → SFT → GRPO, evaluate base, SFT,
    SFT+GRPO and GRPO-without-SFT on held-out places, and write report.md + report.html.

    Resumable: a finished stage is skipped unless --force or its settings changed.
    """
    from rich.console import Console

    from geor1.demo import DemoConfig, run_demo

    err = Console(stderr=True)
    config = DemoConfig.from_overrides(settings, quick=quick, out=out, seed=seed, threads=threads)
    run_demo(config, force=force, console=err, workers=workers)
