"""Export task examples to the layouts of other trainers, and read them back (for round-trip checks).

**VLM-R1** (``om-ai-lab/VLM-R1``, ``src/open-r1-multimodal/src/open_r1/grpo_jsonl.py``), one JSON object a
line::

    {"id": …, "image": "a.png" | ["a.png", "b.png", …],
     "conversations": [{"from": "human", "value": "<image><image>\\n[Image 1] Query (satellite view):\\n…question"},
                       {"from": "gpt", "value": "B"}],
     "accu_reward_method": "mcq" | "default"}

VLM-R1 joins each ``image`` path to the ``--image_folders`` entry of its data file (give it the folder of
the exported file), removes every ``<image>`` from the human turn, puts all images first and appends its
own "First output the thinking process …" instruction. So the human turn here holds the ``<image>`` tags
up front, then one ``[Image i] label`` line per labelled image (the labels cannot stay interleaved), then
the bare question without the instruction. The gpt turn is the bare solution (VLM-R1 wraps it in
``<answer>`` itself); ``accu_reward_method`` is ``mcq`` for letter answers.

**LLaMA-Factory** ShareGPT/OpenAI layout (``data/README.md``): ``{"messages": [{"role": "user", "content":
"Query (satellite view):\\n<image>\\n…question + instruction"}, {"role": "assistant", "content": …}],
"images": [paths]}`` with ``<image>`` where each image goes, and a ``dataset_info.json`` entry beside the
file (``formatting: sharegpt``, ``messages``/``images`` columns, role/content tags). Image paths are
relative to that folder, which LLaMA-Factory uses as its ``dataset_dir``/``media_dir``. The assistant turn
is the example's CoT completion when it has one, else the solution.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geor1.errors import ConfigError, RecordError
from geor1.io import iter_jsonl, write_json, write_jsonl
from geor1.records import THINK_ANSWER_SUFFIX, TaskExample, user_prompt

FORMATS = ("vlm-r1", "llamafactory")
IMAGE_TAG = "<image>"
_LABEL_LINE = re.compile(r"^\[Image (\d+)\] (.*)$")
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def split_prompt(prompt: list[dict[str, Any]], *, where: str = "") -> tuple[list[str | None], str]:
    """Return ``(labels, question)`` of a one-turn prompt built by ``user_prompt``: the text block before
    each image (None if none) and the final text with the think/answer instruction removed."""
    if len(prompt) != 1 or prompt[0].get("role") != "user" or not isinstance(prompt[0].get("content"), list):
        raise RecordError(
            "exporters need a prompt of one user message with a content list", path=where or None
        )
    labels: list[str | None] = []
    pending: list[str] = []
    for block in prompt[0]["content"]:
        if block.get("type") == "image":
            labels.append("".join(pending) if pending else None)
            pending = []
        else:
            text = block.get("text") or ""
            if IMAGE_TAG in text:
                raise RecordError(f"prompt text contains the literal {IMAGE_TAG!r}", path=where or None)
            pending.append(text)
    question = "".join(pending)
    suffix = f" {THINK_ANSWER_SUFFIX}"
    if question.endswith(suffix):
        question = question[: -len(suffix)]
    return labels, question


def _rebuild_prompt(labels: list[str | None], question: str) -> list[dict[str, Any]]:
    if any(label is not None for label in labels):
        if any(label is None for label in labels):
            raise ValueError("either every image has a label or none has")
        return user_prompt(question, len(labels), [str(label) for label in labels])
    return user_prompt(question, len(labels))


def _is_letter(solution: str) -> bool:
    return len(solution) == 1 and solution.isalpha() and solution.isupper()


def to_vlm_r1(example: dict[str, Any], images: list[str]) -> dict[str, Any]:
    """Return the VLM-R1 record of a task example (``images``: paths relative to the export's folder)."""
    labels, question = split_prompt(example["prompt"], where=str(example.get("id", "")))
    lines = [IMAGE_TAG * len(images)]
    lines += [f"[Image {i}] {label}" for i, label in enumerate(labels, start=1) if label is not None]
    return {
        "id": example["id"],
        "image": images[0] if len(images) == 1 else list(images),
        "conversations": [
            {"from": "human", "value": "\n".join([*lines, question])},
            {"from": "gpt", "value": example["solution"]},
        ],
        "accu_reward_method": "mcq" if _is_letter(example["solution"]) else "default",
    }


def from_vlm_r1(record: dict[str, Any]) -> dict[str, Any]:
    """Return ``{"id", "images", "prompt", "solution"}`` rebuilt from a VLM-R1 record."""
    image = record["image"]
    images = [image] if isinstance(image, str) else list(image)
    human = record["conversations"][0]["value"]
    head, _, rest = human.partition("\n")
    if head != IMAGE_TAG * len(images):
        raise ValueError(f"expected {len(images)} {IMAGE_TAG} tags on the first line of the human turn")
    labels: list[str | None] = [None] * len(images)
    lines = rest.split("\n")
    while lines and (m := _LABEL_LINE.match(lines[0])):
        labels[int(m.group(1)) - 1] = m.group(2)
        lines.pop(0)
    solution = record["conversations"][1]["value"]
    m = _ANSWER.search(solution)
    return {
        "id": record.get("id"),
        "images": images,
        "prompt": _rebuild_prompt(labels, "\n".join(lines)),
        "solution": m.group(1).strip() if m else solution.strip(),
    }


def to_llamafactory(example: dict[str, Any], images: list[str]) -> dict[str, Any]:
    """Return the LLaMA-Factory ShareGPT (OpenAI-style) record of a task or CoT example."""
    labels, question = split_prompt(example["prompt"], where=str(example.get("id", "")))
    parts: list[str] = []
    for label in labels:
        if label is not None:
            parts.append(label)
        parts.append(IMAGE_TAG)
    parts.append(f"{question} {THINK_ANSWER_SUFFIX}")
    completion = example.get("completion")
    answer = completion[0]["content"] if completion else example["solution"]
    return {
        "id": example["id"],
        "messages": [{"role": "user", "content": "\n".join(parts)}, {"role": "assistant", "content": answer}],
        "images": list(images),
    }


def from_llamafactory(record: dict[str, Any]) -> dict[str, Any]:
    """Return ``{"id", "images", "prompt", "solution"}`` rebuilt from a LLaMA-Factory record (the solution is
    the assistant's ``<answer>`` content when tagged, else the whole turn)."""
    user, assistant = record["messages"][0]["content"], record["messages"][1]["content"]
    pieces = user.split(IMAGE_TAG)
    if len(pieces) - 1 != len(record["images"]):
        raise ValueError(f"{len(pieces) - 1} {IMAGE_TAG} tags but {len(record['images'])} images")
    labels: list[str | None] = []
    for i, piece in enumerate(pieces[:-1]):
        piece = piece[1:] if i and piece.startswith("\n") else piece
        piece = piece[:-1] if piece.endswith("\n") else piece
        labels.append(piece or None)
    question = pieces[-1][1:] if len(pieces) > 1 and pieces[-1].startswith("\n") else pieces[-1]
    suffix = f" {THINK_ANSWER_SUFFIX}"
    question = question[: -len(suffix)] if question.endswith(suffix) else question
    m = _ANSWER.search(assistant)
    return {
        "id": record.get("id"),
        "images": list(record["images"]),
        "prompt": _rebuild_prompt(labels, question),
        "solution": m.group(1).strip() if m else assistant.strip(),
    }


def llamafactory_dataset_info(file_name: str) -> dict[str, Any]:
    """Return the ``dataset_info.json`` entry describing an exported LLaMA-Factory file."""
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "images": "images"},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
        },
    }


