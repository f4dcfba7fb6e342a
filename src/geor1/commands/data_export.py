"""``geo-r1 data export``: write a task file in the VLM-R1 or LLaMA-Factory layout."""

from __future__ import annotations

from pathlib import Path

import typer

from geor1.commands import field_options
from geor1.commands.data import data_app
from geor1.commands.data_tasks import out


@data_app.command("export")
@field_options(fmt="--to")
def export(
    task_file: Path = typer.Argument(
        ..., help="Task file (JSONL) written by pairing/geoloc/questions or CoT."
    ),
    to: str = typer.Option(..., "--to", help="Target layout: vlm-r1 or llamafactory."),
    out_path: Path = typer.Option(..., "--out", help="File to write (.jsonl, or .json for one JSON array)."),
    name: str | None = typer.Option(
        None, "--name", help="LLaMA-Factory dataset name in dataset_info.json (default: the file's stem)."
    ),
) -> None:
    """Export task examples for other trainers; image paths become relative to the output's folder."""
    from geor1.builders.export import export_examples
    from geor1.records import read_task_file

    examples = read_task_file(task_file)
    n = export_examples(examples, to, out_path, dataset_name=name)
    out.print(f"wrote {n} {to} records to {out_path}")
    if to == "llamafactory":
        out.print(f"registered dataset {name or out_path.stem!r} in {out_path.parent / 'dataset_info.json'}")
    else:
        out.print(f"VLM-R1: pass --data_file_paths {out_path} --image_folders {out_path.parent}")
