"""Task and CoT examples (JSONL) as 🤗 Datasets for TRL's SFTTrainer and GRPOTrainer.

Each line is a task example (see ``geor1.records``); CoT examples add a ``completion``. Files are read by
``geor1.records.read_task_file`` (image paths relative to the JSONL file's folder, ``..`` allowed,
absolute paths rejected; made absolute and checked to exist); images are typed as
``List(Image())`` so images are decoded lazily, row by row. A file that fails to decode then (corrupt,
truncated, not an image) raises RecordError naming the task file and line, the example id and the image
(``LocatedImage``), not a bare Pillow error. Columns of the dataset:

- ``id``, ``task``, ``prompt`` (conversational, every content a list of blocks), ``images``, ``solution``
  (passed on to the reward functions), ``band`` (``meta.band`` or ""; the curriculum samples by it),
  ``meta`` (the example's metadata as a JSON string: its keys differ between tasks, so it is not an
  Arrow struct), and ``completion`` for SFT.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from datasets import Image
from PIL import UnidentifiedImageError
from PIL.Image import DecompressionBombError

from geor1.errors import RecordError
from geor1.records import read_task_file

Purpose = Literal["sft", "grpo"]
# image path -> (task file, line, example id) of the first example that shows it
Origins = dict[str, tuple[str, int, str]]


@dataclass
class LocatedImage(Image):
    """The 🤗 ``Image`` feature, decoding lazily as usual, whose decoding failures raise RecordError naming
    the image file and the first example that uses it (task file, line, id).

    ``origins`` is an instance attribute, not a dataclass field, so it never enters the serialized
    features; a copy rebuilt from serialized features is a plain ``Image``.
    """

    origins: ClassVar[Origins] = {}

    def decode_example(self, value: dict[str, Any], token_per_repo_id: dict | None = None) -> Any:
        """Return the decoded PIL image, or raise RecordError locating the file that would not decode."""
        try:
            return super().decode_example(value, token_per_repo_id)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, DecompressionBombError) as exc:
            raise self.located_error(str(value.get("path") or "<embedded bytes>"), exc) from None

    def located_error(self, image: str, exc: BaseException) -> RecordError:
        """Return the RecordError for an image that failed to decode, at its first example's file:line."""
        task_file, line, example_id = self.origins.get(image, (None, None, None))
        used_by = f" (example {example_id!r})" if example_id is not None else ""
        return RecordError(
            f"unreadable image {image}{used_by}: {type(exc).__name__}: {exc}",
            path=task_file,
            line=line,
            field="images",
        )


def located_image(origins: Origins) -> LocatedImage:
    """Return a LocatedImage feature that names examples through ``origins``."""
    feature = LocatedImage()
    feature.origins = origins
    return feature


def _blocks(content: Any, *, path: Path, line: int, where: str) -> list[dict[str, Any]]:
    """Return message content as a list of ``{"type", "text"}`` blocks (one Arrow struct for all rows)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise RecordError("content must be a string or a list of blocks", path=path, line=line, field=where)
    out = []
    for block in content:
        if not isinstance(block, dict) or block.get("type") not in ("text", "image"):
            raise RecordError("content blocks need type 'text' or 'image'", path=path, line=line, field=where)
        out.append({"type": block["type"], "text": block.get("text") if block["type"] == "text" else None})
    return out


def _messages(messages: Any, *, path: Path, line: int, where: str) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise RecordError("must be a non-empty list of messages", path=path, line=line, field=where)
    out = []
    for message in messages:
        if not isinstance(message, dict) or "role" not in message:
            raise RecordError("every message needs a role", path=path, line=line, field=where)
        out.append(
            {
                "role": str(message["role"]),
                "content": _blocks(message.get("content", ""), path=path, line=line, where=where),
            }
        )
    return out


def _check_image_header(image: Path, *, path: Path, line: int, example_id: str) -> None:
    """Raise RecordError (file:line) if ``image`` is not an image Pillow can identify. Only the header is
    read, so this is quick; a file truncated after its header is still caught when its row is decoded."""
    from PIL import Image as PILImage

    try:
        with PILImage.open(image):
            pass
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, DecompressionBombError) as exc:
        raise RecordError(
            f"unreadable image {image} (example {example_id!r}): {type(exc).__name__}: {exc}",
            path=path,
            line=line,
            field="images",
        ) from None


def read_examples(path: str | Path, purpose: Purpose, origins: Origins | None = None) -> list[dict[str, Any]]:
    """Return the rows of one task/CoT JSONL file, validated, with absolute image paths.

    Raises RecordError naming file, line and field for a malformed example, a missing image, or (for
    SFT) a missing assistant completion. ``origins``, if given, gets the first (file, line, id) of every
    image not already in it.
    """
    path = Path(path)
    rows = []
    for example in read_task_file(path):
        line = example.line or 0
        for image in example.images:
            if origins is None or image not in origins:
                _check_image_header(Path(image), path=path, line=line, example_id=example.id)
            if origins is not None:
                origins.setdefault(image, (str(path), line, example.id))
        meta = example.meta
        row = {
            "id": example.id,
            "task": example.task,
            "prompt": _messages(example.prompt, path=path, line=line, where="prompt"),
            "images": list(example.images),
            "solution": str(example.solution),
            "band": str(meta.get("band") or ""),
            "meta": json.dumps(meta, ensure_ascii=False, sort_keys=True),
        }
        if purpose == "sft":
            completion = example.extra.get("completion")
            if completion is None:
                raise RecordError(
                    "SFT needs an assistant completion", path=path, line=line, field="completion"
                )
            completion = _messages(completion, path=path, line=line, where="completion")
            if [m["role"] for m in completion] != ["assistant"]:
                raise RecordError("must be one assistant message", path=path, line=line, field="completion")
            # A plain string keeps the assistant turn a single text block once TRL formats it.
            row["completion"] = [
                {"role": "assistant", "content": "".join(b["text"] or "" for b in completion[0]["content"])}
            ]
        rows.append(row)
    if not rows:
        raise RecordError("no examples", path=path)
    return rows


def load_examples(paths: str | Path | Iterable[str | Path], purpose: Purpose, limit: int | None = None):
    """Return a ``datasets.Dataset`` of the examples in one or more JSONL files (images decode lazily; a
    corrupt one raises RecordError naming it and its example's file:line when its row is read)."""
    from datasets import Dataset, List

    if isinstance(paths, str | Path):
        paths = [paths]
    rows: list[dict[str, Any]] = []
    origins: Origins = {}
    for p in paths:
        rows.extend(read_examples(p, purpose, origins))
        if limit is not None and len(rows) >= limit:
            rows = rows[:limit]
            break
    dataset = Dataset.from_list(rows)
    return dataset.cast_column("images", List(located_image(origins)))
