"""The base model's pretraining: contrastive vision tower on views of places, single-view instructions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from geor1.errors import ConfigError


@pytest.fixture(scope="module")
def earth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from geor1.sources.earth import build_earth

    return build_earth(tmp_path_factory.mktemp("earth") / "build", places=12, seed=3, progress=False)


def _vision_and_text_state(folder: Path) -> tuple[dict, dict]:
    from geor1.models import load_model

    model = load_model(folder, dtype="float32")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    vision = {k: v for k, v in state.items() if ".visual." in f".{k}"}
    text = {k: v for k, v in state.items() if ".visual." not in f".{k}"}
    return vision, text


def test_contrastive_pretraining_trains_the_vision_tower_only_and_pulls_views_together(
    earth: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    import torch

    from geor1.images import open_image
    from geor1.models import load_model, load_processor
    from geor1.train.contrastive import (
        ContrastiveConfig,
        image_embeddings,
        info_nce,
        place_views,
        pretrain_vision,
    )

    views = earth
    pairs = place_views(views, ["satellite", "context"])
    places = sorted(pairs)[:10]

    def loss_of(folder: Path) -> float:
        model, processor = load_model(folder, dtype="float32"), load_processor(folder)
        with torch.no_grad():
            a = image_embeddings(model, processor, [open_image(pairs[p]["satellite"]) for p in places])
            b = image_embeddings(model, processor, [open_image(pairs[p]["context"]) for p in places])
            return float(info_nce(a, b, 0.07)[0])

    out = tmp_path / "vision"
    summary = pretrain_vision(
        tiny_model_dir,
        views,
        out,
        ContrastiveConfig(steps=40, batch=10, lr=3e-3, seed=0),
        places=set(places),
    )
    assert summary["places"] == 10 and summary["steps"] == 40
    before_vision, before_text = _vision_and_text_state(tiny_model_dir)
    after_vision, after_text = _vision_and_text_state(out)
    assert before_vision and before_text
    assert any(not torch.equal(before_vision[k], after_vision[k]) for k in before_vision)
    assert all(torch.equal(before_text[k], after_text[k]) for k in before_text)
    assert loss_of(out) < 0.7 * loss_of(tiny_model_dir)
    records = [json.loads(line) for line in (out / "metrics.jsonl").open()]
    assert [r["step"] for r in records] == list(range(1, 41))


def test_contrastive_pretraining_uses_only_the_places_given(earth: Path, tiny_model_dir: Path) -> None:
    from geor1.train.contrastive import place_views

    views = earth
    every = place_views(views, ["satellite", "context"])
    chosen = set(sorted(every)[:4])
    assert set(place_views(views, ["satellite", "context"], chosen)) == chosen


def test_contrastive_config_names_the_bad_field() -> None:
    from geor1.train.contrastive import ContrastiveConfig

    with pytest.raises(ConfigError, match="kinds"):
        ContrastiveConfig(kinds=["satellite", "satellite"]).check()
    with pytest.raises(ConfigError, match="batch"):
        ContrastiveConfig(batch=1).check()
    with pytest.raises(ConfigError, match="lr"):
        ContrastiveConfig(lr=0).check()


def test_instructions_describe_and_locate_single_views_of_the_given_places(
    earth: Path, tmp_path: Path
) -> None:
    from geor1.builders.common import load_view_set
    from geor1.builders.describe import InstructionConfig, build_instructions, view_words

    views = load_view_set(earth)
    places = sorted({v.place for v in views.views})[:5]
    examples = build_instructions(views, InstructionConfig(), tmp_path, places=set(places), split="train")
    assert {e["meta"]["place"] for e in examples} == set(places)
    # one describe and one geolocation example per satellite and per context view
    assert len(examples) == 5 * 2 * 2
    by_id = {v.id: v for v in views.views}
    for example in examples:
        assert len(example["images"]) == 1 and (tmp_path / example["images"][0]).is_file()
        view = by_id[example["meta"]["view_id"]]
        text = example["completion"][0]["content"][0]["text"]
        assert text.startswith("<think>") and "</think><answer>" in text
        if example["task"] == "describe":
            assert text.endswith(f"<answer>{view_words(view.meta)}</answer>")
        else:
            assert text.endswith(f"<answer>({view.lat:.4f}, {view.lon:.4f})</answer>")
        assert example["task"] in ("describe", "geolocation")


def test_choose_instructions_ask_which_of_four_views_shows_a_cover(earth: Path, tmp_path: Path) -> None:
    from geor1.builders.common import load_view_set
    from geor1.builders.describe import InstructionConfig, build_instructions, cover_word

    views = load_view_set(earth)
    places = sorted({v.place for v in views.views})
    examples = build_instructions(
        views, InstructionConfig(kinds=["choose"], views=["satellite"]), tmp_path, places=set(places)
    )
    assert examples and all(e["task"] == "choose" for e in examples)
    by_id = {v.id: v for v in views.views}
    letters_seen = set()
    for example in examples:
        shown = [by_id[i] for i in example["meta"]["candidate_ids"]]
        covers = [cover_word(v.meta) for v in shown]
        answer = example["meta"]["answer_index"]
        assert len(set(covers)) == 4 and len({v.place for v in shown}) == 4  # one answer, four places
        assert shown[answer].id == example["meta"]["view_id"] and all(v.view == "satellite" for v in shown)
        assert [(tmp_path / rel).is_file() for rel in example["images"]] == [True] * 4
        letter = "ABCD"[answer]
        letters_seen.add(letter)
        assert example["solution"] == letter
        question = example["prompt"][0]["content"][-1]["text"]
        assert f"main land cover is {covers[answer]}?" in question
        text = example["completion"][0]["content"][0]["text"]
        verdicts = [f"{'ABCD'[j]}: {c}, {'yes' if j == answer else 'no'}" for j, c in enumerate(covers)]
        assert (
            text == f"<think>query: {covers[answer]}. {'. '.join(verdicts)}.</think><answer>{letter}</answer>"
        )
    assert len(letters_seen) > 1  # the answer's position is drawn, not fixed
    # a pool with too few distinct covers gives no choose example rather than an ambiguous one
    one_cover = {v.place for v in views.views if cover_word(v.meta) == cover_word(views.views[0].meta)}
    assert build_instructions(views, InstructionConfig(kinds=["choose"]), tmp_path, places=one_cover) == []


def test_view_words_name_cover_and_continent() -> None:
    from geor1.builders.describe import view_words

    meta = {"landcover_dominant": "Evergreen Broadleaf Forests", "continent": "South America"}
    assert view_words(meta) == "rainforest, South America"
    assert view_words({}) == "unknown, unknown"


def test_cli_builds_instructions_and_pretrains_a_tower_on_the_training_places_only(
    earth: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from geor1.cli import build_app
    from geor1.records import read_task_file

    runner = CliRunner()
    tasks = tmp_path / "tasks"
    result = runner.invoke(
        build_app(),
        ["data", "instruct", "--views", str(earth), "--out", str(tasks / "instruct.jsonl"), "--split", "train",
         "--test-fraction", "0.25", "--kinds", "describe"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    examples = read_task_file(tasks / "instruct.jsonl")
    train_places = {e.meta["place"] for e in examples}
    assert examples and {e.task for e in examples} == {"describe"}
    assert 0 < len(train_places) < 12
    out = tmp_path / "vision"
    result = runner.invoke(
        build_app(),
        ["model", "pretrain", "--model", str(tiny_model_dir), "--views", str(earth), "--out", str(out),
         "--places-from", str(tasks / "instruct.jsonl"), "--steps", "3", "--batch", "4"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"on {len(train_places)} places" in result.output
    assert (out / "model.safetensors").is_file() and (out / "contrastive.json").is_file()
    bad = runner.invoke(
        build_app(),
        ["model", "pretrain", "--model", str(tiny_model_dir), "--views", str(earth), "--out", str(out),
         "--kinds", "satellite"],
    )  # fmt: skip
    assert bad.exit_code == 2
    assert bad.output == "error: option --kinds: needs at least two different view kinds, got ['satellite']\n"
