"""Save a CoT JSONL file as a 🤗 ``datasets`` dataset on disk, in TRL's vision layout.

Columns: ``id``, ``example_id``, ``sample``, ``task``, ``images`` (a list of ``Image()`` features, bytes
embedded by ``save_to_disk``), ``prompt`` and ``completion`` (conversational), ``solution``, and
``meta`` / ``teacher`` / ``filter`` as JSON strings (their keys differ between tasks and teachers,
which Arrow structs cannot hold).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from geor1.errors import RecordError
from geor1.io import atomic_save_dir
from geor1.records import read_task_file


def cot_rows(path: str | Path) -> list[dict[str, Any]]:
    """Return the dataset rows of a CoT JSONL file (read by ``read_task_file``: image paths made absolute;
    missing images raise)."""
    path = Path(path)
    rows = []
    for example in read_task_file(path):
        if "completion" not in example.extra:
            raise RecordError("missing required field", path=path, line=example.line, field="completion")
        extra = example.extra
        rows.append(
            {
                "id": example.id,
                "example_id": str(extra.get("example_id", example.id)),
                "sample": int(extra.get("sample", 0)),
                "task": example.task,
                "images": list(example.images),
                "prompt": example.prompt,
                "completion": extra["completion"],
                "solution": example.solution,
                "meta": json.dumps(example.meta, ensure_ascii=False, sort_keys=True),
                "teacher": json.dumps(extra.get("teacher", {}), ensure_ascii=False, sort_keys=True),
                "filter": json.dumps(extra.get("filter", {}), ensure_ascii=False, sort_keys=True),
            }
        )
    return rows


def save_cot_dataset(path: str | Path, out_dir: str | Path) -> Path:
    """Save the CoT examples of ``path`` as a 🤗 dataset in ``out_dir``, replacing an existing one only
    once the new copy is complete; return ``out_dir``."""
    from datasets import Dataset, Image, List

    rows = cot_rows(path)
    if not rows:
        raise RecordError("no CoT examples to save", path=path)
    dataset = Dataset.from_list(rows).cast_column("images", List(Image()))
    return atomic_save_dir(out_dir, lambda tmp: dataset.save_to_disk(str(tmp)))
