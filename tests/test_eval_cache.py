"""The generation cache is keyed to what produced an answer: a rebuilt example (prompt or images) or a
retrained local model is generated again, an unchanged one is reused, also from disk."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from geor1.eval.backends import Backend
from geor1.eval.cache import GenerationCache
from geor1.eval.examples import examples_from_task_file
from geor1.eval.fingerprint import example_fingerprint, local_model_id
from geor1.eval.runner import EvalConfig, cache_keys, generate_with_cache, run_eval
from geor1.eval.types import EvalExample, SamplingConfig
from geor1.io import read_jsonl, write_jsonl
from geor1.records import user_prompt

SAMPLING = SamplingConfig(max_new_tokens=8)


class CountingBackend(Backend):
    """Answers with the prompt's first text and counts the examples it generated."""

    def __init__(self, model: str = "counting"):
        super().__init__(model)
        self.generated: list[str] = []

    def generate(self, examples: Sequence[EvalExample], sampling: SamplingConfig) -> list[str]:
        self.generated += [e.id for e in examples]
        return [f"<answer>{e.solution}</answer>" for e in examples]


def write_tasks(folder: Path, n: int = 3, *, question: str = "Which candidate?", colour: int = 10) -> Path:
    """Write ``n`` pairing examples (ids p0…) with one query and two candidate images each."""
    (folder / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        images = []
        for j in range(3):
            name = f"img/p{i}_{j}.png"
            Image.new("RGB", (8, 8), (colour, 40 * j, 7 * i)).save(folder / name)
            images.append(name)
        rows.append({"id": f"p{i}", "task": "pairing", "images": images, "solution": "A",
                     "prompt": user_prompt(question, 3), "meta": {"band": "easy"}})  # fmt: skip
    path = folder / "pairing.jsonl"
    write_jsonl(path, rows)
    return path


def generate(backend: Backend, cache_path: Path, tasks: Path) -> list[str]:
    examples = examples_from_task_file(tasks, "pairing")
    with GenerationCache(cache_path) as cache:
        generated = generate_with_cache(backend, cache, "pairing", examples, SAMPLING, progress=False)
    assert not generated.errors
    return generated.completions


def test_unchanged_examples_are_cached_across_reopening(tmp_path: Path) -> None:
    tasks = write_tasks(tmp_path / "data")
    backend = CountingBackend()
    first = generate(backend, tmp_path / "gen.jsonl", tasks)
    second = generate(backend, tmp_path / "gen.jsonl", tasks)
    assert first == second and backend.generated == ["p0", "p1", "p2"]
    # rebuilt with identical content (new files, new mtimes): still the same examples
    shutil.rmtree(tmp_path / "data")
    generate(backend, tmp_path / "gen.jsonl", write_tasks(tmp_path / "data"))
    assert backend.generated == ["p0", "p1", "p2"]
    assert len(read_jsonl(tmp_path / "gen.jsonl")) == 3


def test_rebuilt_prompt_is_generated_again(tmp_path: Path) -> None:
    backend = CountingBackend()
    generate(backend, tmp_path / "gen.jsonl", write_tasks(tmp_path / "data"))
    generate(backend, tmp_path / "gen.jsonl", write_tasks(tmp_path / "data", question="Which view?"))
    assert backend.generated == ["p0", "p1", "p2"] * 2


def test_rebuilt_images_are_generated_again(tmp_path: Path) -> None:
    backend = CountingBackend()
    tasks = write_tasks(tmp_path / "data")
    generate(backend, tmp_path / "gen.jsonl", tasks)
    Image.new("RGB", (8, 8), (200, 0, 0)).save(tmp_path / "data/img/p1_2.png")  # same path, new pixels
    generate(backend, tmp_path / "gen.jsonl", tasks)
    assert backend.generated == ["p0", "p1", "p2", "p1"]
    rows = read_jsonl(tmp_path / "gen.jsonl")
    assert [r["id"] for r in rows] == ["p0", "p1", "p2", "p1"] and len({r["input"] for r in rows}) == 4


def test_reordered_images_change_the_fingerprint(tmp_path: Path) -> None:
    (example,) = examples_from_task_file(write_tasks(tmp_path, n=1), "pairing")
    swapped = EvalExample(example.id, example.prompt, example.images[::-1], example.solution)
    assert example_fingerprint(swapped) != example_fingerprint(example)
    assert example_fingerprint(EvalExample("other-id", example.prompt, example.images, "B")) == (
        example_fingerprint(example)
    )  # the id and the solution are not what the model sees


def test_rebuilt_test_set_in_the_same_run_folder_is_scored_on_new_answers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    backend = CountingBackend()
    config = EvalConfig(model="m", tasks=["pairing"], data=[f"pairing={write_tasks(data)}"], run="r",
                        runs_dir=tmp_path / "runs", plots=False, n_boot=100)  # fmt: skip
    run_eval(config, backend=backend)
    write_tasks(data, question="Which candidate is the query's place?")
    run_eval(config, backend=backend)
    assert backend.generated == ["p0", "p1", "p2"] * 2
    run_eval(config, backend=backend)
    assert len(backend.generated) == 6


def test_cache_lines_without_a_fingerprint_are_not_trusted(tmp_path: Path) -> None:
    tasks = write_tasks(tmp_path / "data", n=2)
    old = [{"model": "counting", "task": "pairing", "id": f"p{i}", "sampling": SAMPLING.settings_hash(),
            "completion": "<answer>Z</answer>"} for i in range(2)]  # fmt: skip
    write_jsonl(tmp_path / "gen.jsonl", old)
    backend = CountingBackend()
    assert generate(backend, tmp_path / "gen.jsonl", tasks) == ["<answer>A</answer>"] * 2
    assert backend.generated == ["p0", "p1"]


def fake_model_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "x"}))
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    return folder


