"""Reading evaluation inputs that are task-example JSONL files (the data layer's format)."""

from __future__ import annotations

from pathlib import Path

from geor1.errors import RecordError
from geor1.eval.types import EvalExample


def examples_from_task_file(path: Path, task: str | None = None) -> list[EvalExample]:
    """Return the examples of a task-example JSONL (read by ``read_task_file``: images absolute and
    checked), keeping only ``task`` when given; RecordError (file:line) on a bad line, an image that is
    not there, or a file holding none of that task."""
    from geor1.records import read_task_file

    out = [
        EvalExample(
            id=example.id,
            prompt=example.prompt,
            images=list(example.images),
            solution=example.solution,
            meta=dict(example.meta),
            source=example.source,
        )
        for example in read_task_file(path, task=task)
    ]
    if not out:
        raise RecordError(f"no examples{f' of task {task!r}' if task else ''}", path=path)
    return out
