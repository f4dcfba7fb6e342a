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
from geor1.io import atomic_save_dir, iter_jsonl


def cot_rows(path: str | Path) -> list[dict[str, Any]]:
    """Return the dataset rows of a CoT JSONL file (image paths made absolute; missing images raise)."""
    path = Path(path)
    folder = path.resolve().parent
    rows = []
    for number, record in iter_jsonl(path):
        for key in ("id", "task", "images", "prompt", "completion", "solution"):
            if key not in record:
                raise RecordError("missing required field", path=path, line=number, field=key)
        images = [str((folder / p).resolve()) for p in record["images"]]
        for image in images:
            if not Path(image).is_file():
                raise RecordError(f"image file not found: {image}", path=path, line=number, field="images")
        rows.append(
            {
                "id": str(record["id"]),
                "example_id": str(record.get("example_id", record["id"])),
                "sample": int(record.get("sample", 0)),
                "task": record["task"],
                "images": images,
                "prompt": record["prompt"],
                "completion": record["completion"],
                "solution": record["solution"],
                "meta": json.dumps(record.get("meta", {}), ensure_ascii=False, sort_keys=True),
                "teacher": json.dumps(record.get("teacher", {}), ensure_ascii=False, sort_keys=True),
                "filter": json.dumps(record.get("filter", {}), ensure_ascii=False, sort_keys=True),
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
