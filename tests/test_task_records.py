"""The one task-example reader (``geor1.records.read_task_file``): validation once, absolute image paths,
the line's other fields kept, errors naming file:line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from geor1.errors import RecordError
from geor1.records import TaskExample, read_task_file


def line(example_id: str, images: list[str], task: str = "geolocation", **extra: object) -> dict:
    content = [{"type": "image", "text": None} for _ in images] + [{"type": "text", "text": "q"}]
    return {
        "id": example_id,
        "task": task,
        "images": images,
        "prompt": [{"role": "user", "content": content}],
        "solution": "(1.0000, 2.0000)",
        "meta": {"place": example_id},
        **extra,
    }


def write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "earth" / "images"
    folder.mkdir(parents=True)
    for name in ("a.png", "b.png"):
        Image.new("RGB", (4, 4)).save(folder / name)
    return folder


def test_images_become_absolute_and_extra_fields_stay(tmp_path: Path, images: Path) -> None:
    completion = [{"role": "assistant", "content": "<answer>x</answer>"}]
    path = write(
        tmp_path / "tasks" / "t.jsonl",
        [line("a", ["../earth/images/a.png"]), line("b", ["../earth/images/b.png"], completion=completion)],
    )
    a, b = read_task_file(path)
    assert isinstance(a, TaskExample) and a.images == [str(images / "a.png")]
    assert a.source == f"{path}:1" and b.line == 2 and a.meta == {"place": "a"} and a.extra == {}
    assert b.extra == {"completion": completion} and b.to_dict()["completion"] == completion
    assert b.to_line(tmp_path / "tasks")["images"] == ["../earth/images/b.png"]
    assert b.to_line(tmp_path / "cot")["images"] == ["../earth/images/b.png"]
    assert b.to_line(tmp_path)["images"] == ["earth/images/b.png"]


def test_task_filter_and_limit(tmp_path: Path, images: Path) -> None:
    rows = [
        line(f"e{i}", ["../earth/images/a.png"], task="pairing" if i % 2 else "geolocation") for i in range(5)
    ]
    path = write(tmp_path / "tasks" / "t.jsonl", rows)
    assert [e.id for e in read_task_file(path, task="pairing")] == ["e1", "e3"]
    assert [e.id for e in read_task_file(path, limit=2)] == ["e0", "e1"]
    assert [e.id for e in read_task_file(path, task="pairing", limit=1)] == ["e1"]


def test_errors_name_file_line_and_field(tmp_path: Path, images: Path) -> None:
    good = line("a", ["../earth/images/a.png"])
    cases = [
        (
            [good, line("b", ["../earth/images/missing.png"])],
            r"t\.jsonl:2 field 'images': image file not found",
        ),
        (
            [good, line("b", ["/abs/a.png"])],
            r"t\.jsonl:2 field 'images': image path '/abs/a.png' is absolute",
        ),
        ([good, good], r"t\.jsonl:2 field 'id': duplicate id \(first on line 1\)"),
        ([good, dict(good, id="b", meta=[1])], r"t\.jsonl:2 field 'meta': meta must be an object"),
        (
            [{k: v for k, v in good.items() if k != "solution"}],
            r"t\.jsonl:1 field 'solution': missing required",
        ),
        ([dict(good, images=["x.png", "y.png"])], r"t\.jsonl:1 field 'images': prompt has 1 image blocks"),
    ]
    for rows, message in cases:
        path = write(tmp_path / "tasks" / "t.jsonl", rows)
        with pytest.raises(RecordError, match=message):
            read_task_file(path)
    # A missing image is an error only when images are checked; another task's lines are validated but
    # their images are not checked when a task is asked for.
    path = write(tmp_path / "tasks" / "t.jsonl", [good, line("b", ["../earth/images/missing.png"], task="p")])
    assert len(read_task_file(path, check_images=False)) == 2
    assert [e.id for e in read_task_file(path, task="geolocation")] == ["a"]
    with pytest.raises(RecordError, match=r"t\.jsonl:2 field 'images': image path '/x' is absolute"):
        read_task_file(write(path, [good, line("b", ["/x"], task="p")]), task="geolocation")


def test_the_places_file_a_line_names(tmp_path: Path, images: Path) -> None:
    path = write(
        tmp_path / "tasks" / "t.jsonl", [line("a", ["../earth/images/a.png"], places="../earth/places.jsonl")]
    )
    (example,) = read_task_file(path)
    assert example.places == str(tmp_path / "earth" / "places.jsonl") and "places" not in example.extra
    assert example.to_dict()["places"] == example.places
    assert example.to_line(tmp_path)["places"] == "earth/places.jsonl"
    for places, message in (
        ("/abs/places.jsonl", "places path '/abs/places.jsonl' is absolute"),
        ("", "places must be a file path"),
    ):
        write(path, [line("a", ["../earth/images/a.png"], places=places)])
        with pytest.raises(RecordError, match=rf"t\.jsonl:1 field 'places': {message}"):
            read_task_file(path)
