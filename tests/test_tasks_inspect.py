from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from geor1.builders.common import load_view_set, write_task_set
from geor1.builders.inspect import histogram, render, summarize
from geor1.builders.pairing import PairingConfig, build_pairing
from geor1.builders.preview import BACKGROUND, GREEN, contact_sheet
from geor1.builders.questions import QuestionsConfig, build_questions
from geor1.errors import GeoR1Error
from geor1.records import read_task_file
from test_tasks_common import make_manifest


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("insp")
    views = load_view_set(make_manifest(root, n_places=60))
    pairing, _ = build_pairing(views, PairingConfig(band="easy", direction="both"), root)
    questions, _ = build_questions(views, QuestionsConfig(types=["continent", "desert"]), root)
    write_task_set(root / "pairing.jsonl", pairing)
    write_task_set(root / "questions.jsonl", questions)
    return root, read_task_file(root / "pairing.jsonl"), read_task_file(root / "questions.jsonl")


def test_summary_counts_balance_and_distances(built):
    _, pairing, questions = built
    s = summarize([e.to_dict() for e in pairing + questions])
    assert s["examples"] == len(pairing) + len(questions)
    assert s["tasks"] == {"pairing": len(pairing), "question": len(questions)}
    assert s["directions"] == {"forward": 60, "reverse": 60} and s["bands"] == {"easy": 120}
    assert s["question_types"] == {"continent": 60, "desert": 60}
    letters = s["answer_letters"]["pairing"]
    assert sum(letters.values()) == 120 and max(letters.values()) - min(letters.values()) <= 1
    assert s["answer_letters"]["question/desert"] == {"A": 30, "B": 30}
    assert s["images_per_example"] == {"1": 120, "5": 120}
    hist = s["negatives_km_histogram"]
    assert sum(c for _, _, c in hist) == 120 * 3  # every negative, never the positive
    assert all(c == 0 for lo, _, c in hist if lo < 1000) and s["negatives_km_range"][0] >= 1000
    console = Console(record=True, width=120)
    render(s, console, title="t")
    text = console.export_text()
    assert "answer-letter balance" in text and "1000-3000" in text and "█" in text
    assert histogram([0, 5, 10, 20100], (0, 10, 20100)) == [(0, 10, 2), (10, 20100, 2)]


def test_contact_sheet_frames_the_correct_candidate(built, tmp_path):
    root, pairing, questions = built
    ex = pairing[3]
    out = contact_sheet([ex], tmp_path / "sheet.png", tile=64)
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(int)
    green = np.all(np.abs(pixels - np.array(GREEN)) <= 10, axis=-1)
    j = 1 + ex.meta["answer_index"]
    x0 = 12 + j * (64 + 12)
    assert np.flatnonzero(green.any(axis=0)).min() >= x0 - 5  # nothing green left of the answer
    edges = green[green.sum(axis=1) >= 64]  # the frame's top and bottom edges
    cols = np.flatnonzero(edges.any(axis=0))
    assert len(edges) >= 8 and cols.min() == x0 - 5 and cols.max() == x0 + 64 + 4
    assert green[:, x0 - 5 : x0].sum() >= 64  # the frame's left edge runs the tile's height
    sheet = contact_sheet(questions[:3], tmp_path / "q.png")
    assert Image.open(sheet).size[0] >= 760
    with pytest.raises(GeoR1Error, match="no examples"):
        contact_sheet([], tmp_path / "e.png")


@pytest.mark.parametrize("tile", [112, 64])
def test_contact_sheet_captions_stay_inside_their_tile(built, tmp_path, tile):
    root, pairing, _ = built
    ex = max(pairing, key=lambda e: max(e.meta["distractor_km"]))  # the longest distance captions
    assert max(ex.meta["distractor_km"]) >= 1000
    out = contact_sheet([ex], tmp_path / "sheet.png", tile=tile)
    pixels = np.asarray(Image.open(out).convert("RGB"))
    pad, caption_h = 12, 34
    query = np.asarray(Image.open(ex.images[0]).convert("RGB"))[0, 0]
    column = pixels[:, pad + tile // 2]
    image_top = int(np.flatnonzero(np.all(column == query, axis=-1)).min())
    band = pixels[image_top - caption_h : image_top - 6]  # the caption rows, above the answer's frame
    assert (band != BACKGROUND).any()  # captions were drawn
    for j in range(len(ex.images)):
        gap = band[:, pad + j * (tile + pad) + tile : pad + (j + 1) * (tile + pad)]
        assert np.all(gap == BACKGROUND), f"caption {j} runs past its tile"
