"""``geo-r1 eval``: score models on geospatial tasks, score IMAGEO-Bench result files, compare runs.

``geo-r1 eval --model DIR --tasks pairing,geolocation,chain --run NAME`` (the group's default action,
same as ``geo-r1 eval run …``), ``geo-r1 eval imageo --predictions F --truth CSV``,
``geo-r1 eval geochain --predictions F --truth CSV`` or ``--model DIR --data CSV --image-root DIR``,
``geo-r1 eval compare RUN RUN …``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

eval_app = typer.Typer(
    help="Evaluate models (pairing, geolocation, place chains, IMAGEO, retention) and compare runs.",
    invoke_without_command=True,
    no_args_is_help=False,
)

_BACKENDS = ("hf", "http", "vllm")


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


def evaluate(
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
    """Evaluate a model on tasks and write RUNS_DIR/RUN/eval/<task>.json, report.md and plots."""
    if ctx.invoked_subcommand is not None:
        return  # the group's options were given to a subcommand (imageo, geochain, compare)
    if model is None and ctx.info_name != "run":
        typer.echo(ctx.get_help())  # bare `geo-r1 eval`
        raise typer.Exit(0)
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
    out = run_eval(config)
    print_headline(config.eval_dir, config.tasks, seed=config.seed, n_boot=config.n_boot)
    Console().print(f"[green]report:[/green] {out}")


# `geo-r1 eval --model …` (the group's default action) and `geo-r1 eval run --model …` are one command.
eval_app.callback()(evaluate)
eval_app.command("run")(evaluate)


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


def _print_geochain(metrics: dict, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    table = Table(title=title)
    for column in ("#", "question", "category", "n", "accuracy"):
        table.add_column(column, justify="right" if column in ("#", "n", "accuracy") else "left")
    for key, q in metrics["by_question"].items():
        table.add_row(str(q["rank"]), key, q["category"], str(q["n"]), pct(q["accuracy"]))
    console = Console()
    console.print(table)
    groups = Table(title="by category / difficulty")
    for column in ("group", "n", "accuracy"):
        groups.add_column(column, justify="left" if column == "group" else "right")
    for label in ("by_category", "by_difficulty"):
        for name, g in metrics[label].items():
            groups.add_row(name, str(g["n"]), pct(g["accuracy"]))
    console.print(groups)
    coords = metrics.get("coordinates")
    lines = [
        f"accuracy (questions 1-20): {pct(metrics['accuracy'])} over {metrics['n_rows']} image(s); "
        f"{metrics['n_unscored']} answer(s) without truth unscored"
    ]
    if coords:
        within = ", ".join(f"{t} km {pct(v)}" for t, v in coords["acc_km"].items())
        median = "-" if coords["median_km"] is None else f"{coords['median_km']:.1f}"
        mean = "-" if coords["mean_km"] is None else f"{coords['mean_km']:.1f}"
        lines.append(
            f"coordinates: median {median} km, mean {mean} km, unparseable {pct(coords['share_unparseable'])}; "
            f"within {within}"
        )
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)


@eval_app.command("geochain")
def eval_geochain(
    predictions: Path | None = typer.Option(
        None,
        "--predictions",
        help="Score this file: CSV/Parquet with key and answer_0…answer_20 columns, or JSONL "
        "{key, question, answer} (question: 0-20, answer_N, a question key or its text).",
    ),
    truth: Path | None = typer.Option(
        None,
        "--truth",
        help="GeoChain file (CSV/Parquet, with or without its answer columns) to score against.",
    ),
    model: str | None = typer.Option(
        None, "--model", help="Run this model (folder, or served name for http)."
    ),
    data: Path | None = typer.Option(None, "--data", help="With --model: the GeoChain CSV/Parquet to ask."),
    image_root: Path | None = typer.Option(
        None,
        "--image-root",
        help="Folder holding <city>/<sub_folder>/images/<key>.jpg (default: the data's folder).",
    ),
    mode: str = typer.Option(
        "single", "--mode", help="single: each question alone | chained: one conversation."
    ),
    prompt_style: str = typer.Option(
        "geor1",
        "--prompt-style",
        help="geor1: question + think/answer instruction | plain: the question alone.",
    ),
    run: str | None = _RUN,
    runs_dir: Path = _RUNS_DIR,
    backend: str = _BACKEND,
    base_url: str | None = _BASE_URL,
    api_key: str | None = _API_KEY,
    api_key_env: str = _API_KEY_ENV,
    batch_size: int = _BATCH,
    concurrency: int = _CONC,
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="At most this many images (seeded sample)."
    ),
    seed: int = _SEED,
    temperature: float = _TEMP,
    top_p: float = _TOP_P,
    max_new_tokens: int = _MAX_NEW,
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """GeoChain: score a predictions file (--predictions F --truth T), or run a model on GeoChain's 21
    questions (--model M --data T --image-root DIR) and score it."""
    from geor1.errors import GeoR1Error

    if predictions is not None or truth is not None:
        if model is not None:
            raise GeoR1Error(
                "give either --predictions/--truth (score a file) or --model/--data (run a model)"
            )
        if predictions is None or truth is None:
            raise GeoR1Error("scoring a file needs both --predictions F and --truth T")
        from geor1.eval.geochain import score_files

        metrics = score_files(predictions, truth)
        title = f"GeoChain: {predictions.name}"
    elif model is not None:
        if data is None:
            raise GeoR1Error("--model needs --data, the GeoChain CSV/Parquet to ask")
        if backend not in _BACKENDS:
            raise GeoR1Error(f"--backend must be one of {', '.join(_BACKENDS)}")
        from geor1.eval.backends import make_backend
        from geor1.eval.geochain_run import GeoChainRunConfig, rows_with_images, run_geochain
        from geor1.eval.types import SamplingConfig

        config = GeoChainRunConfig(data, image_root, mode, prompt_style, limit, seed)
        rows_with_images(config)  # fail on the data before loading a model
        engine = make_backend(
            backend,
            model,
            batch_size=batch_size,
            base_url=base_url,
            api_key=api_key,
            api_key_env=api_key_env,
            concurrency=concurrency,
        )
        eval_dir = runs_dir / (run or Path(model).name or "eval") / "eval"
        sampling = SamplingConfig(
            temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed
        )
        try:
            doc = run_geochain(config, engine, eval_dir, sampling, model)
        finally:
            engine.close()
        metrics = doc["metrics"]
        title = f"GeoChain ({mode}): {model}"
        typer.echo(f"wrote {doc['path']} and {doc['predictions']}", err=True)
    else:
        raise GeoR1Error(
            "give --predictions F --truth T to score a file, or --model M --data T to run a model"
        )
    if as_json:
        typer.echo(json.dumps(metrics, indent=2, ensure_ascii=False))
        return
    _print_geochain(metrics, title)


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

    table, markdown = compare_runs(runs, runs_dir=runs_dir, seed=seed, n_boot=n_boot)
    Console().print(table)
    if out is not None:
        from geor1.io import atomic_write_text

        atomic_write_text(out, markdown)
        Console().print(f"[green]wrote[/green] {out}")


def register(app: typer.Typer) -> None:
    """Attach the ``eval`` group to the main app."""
    app.add_typer(eval_app, name="eval")
