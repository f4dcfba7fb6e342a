"""``geo-r1 cot``: synthesise filtered chain-of-thought exemplars from task examples (resumable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from geor1.errors import GeoR1Error

err = Console(stderr=True)
out = Console()

TEACHERS = ("template", "http", "hf")


def register(app: typer.Typer) -> None:
    """Add the ``cot`` command."""
    app.command("cot")(cot)


def cot(
    input_path: Path = typer.Option(
        ..., "--input", help="Task examples (JSONL; images relative to its folder)."
    ),
    out_path: Path = typer.Option(
        ..., "--out", help="CoT examples to append to (JSONL); the run log goes beside it."
    ),
    teacher: str = typer.Option(
        "template", "--teacher", help="template (offline, from metadata), http or hf."
    ),
    model: str | None = typer.Option(None, "--model", help="http: model name; hf: model folder."),
    base_url: str | None = typer.Option(
        None, "--base-url", help="http: OpenAI-compatible endpoint, e.g. http://host:8000/v1."
    ),
    api_key_env: str = typer.Option(
        "OPENAI_API_KEY",
        "--api-key-env",
        help="http: environment variable holding the API key (never stored).",
    ),
    concurrency: int = typer.Option(8, "--concurrency", help="http: requests in flight at most."),
    timeout: float = typer.Option(
        60.0, "--timeout", help="http: seconds per request before it counts as a timeout."
    ),
    max_retries: int = typer.Option(
        5, "--max-retries", help="http: retries per request on 429/5xx/timeouts."
    ),
    backoff: float = typer.Option(
        0.5, "--backoff", help="http: first retry delay in seconds (doubles, with jitter)."
    ),
    temperature: float = typer.Option(
        0.7, "--temperature", help="http/hf: sampling temperature (0: greedy for hf)."
    ),
    max_tokens: int = typer.Option(1024, "--max-tokens", help="http/hf: completion length cap in tokens."),
    max_tokens_param: str = typer.Option(
        "max_tokens",
        "--max-tokens-param",
        help="http: request field carrying --max-tokens: max_tokens, or max_completion_tokens for "
        "OpenAI reasoning models (they reject max_tokens).",
    ),
    no_temperature: bool = typer.Option(
        False,
        "--no-temperature",
        help="http: send no temperature (the server's default; OpenAI reasoning models reject any other).",
    ),
    price_input: float = typer.Option(
        0.0, "--price-input", help="http: price per million prompt tokens (cost log)."
    ),
    price_output: float = typer.Option(
        0.0, "--price-output", help="http: price per million completion tokens."
    ),
    batch_size: int = typer.Option(4, "--batch-size", help="hf: examples per generate() call."),
    places: Path | None = typer.Option(
        None,
        "--places",
        help="template: places.jsonl or views.jsonl with every place's Earth metadata "
        "(default: the file the input's lines name, written by the task builders).",
    ),
    samples_per_example: int = typer.Option(
        1, "--samples-per-example", help="Completions to try per example."
    ),
    keep: str = typer.Option(
        "first", "--keep", help="first: stop at the first kept sample; all: keep every passing one."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the template phrasing and of sampling."),
    min_words: int = typer.Option(20, "--min-words", help="Filter: fewest words in <think>."),
    max_words: int = typer.Option(800, "--max-words", help="Filter: most words in <think>."),
    dedup_threshold: float = typer.Option(
        0.85,
        "--dedup-threshold",
        help="Filter: MinHash Jaccard of word 3-grams at or above which a completion "
        "is a near-duplicate of a kept one (1.0 turns the check off).",
    ),
    error_rounds: int = typer.Option(
        3, "--error-rounds", help="Extra rounds that retry jobs the teacher failed on."
    ),
    retry_delay: float = typer.Option(
        1.0, "--retry-delay", help="Seconds before a retry-only round (doubles)."
    ),
    limit: int | None = typer.Option(None, "--limit", help="Use only the first N examples of the input."),
    hf_dataset: Path | None = typer.Option(
        None, "--hf-dataset", help="Also save all CoT examples of --out as a 🤗 dataset in this folder."
    ),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
    max_error_share: float = typer.Option(
        0.5,
        "--max-error-share",
        min=0.0,
        max=1.0,
        help="Exit with an error when more than this share of teacher calls failed (what was kept stays).",
    ),
) -> None:
    """Write filtered chain-of-thought exemplars (<think>…</think><answer>…</answer>) for SFT.

    Rerunning with the same --out resumes: examples already done are skipped, none is written twice.
    """
    from geor1.cot.filter import CotFilter, FilterConfig
    from geor1.cot.runner import CotRunConfig, CotRunner, log_path_for

    teacher_obj: Any = None
    try:
        if teacher not in TEACHERS:
            raise typer.BadParameter(f"--teacher must be one of {', '.join(TEACHERS)}, got {teacher!r}")
        config = CotRunConfig(
            samples_per_example=samples_per_example,
            keep=keep,
            seed=seed,
            error_rounds=error_rounds,
            retry_delay_s=retry_delay,
            limit=limit,
            progress=not no_progress,
        )
        filter_ = CotFilter(
            FilterConfig(
                min_think_words=min_words, max_think_words=max_words, near_duplicate_threshold=dedup_threshold
            )
        )
        if teacher == "template":
            from geor1.cot.places import PlaceLookup, named_places_file
            from geor1.cot.teachers.template import TemplateTeacher

            places_file = places or named_places_file(input_path)
            lookup = PlaceLookup.from_jsonl(places_file) if places_file else PlaceLookup()
            if places_file:
                err.print(f"place metadata: {len(lookup)} places from {places_file}", highlight=False)
            else:
                err.print(
                    "[yellow]the task file names no places file and --places is not given: using only the "
                    "metadata inside examples[/yellow]"
                )
            teacher_obj = TemplateTeacher(lookup)
        elif teacher == "http":
            from geor1.cot.teachers.http import HttpTeacher, HttpTeacherConfig

            teacher_obj = HttpTeacher(
                HttpTeacherConfig(
                    model=model or "",
                    base_url=base_url,
                    api_key_env=api_key_env,
                    concurrency=concurrency,
                    timeout_s=timeout,
                    max_retries=max_retries,
                    backoff_base_s=backoff,
                    temperature=None if no_temperature else temperature,
                    max_tokens=max_tokens,
                    max_tokens_param=max_tokens_param,
                    price_input_per_mtok=price_input,
                    price_output_per_mtok=price_output,
                ),
            )
        else:
            from geor1.cot.teachers.local_hf import HfTeacher, HfTeacherConfig

            teacher_obj = HfTeacher(
                HfTeacherConfig(
                    model=model or "",
                    batch_size=batch_size,
                    max_new_tokens=max_tokens,
                    temperature=temperature,
                ),
            )
        summary = CotRunner(teacher_obj, filter_, config).run(input_path, out_path)
        if hf_dataset is not None:
            from geor1.cot.dataset import save_cot_dataset

            save_cot_dataset(out_path, hf_dataset)
    finally:
        if teacher_obj is not None:
            teacher_obj.close()
    _print_summary(summary, out_path, log_path_for(out_path), hf_dataset)
    failure = summary.failure(max_error_share)
    if failure is not None:  # a run that made nothing (or mostly failed) must not look like a success
        raise GeoR1Error(f"cot run failed: {failure}")


def _print_summary(summary: Any, out_path: Path, log_path: Path, hf_dataset: Path | None) -> None:
    table = Table(title="rejections by reason", show_header=True)
    table.add_column("reason")
    table.add_column("count", justify="right")
    for reason, count in sorted(summary.rejections.items(), key=lambda kv: -kv[1]):
        table.add_row(reason, str(count))
    if not summary.rejections:
        table.add_row("(none)", "0")
    out.print(table)
    if summary.abstentions:
        causes = ", ".join(f"{cause}: {n}" for cause, n in summary.abstentions.most_common())
        out.print(f"teacher abstentions by cause — {causes}", highlight=False)
    if summary.stale_note:
        err.print(f"[yellow]warning:[/yellow] {escape(summary.stale_note)}", highlight=False, soft_wrap=True)
    lines = [
        f"examples in input: {summary.examples} (already done before this run: {summary.resumed_done})",
        f"processed now: {summary.processed} — with a kept exemplar: {summary.examples_with_kept}, "
        f"none kept: {summary.examples_without_kept}, unfinished (teacher errors, rerun to retry): {summary.unfinished}",
        f"samples judged: {summary.samples_judged}, exemplars written: {summary.records_written}",
        f"teacher errors: {summary.teacher_errors}, retries: {summary.retries}, faults: {dict(summary.faults) or '-'}",
        f"tokens: {summary.prompt_tokens} prompt + {summary.completion_tokens} completion, cost: {summary.cost:.4f}",
        f"time: {summary.elapsed_s:.2f} s ({summary.examples_per_s:.0f} examples/s)",
        f"output: {out_path}  run log: {log_path}" + (f"  🤗 dataset: {hf_dataset}" if hf_dataset else ""),
    ]
    for line in lines:
        out.print(line, highlight=False)
