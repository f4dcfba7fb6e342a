"""``geo-r1 data inspect | preview``: statistics and a contact sheet of a task file."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from geor1.commands.data import data_app
from geor1.commands.data_tasks import out
from geor1.errors import GeoR1Error


@data_app.command("inspect")
def inspect(
    task_file: Path = typer.Argument(..., help="Task file (JSONL)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of tables."),
) -> None:
    """Counts per task / question type / band / direction, answer-letter balance, negatives' distances."""
    from geor1.builders.inspect import render, summarize
    from geor1.records import read_task_file

    summary = summarize([e.to_dict() for e in read_task_file(task_file, check_images=False)])
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        render(summary, out, title=str(task_file))


@data_app.command("preview")
def preview(
    task_file: Path = typer.Argument(..., help="Task file (JSONL)."),
    out_path: Path = typer.Option(
        ..., "--out", help="Image to write: .png, .jpg or .webp (format from the suffix)."
    ),
    n: int = typer.Option(4, "--n", help="Number of examples to show."),
    seed: int | None = typer.Option(
        None, "--seed", help="Pick examples at random with this seed (default: the first n)."
    ),
    tile: int = typer.Option(160, "--tile", help="Size of each image tile in pixels."),
) -> None:
    """Contact sheet (PNG/JPEG/WebP): each example's images with labels, the correct candidate framed in green."""
    import numpy as np

    from geor1.builders.preview import contact_sheet
    from geor1.records import read_task_file

    if n < 1 or tile < 16:
        raise GeoR1Error("--n must be >= 1 and --tile >= 16")
    examples = read_task_file(task_file, check_images=False)
    if seed is not None:
        pick = np.sort(np.random.default_rng(seed).permutation(len(examples))[:n])
        examples = [examples[i] for i in pick]
    else:
        examples = examples[:n]
    contact_sheet(examples, out_path, tile=tile)
    out.print(f"wrote a contact sheet of {len(examples)} examples to {out_path}")
