"""Reading evaluation inputs that are task-example JSONL files (the data layer's format)."""

from __future__ import annotations

from pathlib import Path

from geor1.errors import RecordError
from geor1.eval.types import EvalExample


def examples_from_task_file(path: Path, task: str | None = None) -> list[EvalExample]:
    """Return the examples of a task-example JSONL (images made absolute), keeping only ``task`` when
    given; RecordError (file:line) on a bad line, an image that is not there, or a file holding none of
    that task."""
    from geor1.io import iter_jsonl
    from geor1.records import check_task_example
    from geor1.tasks.common import resolve_images

    out = []
    for line, obj in iter_jsonl(path):
        check_task_example(obj, path=path, line=line)
        if task is not None and obj.get("task") != task:
            continue
        images = resolve_images(obj, path)
        for image in images:
            if not image.is_file():
                raise RecordError(f"image file not found: {image}", path=path, line=line, field="images")
        out.append(
            EvalExample(
                id=str(obj["id"]),
                prompt=obj["prompt"],
                images=[str(p) for p in images],
                solution=obj["solution"],
                meta=dict(obj.get("meta") or {}),
                source=f"{path}:{line}",
            )
        )
    if not out:
        raise RecordError(f"no examples{f' of task {task!r}' if task else ''}", path=path)
    return out
