"""``geo-r1 eval``: score models on geospatial tasks, score IMAGEO-Bench result files, compare runs.

``geo-r1 eval --model DIR --tasks pairing,geolocation,chain --run NAME`` (the group's default action,
same as ``geo-r1 eval run …``), ``geo-r1 eval imageo --predictions F --truth CSV``,
``geo-r1 eval compare RUN RUN …``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

eval_app = typer.Typer(
    help="Evaluate models (pairing, geolocation, place chains, IMAGEO, retention) and compare runs.",
    invoke_without_command=True,
    no_args_is_help=False,
)

_BACKENDS = ("hf", "http", "vllm")


@contextmanager
def clean_errors() -> Iterator[None]:
    """Turn a GeoR1Error (a bad input, named by the error) into an ``error: …`` line on stderr and exit
    code 2, as ``geo-r1 cot`` does, instead of a traceback."""
    from geor1.commands import print_error
    from geor1.errors import GeoR1Error

    try:
        yield
    except GeoR1Error as exc:
        print_error(exc)
        raise typer.Exit(2) from None


def _run_options(
    model: str | None,
    tasks: str,
    data: list[str] | None,
    run: str | None,
    runs_dir: Path,
    backend: str,
    base_url: str | None,
    api_key: str | None,
    api_key_env: str,
    batch_size: int,
    concurrency: int,
    limit: int | None,
    seed: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    no_plots: bool,
    train_data: list[Path] | None = None,
) -> None:
    from rich.console import Console

    from geor1.eval.runner import EvalConfig, run_eval

    if model is None:
        raise typer.BadParameter("--model is required (a model folder, or the served model name for http)")
    if backend not in _BACKENDS:
        raise typer.BadParameter(f"--backend must be one of {', '.join(_BACKENDS)}")
    config = EvalConfig(
        model=model,
        tasks=[t.strip() for t in tasks.split(",") if t.strip()],
        data=list(data or []),
        run=run or Path(model).name or "eval",
        runs_dir=runs_dir,
        backend=backend,
        base_url=base_url,
        api_key=api_key,
        api_key_env=api_key_env,
        batch_size=batch_size,
        concurrency=concurrency,
        limit=limit,
        seed=seed,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        plots=not no_plots,
        train_data=[str(p) for p in train_data or []],
    )
    with clean_errors():
        out = run_eval(config)
    print_headline(config.eval_dir, config.tasks, seed=config.seed, n_boot=config.n_boot)
    Console().print(f"[green]report:[/green] {out}")


def print_headline(eval_dir: Path, tasks: list[str], *, seed: int = 0, n_boot: int = 2000) -> None:
    """Print each task's headline metrics (value and 95 % bootstrap CI), as report.md's table has them."""
    from rich.console import Console
    from rich.table import Table

    from geor1.eval.report import format_value, headline_rows

    table = Table(title=f"results: {eval_dir.parent.name}")
    for name, justify in (("task", "left"), ("metric", "left"), ("value [95 % CI]", "right"), ("n", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for task in tasks:
        doc = json.loads((eval_dir / f"{task}.json").read_text(encoding="utf-8"))
        for row in headline_rows(doc, seed=seed, n_boot=n_boot):
            arrow = "↑" if row["higher_is_better"] else "↓"
            table.add_row(
                task, f"{row['metric']} {arrow}", format_value(row["value"], row["ci"]), str(row["n"])
            )
    Console().print(table)


_MODEL = typer.Option(None, "--model", help="Model folder (hf/vllm) or model name (http).")
_TASKS = typer.Option(
    "pairing,geolocation,chain",
    "--tasks",
    help="Comma-separated task names (pairing, geolocation, chain, imageo, retention).",
    show_default="pairing, geolocation, chain",  # spaced, so help at 80 columns wraps it, not cuts it
)
_DATA = typer.Option(
    None,
    "--data",
    help="Task data: TASK=PATH (a task-example JSONL, an Earth view manifest, a GeoChain CSV, an MCQ JSONL…) "
    "or a folder holding Earth views / task files. Repeatable.",
)
_RUN = typer.Option(None, "--run", help="Run name; results go to RUNS_DIR/NAME/eval/.")
_RUNS_DIR = typer.Option(Path("runs"), "--runs-dir", help="Folder holding runs.")
_BACKEND = typer.Option("hf", "--backend", help="hf | http | vllm")
_BASE_URL = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
_API_KEY_ENV = typer.Option(
    "OPENAI_API_KEY", "--api-key-env", help="http: environment variable holding the API key (preferred)."
)
_API_KEY = typer.Option(
    None,
    "--api-key",
    help="http: the API key itself. Discouraged: it shows in the shell history and the process list; "
    "use --api-key-env.",
)
_BATCH = typer.Option(8, "--batch-size", min=1, help="Generation batch size (hf/vllm).")
_CONC = typer.Option(8, "--concurrency", min=1, help="Concurrent HTTP requests (http).")
_LIMIT = typer.Option(None, "--limit", min=1, help="At most this many examples per task.")
_SEED = typer.Option(0, "--seed", help="Seed for sampling and for the bootstrap.")
_TEMP = typer.Option(0.0, "--temperature", min=0.0, help="0 = greedy decoding.")
_TOP_P = typer.Option(1.0, "--top-p", min=0.0, max=1.0)
_MAX_NEW = typer.Option(256, "--max-new-tokens", min=1)
_NO_PLOTS = typer.Option(False, "--no-plots", help="Skip the PNG plots.")
_TRAIN_DATA = typer.Option(
    None,
    "--train-data",
    help="Training task/CoT file(s) of the model (repeatable): test data that shows a place they show "
    "is refused before anything runs.",
)


@eval_app.callback()
def eval_main(
    ctx: typer.Context,
    model: str | None = _MODEL,
    tasks: str = _TASKS,
    data: list[str] | None = _DATA,
    run: str | None = _RUN,
    runs_dir: Path = _RUNS_DIR,
    backend: str = _BACKEND,
    base_url: str | None = _BASE_URL,
    api_key: str | None = _API_KEY,
    api_key_env: str = _API_KEY_ENV,
    batch_size: int = _BATCH,
    concurrency: int = _CONC,
    limit: int | None = _LIMIT,
    seed: int = _SEED,
    temperature: float = _TEMP,
    top_p: float = _TOP_P,
    max_new_tokens: int = _MAX_NEW,
    no_plots: bool = _NO_PLOTS,
    train_data: list[Path] | None = _TRAIN_DATA,
) -> None:
    """Evaluate a model on tasks (when no subcommand is given): ``geo-r1 eval --model DIR --tasks …``."""
    if ctx.invoked_subcommand is not None:
        return
    if model is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    _run_options(
        model, tasks, data, run, runs_dir, backend, base_url, api_key, api_key_env, batch_size, concurrency,
        limit, seed, temperature, top_p, max_new_tokens, no_plots, train_data,
    )  # fmt: skip


@eval_app.command("run")
def eval_run(
    model: str | None = _MODEL,
    tasks: str = _TASKS,
    data: list[str] | None = _DATA,
    run: str | None = _RUN,
    runs_dir: Path = _RUNS_DIR,
    backend: str = _BACKEND,
    base_url: str | None = _BASE_URL,
    api_key: str | None = _API_KEY,
    api_key_env: str = _API_KEY_ENV,
    batch_size: int = _BATCH,
    concurrency: int = _CONC,
    limit: int | None = _LIMIT,
    seed: int = _SEED,
    temperature: float = _TEMP,
    top_p: float = _TOP_P,
    max_new_tokens: int = _MAX_NEW,
    no_plots: bool = _NO_PLOTS,
    train_data: list[Path] | None = _TRAIN_DATA,
) -> None:
    """Evaluate a model on tasks and write RUNS_DIR/RUN/eval/<task>.json, report.md and plots."""
    _run_options(
        model, tasks, data, run, runs_dir, backend, base_url, api_key, api_key_env, batch_size, concurrency,
        limit, seed, temperature, top_p, max_new_tokens, no_plots, train_data,
    )  # fmt: skip


@eval_app.command("imageo")
def eval_imageo(
    predictions: Path = typer.Option(..., "--predictions", help="IMAGEO result JSONL (one answer a line)."),
    truth: Path = typer.Option(..., "--truth", help="IMAGEO ground truth CSV (dataset*_info.csv)."),
    normalize: bool = typer.Option(
        False, "--normalize", help="Fair name matching (accents, pycountry aliases) instead of the authors'."
    ),
    count_unparsed: bool = typer.Option(
        False, "--count-unparsed", help="Count unparsed/missing answers as wrong in every denominator."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Score an IMAGEO-Bench result file (default: the benchmark authors' own scoring)."""
    from geor1.eval.imageo import score_imageo_files

    with clean_errors():
        metrics = score_imageo_files(predictions, truth, normalize=normalize, count_unparsed=count_unparsed)
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"IMAGEO ({metrics['mode']}): {predictions.name}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in (
        "n",
        "n_parsed",
        "n_with_coords",
        "median_km",
        "mean_km",
        "city_acc",
        "state_acc",
        "country_acc",
    ):
        value = metrics[key]
        table.add_row(
            key, "-" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))
        )
    for t, value in metrics["acc_km"].items():
        table.add_row(f"acc@{t}km", "-" if value is None else f"{value:.4f}")
    Console().print(table)


@eval_app.command("compare")
def eval_compare(
    runs: list[str] = typer.Argument(..., help="Run names (under --runs-dir) or run folders."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir"),
    out: Path | None = typer.Option(None, "--out", help="Also write the markdown table here."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    n_boot: int = typer.Option(2000, "--n-boot", min=100, help="Bootstrap resamples."),
) -> None:
    """Put runs side by side: one row per task metric, 95 % bootstrap confidence intervals."""
    from rich.console import Console

    from geor1.eval.compare import compare_runs

    with clean_errors():
        table, markdown = compare_runs(runs, runs_dir=runs_dir, seed=seed, n_boot=n_boot)
    Console().print(table)
    if out is not None:
        from geor1.io import atomic_write_text

        atomic_write_text(out, markdown)
        Console().print(f"[green]wrote[/green] {out}")


def register(app: typer.Typer) -> None:
    """Attach the ``eval`` group to the main app."""
    app.add_typer(eval_app, name="eval")
