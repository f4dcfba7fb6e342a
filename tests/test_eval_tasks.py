"""Eval tasks end to end with scripted backends (chain on the offline Earth, GeoChain CSV, retention,
pairing), the report files, and the HF backend on the tiny model (batched = unbatched under greedy)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from geor1.errors import GeoR1Error, RecordError
from geor1.eval.backends import Backend
from geor1.eval.runner import EvalConfig, run_eval
from geor1.eval.tasks import available_tasks, get_task
from geor1.eval.types import EvalExample, SamplingConfig
from geor1.io import write_jsonl


class TruthBackend(Backend):
    """Answers every question with its ground truth ("right") or a fixed wrong answer."""

    def __init__(self, right: bool = True):
        super().__init__("truth" if right else "wrong")
        self.right = right

    def generate(self, examples: Sequence[EvalExample], sampling: SamplingConfig) -> list[str]:
        out = []
        for e in examples:
            truth = e.meta.get("truth")
            if e.meta.get("question") == "coordinates":
                answer = e.solution if self.right else "(0.5, 0.5)"
            elif truth in ("Yes", "No"):
                answer = truth if self.right else {"Yes": "No", "No": "Yes"}[truth]
            else:
                answer = (str(truth) if truth is not None else e.solution) if self.right else "Z"
            out.append(f"<think>reasoning</think><answer>{answer}</answer>")
        return out


@pytest.fixture(scope="module")
def earth_views(tmp_path_factory) -> Path:
    from geor1.sources.earth import EarthConfig, build_earth

    out = tmp_path_factory.mktemp("earth")
    return Path(build_earth(out, EarthConfig(places=8, seed=3, size_px=32), progress=False))


def test_registry_lists_every_task() -> None:
    assert {"pairing", "geolocation", "chain", "retention", "imageo"} <= set(available_tasks())
    with pytest.raises(GeoR1Error, match="known tasks"):
        get_task("nope")


def test_chain_on_earth_scores_truth_perfectly_and_writes_report(earth_views: Path, tmp_path: Path) -> None:
    config = EvalConfig(model="truth", tasks=["chain"], data=[str(earth_views.parent)], run="truth",
                        runs_dir=tmp_path)  # fmt: skip
    report = run_eval(config, backend=TruthBackend(True))
    doc = json.loads((report.parent / "chain.json").read_text())
    m = doc["metrics"]
    assert m["n_places"] == 8 and m["accuracy"] == 1.0, m["by_question"]
    assert {"continent", "country", "state", "city", "driving_side", "climate"} <= set(m["by_question"])
    # the Earth has no truth for GeoChain's visual, island, city-size and language questions
    assert not {"boats", "vehicles", "island", "big_city", "languages"} & set(m["by_question"])
    assert m["coordinates"]["median_km"] == pytest.approx(0.0, abs=0.02)
    for name in ("report.md", "tasks_bar.png", "geolocation_cdf.png", "error_map.png"):
        assert (report.parent / name).stat().st_size > 1000, name

    wrong = run_eval(EvalConfig(model="wrong", tasks=["chain"], data=[str(earth_views)], run="wrong",
                                runs_dir=tmp_path, plots=False), backend=TruthBackend(False))  # fmt: skip
    assert json.loads((wrong.parent / "chain.json").read_text())["metrics"]["accuracy"] == 0.0
    from geor1.eval.compare import compare_runs

    _, markdown = compare_runs(["truth", "wrong"], runs_dir=tmp_path, n_boot=200)
    assert "| chain | accuracy ↑ | 1.000 [1.000, 1.000] | 0.000 [0.000, 0.000] |" in markdown


def test_chain_reads_the_truth_the_earth_build_wrote(earth_views: Path, tmp_path: Path) -> None:
    import shutil

    from geor1.eval.geochain import KEYS
    from geor1.eval.placetruth import place_truth
    from geor1.eval.tasks.chain import places_from_views
    from geor1.io import read_jsonl

    records = read_jsonl(earth_views.parent / "places.jsonl")
    for record in records:  # the build's truth is what the chain would derive
        derived = place_truth(record["lat"], record["lon"], record["meta"])
        assert record["truth"] == {**derived, "coordinates": list(derived["coordinates"])}
    derived_places = places_from_views(earth_views)
    # a copy whose places file says otherwise for one place: the chain takes the build's word
    copy = tmp_path / "earth"
    shutil.copytree(earth_views.parent, copy)
    records[0]["truth"]["city"] = "Atlantis"
    write_jsonl(copy / "places.jsonl", records)
    by_id = {p.id: p for p in places_from_views(copy / "views.jsonl")}
    city = KEYS.index("city")
    assert by_id[records[0]["place"]].truth[city] == "Atlantis"
    assert all(by_id[p.id].truth == p.truth for p in derived_places if p.id != records[0]["place"])
    # without a places file beside the manifest the truth is derived, as before
    (copy / "places.jsonl").unlink()
    assert [p.truth for p in places_from_views(copy / "views.jsonl")] == [p.truth for p in derived_places]


def test_chain_on_a_geochain_csv(tmp_path: Path) -> None:
    (tmp_path / "moscow/query/images").mkdir(parents=True)
    Image.new("RGB", (24, 24), (90, 90, 90)).save(tmp_path / "moscow/query/images/k1.jpg")
    csv_path = tmp_path / "test_samples.csv"
    csv_path.write_text(
        "key,locatability_score,lat,lon,city,sub_folder,class_mapping,sequence_key\n"
        'k1,0.46,55.6463583,37.7249981,moscow,query,"{""car"": 0.07}",s1\n'
        "k2,0.52,47.3928056,8.5308389,zurich,query,{},s2\n",  # no image for k2: skipped
        encoding="utf-8",
    )
    task = get_task("chain")
    examples = task.load(csv_path)
    assert {e.meta["place"] for e in examples} == {"k1"}
    # every GeoChain question has a truth by GeoChain's rule (no answer columns here), asked verbatim
    assert len(examples) == 21 and examples[0].meta["country_code"] == "RU"
    truth = {e.meta["question"]: e.meta["truth"] for e in examples}
    assert (truth["continent"], truth["driving_side"], truth["city"], truth["vehicles"]) == (
        "Europe", "Right", "Moscow", "Yes"
    )  # fmt: skip
    assert (
        "Which continent best describes where this location is?"
        in examples[7].prompt[0]["content"][-1]["text"]
    )
    result = task.score(examples, TruthBackend(True).generate(examples, SamplingConfig()))
    assert result.metrics["accuracy"] == 1.0 and len(result.metrics["by_question"]) == 21
    bad = tmp_path / "bad.csv"
    bad.write_text("key,lat,lon\nx,95,0\n", encoding="utf-8")
    with pytest.raises(RecordError, match="bad.csv:2"):
        task.load(bad)


def test_retention_mcq_jsonl(tmp_path: Path) -> None:
    Image.new("RGB", (16, 16), (1, 2, 3)).save(tmp_path / "q.png")
    write_jsonl(tmp_path / "mmmu.jsonl", [
        {"id": "q1", "question": "2+2?", "options": ["3", "4", "5"], "answer": "B", "subject": "math"},
        {"id": "q2", "question": "Colour?", "options": "['red', 'blue']", "answer": 0, "images": ["q.png"]},
        {"id": "q3", "question": "Capital of France?", "options": {"A": "Paris", "B": "Rome"}, "answer": "Paris"},
    ])  # fmt: skip
    task = get_task("retention")
    examples = task.load(tmp_path / "mmmu.jsonl")
    assert [e.solution for e in examples] == ["B", "A", "A"] and len(examples[1].images) == 1
    result = task.score(examples, ["<answer>B</answer>", "<answer>B</answer>", "I pick A"])
    assert result.metrics["accuracy"] == pytest.approx(2 / 3) and result.metrics["n_parsed"] == 3
    write_jsonl(tmp_path / "bad.jsonl", [{"question": "?", "options": ["a", "b"], "answer": "C"}])
    with pytest.raises(RecordError, match="answer"):
        task.load(tmp_path / "bad.jsonl")


def test_pairing_task_bands_and_directions(pairing_jsonl: Path) -> None:
    task = get_task("pairing")
    examples = task.load(pairing_jsonl)
    completions = [
        f"<answer>{e.solution}</answer>" if i % 2 == 0 else "<answer>?</answer>"
        for i, e in enumerate(examples)
    ]
    result = task.score(examples, completions)
    assert result.metrics["accuracy"] == 0.5 and result.metrics["n_parsed"] == 6
    assert set(result.metrics["by_band"]) == {"easy", "medium", "hard"}
    assert result.metrics["chance"] == 0.25


def test_hf_backend_batched_equals_unbatched_greedy(tiny_model_dir: Path, pairing_jsonl: Path) -> None:
    import torch

    from geor1.eval.backends.hf import HFBackend

    examples = get_task("pairing").load(pairing_jsonl, limit=4, seed=0)
    sampling = SamplingConfig(max_new_tokens=8)
    batched = HFBackend(str(tiny_model_dir), batch_size=4)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # larger random weights: each prompt gets its own greedy answer
        for p in batched.net.parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
    out4 = batched.generate(examples, sampling)
    batched.batch_size = 1
    out1 = batched.generate(examples, sampling)
    assert len(out4) == 4 and out4 == out1 and len(set(out4)) == 4
