"""Training data: a corrupt image is reported with the task file:line, the example id and the image file
(not a bare Pillow error): a file that is no image at all when the examples are read (before any model
loads), one truncated after its header when its row is decoded."""

from __future__ import annotations

import json
import os
import re

import pytest

from conftest import write_pairing_examples
from geor1.errors import RecordError
from geor1.train.data import load_examples


def test_file_that_is_no_image_is_refused_when_the_examples_are_read(tmp_path):
    path = write_pairing_examples(tmp_path, n=4)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    image = tmp_path / rows[2]["images"][3]
    image.write_bytes(os.urandom(image.stat().st_size))
    with pytest.raises(RecordError) as info:
        load_examples(path, "grpo")
    assert str(info.value).startswith(f"{path}:3 field 'images': unreadable image {image.resolve()}")
    assert "(example 'pair-2')" in str(info.value)


def test_truncated_image_raises_located_error_when_decoded(tmp_path):
    path = write_pairing_examples(tmp_path, n=4)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    image = tmp_path / rows[2]["images"][3]  # line 3, example pair-2, candidate C
    data = image.read_bytes()
    image.write_bytes(data[: len(data) // 2])
    dataset = load_examples(path, "grpo")  # lazy: nothing is decoded yet
    assert dataset[1]["images"][0].size == (56, 56)
    with pytest.raises(RecordError) as info:
        dataset[2]
    message = str(info.value)
    assert message.startswith(f"{path}:3 field 'images': unreadable image {image.resolve()}")
    assert "(example 'pair-2')" in message
    assert (info.value.line, info.value.field) == (3, "images")
    shuffled = dataset.shuffle(seed=0)  # copies of the dataset keep the locations
    with pytest.raises(RecordError, match=r"tasks\.jsonl:3 field 'images'"):
        [shuffled[i] for i in range(len(shuffled))]


def test_corrupt_image_in_second_file_names_that_file(tmp_path):
    first = write_pairing_examples(tmp_path / "a", n=2)
    second = write_pairing_examples(tmp_path / "b", n=2, seed=1)
    rows = [json.loads(line) for line in second.read_text().splitlines()]
    image = tmp_path / "b" / rows[1]["images"][0]
    image.write_bytes(b"not a png")
    with pytest.raises(
        RecordError, match=rf"{re.escape(str(second))}:2 field 'images': unreadable image .*'pair-1'"
    ):
        load_examples([first, second], "grpo")