def export_examples(
    examples: Sequence[TaskExample],
    fmt: str,
    out: str | Path,
    *,
    dataset_name: str | None = None,
) -> int:
    """Write ``examples`` (read by ``read_task_file``) in format ``fmt`` to ``out`` atomically, with
    image paths relative to ``out``'s folder (each checked to exist); for LLaMA-Factory also add/replace
    the dataset's entry in ``dataset_info.json`` beside ``out``. Return the number of records."""
    if fmt not in FORMATS:
        raise ConfigError("fmt", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out = Path(out)
    out_dir = out.resolve().parent
    records = []
    for example in examples:
        images = []
        for p in example.images:
            if not os.path.isfile(p):
                raise RecordError(
                    f"image file not found: {p}", path=example.path, line=example.line, field="images"
                )
            images.append(Path(os.path.relpath(p, out_dir)).as_posix())
        convert = to_vlm_r1 if fmt == "vlm-r1" else to_llamafactory
        records.append(convert(example.to_dict(), images))
    if out.suffix == ".json":
        write_json(out, records)
    else:
        write_jsonl(out, records)
    if fmt == "llamafactory":
        info_path = out.parent / "dataset_info.json"
        info: dict[str, Any] = {}
        if info_path.exists():
            try:
                info = json.loads(info_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise RecordError(f"invalid JSON ({exc.msg})", path=info_path) from None
        info[dataset_name or out.stem] = llamafactory_dataset_info(out.name)
        write_json(info_path, info)
    return len(records)


def read_export(path: str | Path, fmt: str) -> list[dict[str, Any]]:
    """Return the records of an exported file (JSON array or JSONL) converted back to our fields."""
    path = Path(path)
    if path.suffix == ".json":
        rows = list(enumerate(json.loads(path.read_text(encoding="utf-8")), start=1))
    else:
        rows = list(iter_jsonl(path))
    convert = from_vlm_r1 if fmt == "vlm-r1" else from_llamafactory
    out = []
    for n, row in rows:
        try:
            out.append(convert(row))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise RecordError(
                f"not a {fmt} record ({type(exc).__name__}: {exc})", path=path, line=n
            ) from None
    return out