def test_local_model_id_follows_the_weights(tmp_path: Path) -> None:
    model = fake_model_folder(tmp_path / "model")
    first = local_model_id(str(model))
    assert first.startswith(f"{model.resolve()}#") and local_model_id(str(model)) == first
    (model / "eval.log").write_text("not read by loading")
    assert local_model_id(str(model)) == first
    stat = (model / "model.safetensors").stat()
    os.utime(model / "model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    touched = local_model_id(str(model))
    assert touched != first
    (model / "model.safetensors").write_bytes(b"\1" * 80)  # retrained
    assert local_model_id(str(model)) not in (first, touched)
    assert local_model_id("Qwen/Qwen2.5-VL-3B-Instruct") == "Qwen/Qwen2.5-VL-3B-Instruct"


@pytest.mark.parametrize("change", ["touch", "rewrite"])
def test_retrained_hf_model_is_generated_again(tiny_model_dir: Path, tmp_path: Path, change: str) -> None:
    from geor1.eval.backends.hf import HFBackend

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    tasks = write_tasks(tmp_path / "data", n=2)

    def run() -> list[str]:
        backend = HFBackend(str(model), batch_size=2)
        seen: list[str] = []
        generate_batch = backend.generate
        backend.generate = lambda ex, s: (seen.extend(e.id for e in ex), generate_batch(ex, s))[1]
        generate(backend, tmp_path / "gen.jsonl", tasks)
        return seen

    assert run() == ["p0", "p1"]
    assert run() == []  # unchanged model: cached
    weights = sorted(model.glob("*.safetensors"))
    assert weights
    if change == "touch":
        stat = weights[0].stat()
        os.utime(weights[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    else:
        weights[0].write_bytes(weights[0].read_bytes())
    assert run() == ["p0", "p1"]


def changed(value: object) -> object:
    """Return a different value of the same kind (a temperature or top_p stays in (0, 1])."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2
    raise TypeError(f"no rule to change {value!r}")


SAMPLED = SamplingConfig(temperature=0.7, top_p=0.9, max_new_tokens=32, seed=1)


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(SamplingConfig)])
def test_every_sampling_setting_is_in_the_cache_key(tmp_path: Path, name: str) -> None:
    """Every field of SamplingConfig (a new one too) changes the key of a sampled run: answers drawn
    with other settings are never reused."""
    examples = examples_from_task_file(write_tasks(tmp_path, n=2), "pairing")
    other = dataclasses.replace(SAMPLED, **{name: changed(getattr(SAMPLED, name))})
    assert not other.greedy
    keys, other_keys = (
        cache_keys("m", "pairing", examples, SAMPLED),
        cache_keys("m", "pairing", examples, other),
    )
    assert [k.sampling for k in keys] != [k.sampling for k in other_keys]
    assert not set(keys) & set(other_keys)
    assert cache_keys("m", "pairing", examples, dataclasses.replace(other)) == other_keys  # stable


def test_greedy_keys_follow_what_greedy_decoding_uses() -> None:
    """Greedy decoding ignores the seed and top_p, so they do not split the cache; the temperature (0 vs
    sampling) and the token budget do."""
    greedy = SamplingConfig(temperature=0.0, top_p=1.0, max_new_tokens=32, seed=1)
    same = {
        dataclasses.replace(greedy, seed=2).settings_hash(),
        dataclasses.replace(greedy, top_p=0.5).settings_hash(),
    }
    assert same == {greedy.settings_hash()}
    assert dataclasses.replace(greedy, max_new_tokens=33).settings_hash() != greedy.settings_hash()
    assert dataclasses.replace(greedy, temperature=0.7).settings_hash() != greedy.settings_hash()


def test_a_sampled_run_with_another_seed_is_generated_again(tmp_path: Path) -> None:
    """``geo-r1 eval --seed 2`` after ``--seed 1`` (sampling) generates new answers; the same seed again
    reuses them."""
    backend = CountingBackend()
    data = [f"pairing={write_tasks(tmp_path / 'data')}"]

    def run(seed: int, temperature: float = 0.7, top_p: float = 0.9) -> None:
        config = EvalConfig(model="m", tasks=["pairing"], data=data, run="r", runs_dir=tmp_path / "runs",
                            plots=False, n_boot=50, seed=seed, temperature=temperature, top_p=top_p)  # fmt: skip
        run_eval(config, backend=backend)

    run(1)
    run(2)
    assert backend.generated == ["p0", "p1", "p2"] * 2
    run(1)
    assert len(backend.generated) == 6
    run(1, top_p=0.8)
    run(1, temperature=0.9)
    assert len(backend.generated) == 12
