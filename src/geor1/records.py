"""On-disk record types: views (one geotagged image) and task examples (TRL conversational format).

View manifest line::

    {"id": str, "image": "rel/path.png", "lat": float, "lon": float, "view": "satellite", "place": str, "meta": {...}}

``image`` is relative to the manifest's root and must stay inside it: no absolute path, no ``..``, and no
symbolic link leading out. The root is the manifest's folder unless the line carries ``"root"``: the folder
of the images, absolute or relative to the manifest's folder. ``geo-r1 data views`` writes ``root`` (as an
absolute path) when the manifest lives outside its images' folder (a dataset in a read-only location,
outputs elsewhere); image paths then stay root-relative and checked, and the lines stay self-contained.
``place`` groups views taken at the same location (several kinds of one place); it defaults to the id.

Task example line (feeds TRL's SFTTrainer/GRPOTrainer unchanged)::

    {"id", "task", "images": [paths relative to the task file's folder], "prompt": [messages],
     "solution": str, "meta": {...}, "places"?: "path relative to the task file's folder"}

``places`` (written by the task builders) names the file that holds the Earth metadata of the example's
places (an Earth build's ``places.jsonl``, else the view manifest the set was built from), so the CoT
stage reads it instead of searching for one. Every stage reads task (and CoT) files with
``read_task_file``: one validation, absolute paths after load (``TaskExample``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from geor1.errors import RecordError
from geor1.io import iter_jsonl, write_jsonl

VIEW_KINDS = ("street", "satellite", "aerial", "terrain", "landcover", "context", "drone", "panorama")

# Geo-R1's instruction suffix (released code): images first, then question + this sentence.
THINK_ANSWER_SUFFIX = (
    "First output the thinking process in <think> </think> tags and then output the final answer in "
    "<answer> </answer> tags."
)


@dataclass
class View:
    """One geotagged image of a place."""

    id: str
    image: str
    lat: float
    lon: float
    view: str
    place: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    root: str | None = None  # folder ``image`` is relative to; None: the manifest's (or source's) root

    def __post_init__(self) -> None:
        if not self.place:
            self.place = self.id

    def to_dict(self) -> dict[str, Any]:
        """Return the manifest-line dict of this view (``root`` only when it is set)."""
        out = asdict(self)
        if out["root"] is None:
            del out["root"]
        return out

    def image_root(self, base: str | Path) -> Path:
        """Return the folder this view's image is relative to: ``root`` taken from ``base`` (the manifest's
        folder) when it is relative, or ``base`` itself when the view has no root."""
        return Path(base) if self.root is None else Path(base) / self.root


def check_relative_path(image: object, *, path: str | Path | None = None, line: int | None = None) -> str:
    """Return ``image`` as a POSIX relative path, or raise RecordError if it is absolute or escapes its root."""
    if not isinstance(image, str) or not image.strip():
        raise RecordError("image path must be a non-empty string", path=path, line=line, field="image")
    p = PurePosixPath(image.replace("\\", "/"))
    if p.is_absolute() or (len(image) > 1 and image[1] == ":") or ".." in p.parts:
        raise RecordError(f"image path {image!r} escapes the root", path=path, line=line, field="image")
    return str(p)


def image_under_root(
    root: str | Path, image: str, *, path: str | Path | None = None, line: int | None = None
) -> Path:
    """Return the absolute path of ``image`` (relative, checked by ``check_relative_path``) under ``root``.

    Raises RecordError (field ``image``, located at ``path:line``) when the path's real location -- every
    symbolic link followed -- lies outside the real ``root``: a text check alone lets a link inside the
    root point anywhere. The returned path keeps the root as given (links are not resolved in it), so
    relative paths computed from it stay valid for the caller's view of the file tree.
    """
    image = check_relative_path(image, path=path, line=line)
    joined = os.path.join(os.path.abspath(root), image)
    real_root = os.path.realpath(root)
    real = os.path.realpath(joined)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise RecordError(
            f"image path {image!r} escapes the root {root}: a symbolic link takes it to {real}",
            path=path,
            line=line,
            field="image",
        )
    return Path(joined)


def view_from_dict(obj: dict[str, Any], *, path: str | Path | None = None, line: int | None = None) -> View:
    """Return a validated View from a manifest-line dict, or raise RecordError naming the field."""
    for key in ("id", "image", "lat", "lon", "view"):
        if key not in obj or obj[key] is None or obj[key] == "":
            raise RecordError("missing required field", path=path, line=line, field=key)
    coords = {}
    for key, bound in (("lat", 90.0), ("lon", 180.0)):
        value = obj[key]
        try:
            number = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            raise RecordError(f"not a number: {value!r}", path=path, line=line, field=key) from None
        if not math.isfinite(number) or abs(number) > bound:
            raise RecordError(
                f"out of range [-{bound:g}, {bound:g}]: {value!r}", path=path, line=line, field=key
            )
        coords[key] = number
    meta = obj.get("meta") or {}
    if not isinstance(meta, dict):
        raise RecordError("meta must be an object", path=path, line=line, field="meta")
    root = obj.get("root")
    if root is not None and (not isinstance(root, str) or not root.strip()):
        raise RecordError("root must be a non-empty folder path", path=path, line=line, field="root")
    return View(
        id=str(obj["id"]),
        image=check_relative_path(obj["image"], path=path, line=line),
        lat=coords["lat"],
        lon=coords["lon"],
        view=str(obj["view"]),
        place=str(obj.get("place") or obj["id"]),
        meta=meta,
        root=root,
    )


def write_views(path: str | Path, views: Iterable[View]) -> int:
    """Write a view manifest (JSONL) atomically; return the number of views."""
    return write_jsonl(path, (v.to_dict() for v in views))


def read_views(path: str | Path) -> list[View]:
    """Read a JSONL view manifest strictly (first bad line raises RecordError with file:line)."""
    return [view_from_dict(obj, path=path, line=n) for n, obj in iter_jsonl(path)]


def user_prompt(question: str, n_images: int, labels: list[str] | None = None) -> list[dict[str, Any]]:
    """Return a one-turn conversational prompt: the images first (optionally each after a label), then
    the question followed by Geo-R1's think/answer instruction.

    Image blocks carry ``"text": None`` so every content block has the same Arrow struct.
    """
    content: list[dict[str, Any]] = []
    for i in range(n_images):
        if labels is not None:
            content.append({"type": "text", "text": labels[i]})
        content.append({"type": "image", "text": None})
    content.append({"type": "text", "text": f"{question} {THINK_ANSWER_SUFFIX}"})
    return [{"role": "user", "content": content}]


def prompt_text(prompt: list[dict[str, Any]]) -> str:
    """Return the concatenated text of a conversational prompt, with ``<image>`` for image blocks."""
    parts: list[str] = []
    for message in prompt:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
            continue
        for block in content or []:
            parts.append("<image>" if block.get("type") == "image" else (block.get("text") or ""))
    return "".join(parts)


TASK_EXAMPLE_KEYS = ("id", "task", "images", "prompt", "solution", "meta")


def check_task_example(
    obj: dict[str, Any], *, path: str | Path | None = None, line: int | None = None
) -> None:
    """Raise RecordError unless ``obj`` has the task-example fields with the right types."""
    for key in TASK_EXAMPLE_KEYS:
        if key not in obj:
            raise RecordError("missing required field", path=path, line=line, field=key)
    if not isinstance(obj["images"], list) or not all(isinstance(p, str) for p in obj["images"]):
        raise RecordError("images must be a list of paths", path=path, line=line, field="images")
    if not isinstance(obj["prompt"], list):
        raise RecordError("prompt must be a list of messages", path=path, line=line, field="prompt")
    n_slots = prompt_text(obj["prompt"]).count("<image>")
    if n_slots != len(obj["images"]):
        raise RecordError(
            f"prompt has {n_slots} image blocks but images lists {len(obj['images'])}",
            path=path,
            line=line,
            field="images",
        )
    if not isinstance(obj["meta"] or {}, dict):
        raise RecordError("meta must be an object", path=path, line=line, field="meta")


@dataclass
class TaskExample:
    """One task example as every stage uses it: read and validated once (``read_task_file``), with
    ``images`` absolute paths (in prompt order); ``extra`` keeps the line's other fields (a CoT example's
    ``completion``, ``teacher``, ``filter``, ``example_id``, ``sample``, …), ``path``/``line`` where it was
    read. ``to_line`` gives the JSONL dict back, images relative to a folder."""

    id: str
    task: str
    images: list[str]
    prompt: list[dict[str, Any]]
    solution: Any
    meta: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    line: int | None = None
    places: str | None = None  # absolute path of the places file the builder named (Earth metadata)

    @property
    def source(self) -> str | None:
        """Return ``file:line`` of the line it was read from (None if not read from a file)."""
        return None if self.path is None else f"{self.path}:{self.line}"

    def to_dict(self) -> dict[str, Any]:
        """Return the example as a JSONL-line dict with the absolute image paths."""
        out = {
            "id": self.id,
            "task": self.task,
            "images": list(self.images),
            "prompt": self.prompt,
            "solution": self.solution,
            "meta": self.meta,
        }
        if self.places is not None:
            out["places"] = self.places
        out.update(self.extra)
        return out

    def to_line(self, folder: str | Path) -> dict[str, Any]:
        """Return the JSONL-line dict with image paths relative to ``folder`` (POSIX), as a task file in
        ``folder`` stores them."""
        out = self.to_dict()
        base = os.path.abspath(folder)
        out["images"] = [Path(os.path.relpath(p, base)).as_posix() for p in self.images]
        if self.places is not None:
            out["places"] = Path(os.path.relpath(self.places, base)).as_posix()
        return out


def task_image_path(
    folder: str | Path, image: str, *, path: str | Path | None, line: int | None, field: str = "images"
) -> str:
    """Return the absolute path of a task example's image (or of its places file: ``field``) given
    relative to ``folder`` (the task file's folder; ``..`` is allowed, as task files point into their
    views' folder); RecordError when it is absolute, so a task folder stays relocatable with its views."""
    kind = "image path" if field == "images" else f"{field} path"
    if PurePosixPath(image).is_absolute() or PureWindowsPath(image).is_absolute():
        raise RecordError(f"{kind} {image!r} is absolute", path=path, line=line, field=field)
    return os.path.normpath(os.path.join(os.path.abspath(folder), image))


def read_task_file(
    path: str | Path,
    *,
    task: str | None = None,
    check_images: bool = True,
    limit: int | None = None,
) -> list[TaskExample]:
    """Read a task-example (or CoT-example) JSONL file: the one reader every stage uses.

    Every line is validated (``check_task_example``; ids unique in the file) and its image paths made
    absolute (``task_image_path``); with ``check_images`` each image of a returned example must be a
    file. Only examples of ``task`` are returned when it is given (every line is still validated), at
    most ``limit`` of them. Errors are RecordErrors naming file:line and field.
    """
    path = Path(path)
    folder = path.resolve().parent
    examples: list[TaskExample] = []
    seen: dict[str, int] = {}
    for number, obj in iter_jsonl(path):
        check_task_example(obj, path=path, line=number)
        example_id = str(obj["id"])
        if example_id in seen:
            raise RecordError(
                f"duplicate id (first on line {seen[example_id]})", path=path, line=number, field="id"
            )
        seen[example_id] = number
        images = [task_image_path(folder, p, path=path, line=number) for p in obj["images"]]
        places = obj.get("places")
        if places is not None:
            if not isinstance(places, str) or not places.strip():
                raise RecordError("places must be a file path", path=path, line=number, field="places")
            places = task_image_path(folder, places, path=path, line=number, field="places")
        if task is not None and obj["task"] != task:
            continue
        if check_images:
            for image in images:
                if not os.path.isfile(image):
                    raise RecordError(
                        f"image file not found: {image}", path=path, line=number, field="images"
                    )
        examples.append(
            TaskExample(
                id=example_id,
                task=str(obj["task"]),
                images=images,
                prompt=obj["prompt"],
                solution=obj["solution"],
                meta=dict(obj["meta"] or {}),
                extra={k: v for k, v in obj.items() if k not in (*TASK_EXAMPLE_KEYS, "places")},
                path=path,
                line=number,
                places=places,
            )
        )
        if limit is not None and len(examples) >= limit:
            break
    return examples
