from __future__ import annotations

import re
from collections import Counter

import pytest

from geor1.builders.common import load_view_set
from geor1.builders.geolocation import GeolocationConfig, build_geolocation, format_coordinates
from geor1.builders.questions import QUESTION_TYPES, QuestionsConfig, build_questions
from geor1.errors import ConfigError
from geor1.geography import lat_band
from geor1.records import check_task_example, prompt_text
from test_tasks_common import make_manifest


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    return load_view_set(make_manifest(tmp_path_factory.mktemp("q"), n_places=120, seed=3))


def test_geolocation_solutions_and_meta(views, tmp_path):
    examples = build_geolocation(views, GeolocationConfig(views=["satellite", "terrain"]), tmp_path)
    assert len(examples) == 240
    by_id = {v.id: v for v in views.views}
    for ex in examples:
        check_task_example(ex)
        v = by_id[ex["meta"]["view_id"]]
        assert ex["solution"] == f"({v.lat:.4f}, {v.lon:.4f})"
        assert re.fullmatch(r"\(-?\d+\.\d{4}, -?\d+\.\d{4}\)", ex["solution"])
        assert ex["meta"]["lat"] == v.lat and ex["meta"]["country_code"] == v.meta["country_code"]
        assert "Where was this image taken?" in prompt_text(ex["prompt"])
    assert format_coordinates(48.85661, 2.35222) == "(48.8566, 2.3522)"
    limited = build_geolocation(views, GeolocationConfig(limit=10, seed=1), tmp_path)
    assert len(limited) == 10 and limited == build_geolocation(
        views, GeolocationConfig(limit=10, seed=1), tmp_path
    )
    with pytest.raises(ConfigError, match="config key 'views': 'street': no view of that kind"):
        build_geolocation(views, GeolocationConfig(views=["street"]), tmp_path)


def test_questions_are_verifiable_and_balanced(views, tmp_path):
    examples, report = build_questions(views, QuestionsConfig(), tmp_path)
    by_id = {v.id: v for v in views.views}
    types = Counter(e["meta"]["question_type"] for e in examples)
    assert set(types) == set(QUESTION_TYPES)
    assert (
        types["mountainous"] + sum(v for k, v in report.skipped.items() if k.startswith("mountainous")) == 120
    )
    assert all(types[t] == 120 for t in QUESTION_TYPES if t != "mountainous")
    for ex in examples:
        check_task_example(ex)
        m = ex["meta"]
        v = by_id[m["view_id"]]
        text = prompt_text(ex["prompt"])
        opts = m["options"]
        assert len(set(opts)) == len(opts) and opts[m["answer_index"]] == m["answer"]
        assert ex["solution"] == "ABCD"[m["answer_index"]]
        for letter, opt in zip("ABCD", opts, strict=False):
            assert f"\n{letter}. {opt}\n" in text
        truth = {
            "continent": v.meta["continent"],
            "hemisphere": "Northern Hemisphere" if v.lat >= 0 else "Southern Hemisphere",
            "near_equator": "Yes" if abs(v.lat) < 10 else "No",
            "country": v.meta["country"],
            "landcover": v.meta["landcover_dominant"],
            "coastal": "Coastal" if v.meta["coastal"] else "Inland",
            "desert": "Yes" if v.meta["desert"] else "No",
            "mountainous": "Yes" if v.meta["mountainous"] else "No",
            "lat_band": lat_band(v.lat),
        }[m["question_type"]]
        assert m["answer"] == truth
        if m["question_type"] in ("hemisphere", "near_equator", "coastal", "desert", "mountainous"):
            assert len(opts) == 2
        else:
            assert len(opts) == 4
    for qtype in QUESTION_TYPES:
        counts = Counter(e["solution"] for e in examples if e["meta"]["question_type"] == qtype)
        assert max(counts.values()) - min(counts.values()) <= 1, (qtype, counts)
    # country distractors prefer neighbours: most distractors come from adjacent 30x30-degree cells
    near = 0
    total = 0
    for ex in examples:
        if ex["meta"]["question_type"] != "country":
            continue
        own = ex["meta"]["country_code"]
        for opt in ex["meta"]["options"]:
            code = opt.removeprefix("Country ")
            if code != own:
                total += 1
                near += (
                    abs(int(code[1:3]) - int(own[1:3])) in (0, 1, 11) and abs(int(code[3]) - int(own[3])) <= 1
                )
    assert near / total > 0.6


def test_questions_skip_missing_metadata_and_options(tmp_path):
    views = load_view_set(make_manifest(tmp_path, n_places=20))
    for v in views.views:
        v.meta.pop("continent")
    examples, report = build_questions(
        views, QuestionsConfig(types=["continent", "hemisphere"], k=3, seed=2), tmp_path
    )
    assert {e["meta"]["question_type"] for e in examples} == {"hemisphere"}
    assert report.skipped == {"continent: meta.continent missing or unknown": 20}
    again, _ = build_questions(
        views, QuestionsConfig(types=["continent", "hemisphere"], k=3, seed=2), tmp_path
    )
    assert again == examples
    with pytest.raises(ConfigError, match="config key 'types': must name some of"):
        QuestionsConfig(types=["weather"])
