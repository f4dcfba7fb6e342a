"""``geo-r1 demo --quick`` end to end: report with all four models, parseable numbers, timings, resumability."""

from __future__ import annotations

import json
import re
import time

import pytest
from typer.testing import CliRunner

from geor1.cli import build_app
from geor1.demo.config import (
    MODELS,
    RUN_WIDE,
    SECTIONS,
    DataSettings,
    DemoConfig,
    EvalSettings,
    GRPOSettings,
    setting_names,
)
from geor1.demo.pipeline import demo_stages, read_marker, stage_hash
from geor1.demo.stages import DemoPaths
from geor1.errors import ConfigError

ROW = re.compile(r"^\| (?P<label>[^|]+?) \| (?P<cells>.+) \|$")
CELL = re.compile(r"^(?P<value>-?[\d,]+\.?\d*) \[(?P<lo>-?[\d,]+\.?\d*), (?P<hi>-?[\d,]+\.?\d*)\]$")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """Run ``geo-r1 demo --quick`` once for the module; return (out folder, first-run seconds)."""
    out = tmp_path_factory.mktemp("demo") / "run"
    started = time.perf_counter()
    result = CliRunner().invoke(build_app(), ["demo", "--quick", "--out", str(out), "--seed", "0"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out, time.perf_counter() - started


def comparison_table(report: str) -> dict[str, list[str]]:
    """Return {row label: cells} of the report's first table (the model comparison)."""
    section = report.split("## Comparison on held-out places", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in section.splitlines()[2:]:
        match = ROW.match(line)
        assert match, line
        rows[match["label"]] = [c.strip() for c in match["cells"].split("|")]
    return rows


def test_quick_demo_writes_a_report_with_all_four_models(quick_run):
    out, _ = quick_run
    report = (out / "report.md").read_text(encoding="utf-8")
    rows = comparison_table(report)
    assert list(rows) == [label for _, label in MODELS]
    for label, cells in rows.items():
        assert len(cells) == 3, (label, cells)
        for cell in cells:
            match = CELL.match(cell)
            assert match, f"{label}: {cell!r} is not 'value [lo, hi]'"
            value, lo, hi = (float(match[k].replace(",", "")) for k in ("value", "lo", "hi"))
            assert lo <= value <= hi
    pairing_accuracies = [float(CELL.match(cells[0])["value"]) for cells in rows.values()]
    assert all(0.0 <= a <= 1.0 for a in pairing_accuracies)
    # the numbers in the table are the eval module's, not typed in
    doc = json.loads((out / "eval" / "sft_grpo" / "eval" / "pairing.json").read_text())
    assert abs(doc["metrics"]["accuracy"] - pairing_accuracies[2]) < 5e-4
    assert "### What the numbers say" in report and "**Target**" in report
    for png in ("sft_loss.png", "grpo_curves.png"):
        assert (out / "report_assets" / png).stat().st_size > 1000
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<table>" in html and "data:image/png;base64," in html and 'src="report_assets' not in html


def test_quick_demo_numbers_are_not_all_zero_and_match_the_eval_files(quick_run):
    out, _ = quick_run
    rows = comparison_table((out / "report.md").read_text(encoding="utf-8"))
    tasks = ("pairing", "geolocation", "chain")
    metric = {"pairing": "accuracy", "geolocation": "geoscore", "chain": "accuracy"}
    for name, label in MODELS:
        for task, cell in zip(tasks, rows[label], strict=True):
            doc = json.loads((out / "eval" / name / "eval" / f"{task}.json").read_text())
            text = CELL.match(cell)["value"].replace(",", "")
            decimals = len(text.partition(".")[2])
            # the table rounds to the digits it shows; the value must be the eval file's, rounded
            assert abs(doc["metrics"][metric[task]] - float(text)) <= 0.5 * 10**-decimals + 1e-9, (name, task)
    for name in ("sft", "sft_grpo"):
        pairing = json.loads((out / "eval" / name / "eval" / "pairing.json").read_text())["metrics"]
        # SFT taught the answer format: every query gets a letter, and some letters are right
        assert pairing["n_parsed_strict"] == pairing["n"] > 0, name
        assert 0.0 < pairing["accuracy"] <= 1.0, name


def test_quick_demo_records_stage_timings_and_training_metrics(quick_run):
    out, elapsed = quick_run
    timings = json.loads((out / "timings.json").read_text())
    stages = demo_stages()
    assert [row["stage"] for row in timings["stages"]] == [s.name for s in stages]
    # a fresh folder runs every stage; the totals add up and fit in the time the command took
    assert [row["skipped"] for row in timings["stages"]] == [False] * len(stages)
    seconds = [row["seconds"] for row in timings["stages"]]
    assert timings["total_seconds_recorded"] == pytest.approx(sum(seconds), abs=0.011)
    assert 0 < timings["total_seconds_this_run"] <= elapsed
    assert all(sec > 0 for sec, s in zip(seconds, stages, strict=True) if s.kind in ("sft", "grpo"))
    assert len(timings["loadavg_start"]) == 3
    for run in ("sft_grpo", "grpo"):
        records = [json.loads(x) for x in (out / "models" / run / "metrics.jsonl").read_text().splitlines()]
        steps = [r for r in records if "reward" in r]
        assert steps and all("frac_reward_zero_std" in r and "completions/mean_length" in r for r in steps)
        assert "rewards/accuracy/mean" in steps[0]
    assert (out / "models" / "sft_grpo" / "model.safetensors").exists()


def test_second_run_skips_finished_stages(quick_run):
    out, first_seconds = quick_run
    before = {s.name: read_marker(DemoPaths(out), s.name)["run_id"] for s in demo_stages()}
    started = time.perf_counter()
    result = CliRunner().invoke(build_app(), ["demo", "--quick", "--out", str(out), "--seed", "0"])
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert result.output.count("skipped") == len(before)
    after = {s.name: read_marker(DemoPaths(out), s.name)["run_id"] for s in demo_stages()}
    assert after == before
    assert elapsed < max(15.0, first_seconds / 3)
    timings = json.loads((out / "timings.json").read_text())
    assert all(row["skipped"] for row in timings["stages"])


def test_changed_setting_redoes_that_stage_and_what_reads_it(quick_run):
    out, _ = quick_run
    paths = DemoPaths(out)
    config = DemoConfig.quick_variant(out=out)
    stages = {s.name: s for s in demo_stages()}
    # unchanged settings: every stage's hash matches its marker
    for name, stage in stages.items():
        assert stage_hash(config, paths, stage)[0] == read_marker(paths, name)["params_hash"], name
    changed = DemoConfig.quick_variant(out=out).with_values({"grpo.lr": 1e-3})
    stale = {
        n
        for n, s in stages.items()
        if stage_hash(changed, paths, s)[0] != read_marker(paths, n)["params_hash"]
    }
    assert stale == {"sft_grpo", "grpo"}  # eval/report follow through the run ids once these rerun
    sft_changed = DemoConfig.quick_variant(out=out).with_values({"sft.steps": 21})
    stale = {
        n
        for n, s in stages.items()
        if stage_hash(sft_changed, paths, s)[0] != read_marker(paths, n)["params_hash"]
    }
    assert stale == {"sft"}


def test_an_edited_recipe_redoes_the_stages_that_train_from_it(tmp_path, monkeypatch):
    """The training stages start from the tiny CPU recipes: a changed setting there redoes them."""
    import yaml

    from geor1.demo import stages as demo_stage_functions

    config, paths = DemoConfig.quick_variant(out=tmp_path), DemoPaths(tmp_path)
    before = {s.name: stage_hash(config, paths, s)[0] for s in demo_stages()}
    real = demo_stage_functions.recipe_path
    for kind, expected in (("grpo", {"sft_grpo", "grpo"}), ("sft", {"pretrain", "sft"})):
        edited = tmp_path / f"{kind}.yaml"
        recipe = yaml.safe_load(real(kind).read_text(encoding="utf-8"))
        edited.write_text(yaml.safe_dump({**recipe, "save_total_limit": 3}), encoding="utf-8")
        monkeypatch.setattr(
            demo_stage_functions,
            "recipe_path",
            lambda k, kind=kind, edited=edited: edited if k == kind else real(k),
        )
        after = {s.name: stage_hash(config, paths, s)[0] for s in demo_stages()}
        assert {n for n in before if before[n] != after[n]} == expected, kind


def test_config_rejects_impossible_settings():
    with pytest.raises(ConfigError, match=r"'grpo\.reward_weights'"):
        DemoConfig(grpo=GRPOSettings(reward_funcs=["accuracy"], reward_weights=[1.0, 0.5]))
    with pytest.raises(ConfigError, match=r"'data\.candidate_view'"):
        DemoConfig(data=DataSettings(query_view="satellite", candidate_view="satellite"))
    with pytest.raises(ConfigError, match=r"'grpo\.num_generations'"):
        DemoConfig(grpo=GRPOSettings(num_generations=1))
    with pytest.raises(ConfigError, match=r"'sft\.replay'.*pretrain\.enabled=true \(or sft\.replay=0\)"):
        DemoConfig.from_overrides(["pretrain.enabled=false"])
    assert not DemoConfig.from_overrides(["pretrain.enabled=false", "sft.replay=0"]).pretrain.enabled
    with pytest.raises(ConfigError, match=r"'data\.instructions': must be a non-empty subset of describe, "):
        DemoConfig.from_overrides(["data.instructions=[describe,pairing]"])
    assert DemoConfig.from_overrides(["data.instructions=[choose]"]).data.instructions == ["choose"]
    with pytest.raises(ConfigError, match=r"'sft\.steps': must be at least 1, got 0"):
        DemoConfig.from_overrides(["sft.steps=0"])
    quick = DemoConfig.quick_variant()
    assert quick.quick and quick.sft.steps < DemoConfig().sft.steps


def _other(value):
    """Return a value of the same type that differs from ``value`` (validity does not matter here)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, list):
        return [*value, value[0] if value else "x"]
    assert value is None, value
    return 1


def test_every_setting_reaches_its_stage_hash():
    """A stage hashes its whole section, so no section field can be left out; the run-wide fields a
    stage needs are named by its section, and out/quick (where the run goes, the --quick flag whose
    settings arrive through the sections) reach none."""
    import copy
    import dataclasses

    assert [f.name for f in dataclasses.fields(DemoConfig)] == [*RUN_WIDE, *SECTIONS]
    assert {s.kind for s in demo_stages()} == set(SECTIONS), "every stage kind is a section"
    config = DemoConfig.quick_variant()
    for kind, cls in SECTIONS.items():
        assert isinstance(getattr(config, kind), cls)
        for f in dataclasses.fields(cls):
            changed = copy.deepcopy(config)
            setattr(getattr(changed, kind), f.name, _other(getattr(getattr(config, kind), f.name)))
            assert changed.stage_params(kind) != config.stage_params(kind), f"{kind}.{f.name}"
            # and no other section's stage sees it
            for other in SECTIONS.keys() - {kind}:
                assert changed.stage_params(other) == config.stage_params(other), (kind, f.name, other)
    used = {name for cls in SECTIONS.values() for name in cls.RUN_FIELDS}
    assert used == {"seed", "threads"} and used | {"out", "quick"} == set(RUN_WIDE)
    for name in used:
        changed = dataclasses.replace(config, **{name: getattr(config, name) + 1})
        for kind, cls in SECTIONS.items():
            assert (changed.stage_params(kind) != config.stage_params(kind)) == (name in cls.RUN_FIELDS)


def _stale_after(config: DemoConfig, changed: DemoConfig, paths: DemoPaths) -> set[str]:
    """Mark every stage done with ``config`` (no training: markers only), then return the stages a run
    with ``changed`` redoes: a stage whose hash differs, which gives it a new run id that the stages
    reading it hash in turn, as the pipeline does."""
    from geor1.demo.config import params_hash
    from geor1.io import write_json

    def mark(cfg: DemoConfig, tag: str) -> set[str]:
        redone = set()
        for stage in demo_stages():
            digest, _ = stage_hash(cfg, paths, stage)
            marker = read_marker(paths, stage.name)
            if marker is None or marker["params_hash"] != digest:
                redone.add(stage.name)
                run_id = params_hash({"hash": digest, "run": tag})
                write_json(paths.stages / f"{stage.name}.json", {"params_hash": digest, "run_id": run_id})
        return redone

    assert len(mark(config, "first")) == len(demo_stages())
    assert mark(config, "again") == set(), "unchanged settings redo nothing"
    return mark(changed, "changed")


EVALS = {f"eval_{name}" for name, _ in MODELS}


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("data.k", 3, {"data", "pretrain", "cot", "sft", "sft_grpo", "grpo", *EVALS, "report"}),
        ("model.hidden", 64, {"model", "pretrain", "sft", "sft_grpo", "grpo", *EVALS, "report"}),
        ("pretrain.instruct_lr", 1e-3, {"pretrain", "sft", "sft_grpo", "grpo", *EVALS, "report"}),
        ("cot.words", "cover_continent", {"cot", "sft", "sft_grpo", "eval_sft", "eval_sft_grpo", "report"}),
        ("sft.lr", 1e-3, {"sft", "sft_grpo", "eval_sft", "eval_sft_grpo", "report"}),
        ("grpo.lr", 1e-3, {"sft_grpo", "grpo", "eval_sft_grpo", "eval_grpo", "report"}),
        ("eval.batch", 4, {*EVALS, "report"}),
        ("report.n_examples", 5, {"report"}),
    ],
)
def test_a_changed_section_redoes_its_stage_and_what_reads_it(tmp_path, key, value, expected):
    config = DemoConfig.quick_variant(out=tmp_path)
    changed = config.with_values({key: value})
    assert changed.get(key) == value and config.get(key) != value
    assert _stale_after(config, changed, DemoPaths(tmp_path)) == expected


def test_changed_threads_redo_the_torch_stages_only(tmp_path):
    import dataclasses

    config = DemoConfig.quick_variant(out=tmp_path)
    stale = _stale_after(config, dataclasses.replace(config, threads=2), DemoPaths(tmp_path))
    assert stale == {"pretrain", "sft", "sft_grpo", "grpo", *EVALS, "report"}


def test_same_seed_gives_the_same_results_whatever_the_schedule(quick_run, tmp_path):
    """A sequential run (1 worker) reproduces the 2-worker run's evaluations exactly."""
    out, _ = quick_run
    again = tmp_path / "sequential"
    result = CliRunner().invoke(
        build_app(), ["demo", "--quick", "--out", str(again), "--seed", "0", "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    for name, _ in MODELS:
        for task in ("pairing", "geolocation", "chain"):
            first = json.loads((out / "eval" / name / "eval" / f"{task}.json").read_text())
            second = json.loads((again / "eval" / name / "eval" / f"{task}.json").read_text())
            assert [e.get("completion") for e in first["examples"]] == [
                e.get("completion") for e in second["examples"]
            ], (name, task)


def test_compact_cot_states_the_template_teachers_verdicts(quick_run):
    """Every compact trace names one cover word per image and says yes exactly for the answer letter."""
    from geor1.cot.filter import split_completion

    out, _ = quick_run
    rows = [json.loads(line) for line in (out / "cot" / "cot.jsonl").read_text().splitlines()]
    assert rows
    assert {row["task"] for row in rows} == set(DemoConfig.quick_variant().data.scaffold_tasks)
    for row in rows:
        think, answer = split_completion(row["completion"][0]["content"])
        assert answer == row["solution"] and think.startswith("query: ")
        if row["task"] == "geolocation":
            meta = row["meta"]
            where = [
                meta[k] for k in ("lat_band", "hemisphere_ns", "hemisphere_ew", "continent") if meta.get(k)
            ]
            assert think.endswith(". " + ", ".join(where) + ".") and re.fullmatch(
                r"\(-?[\d.]+, -?[\d.]+\)", answer
            )
            continue
        clauses = dict(re.findall(r"([A-D]): [a-z ]+, (yes|no)\.", think))
        assert think.startswith("query: ") and len(clauses) == 4
        assert [letter for letter, verdict in clauses.items() if verdict == "yes"] == [row["solution"]]


def test_set_overrides_settings_and_names_a_bad_key(tmp_path):
    config = DemoConfig.from_overrides(
        ["grpo.steps=7", "grpo.reward_funcs=[accuracy]", "grpo.reward_weights=[1.0]"]
    )
    assert config.grpo.steps == 7 and config.grpo.reward_funcs == ["accuracy"]
    assert config.grpo.reward_weights == [1.0]
    result = CliRunner().invoke(build_app(), ["demo", "--out", str(tmp_path / "x"), "--set", "grpo.stesp=7"])
    assert result.exit_code == 2
    assert result.output == (
        "error: config key 'grpo.stesp': not a demo setting (section.field, see "
        "geor1.demo.config.DemoConfig); did you mean 'grpo.steps'?\n"
    )
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("setting", "line"),
    [
        (
            "sft.stepz=1",
            "error: config key 'sft.stepz': not a demo setting (section.field, see "
            "geor1.demo.config.DemoConfig); did you mean 'sft.steps'?",
        ),
        (  # the flat key of earlier versions points at its section
            "sft_steps=100",
            "error: config key 'sft_steps': not a demo setting (section.field, see "
            "geor1.demo.config.DemoConfig); did you mean 'sft.steps'?",
        ),
        ("sft.steps=abc", "error: config key 'sft.steps': invalid int value: 'abc'"),
        ("grpo.lr=[1, 2]", "error: config key 'grpo.lr': invalid float value: '[1, 2]'"),
        ("cot.words=nouns", "error: config key 'cot.words': must be cover or cover_continent, got 'nouns'"),
        ("sft.steps", "error: config key 'sft.steps': expected section.field=value"),
        ("seed=3", "error: option --seed: not a --set key (it has an option of its own)"),
    ],
)
def test_a_bad_set_is_one_error_line_and_exit_2(tmp_path, setting, line):
    result = CliRunner().invoke(build_app(), ["demo", "--out", str(tmp_path / "x"), "--set", setting])
    assert result.exit_code == 2, result.output
    assert result.output == line + "\n"
    assert not (tmp_path / "x").exists()


def test_set_values_are_typed_by_their_field():
    config = DemoConfig.from_overrides(
        ["grpo.lr=1e-3", "pretrain.enabled=true", "sft.replay=0.25", "data.test_pairing_limit=null",
         "eval.tasks=pairing,chain", "grpo.reward_weights=[1, 0.5]", "model.hidden=64"],
        quick=True,
    )  # fmt: skip
    assert config.grpo.lr == 1e-3 and isinstance(config.grpo.lr, float)
    assert config.pretrain.enabled is True and config.sft.replay == 0.25
    assert config.data.test_pairing_limit is None and config.eval.tasks == ["pairing", "chain"]
    assert config.grpo.reward_weights == [1.0, 0.5] and all(
        isinstance(w, float) for w in config.grpo.reward_weights
    )
    assert config.model.hidden == 64
    # settings not named keep the variant's values
    assert config.quick and config.data.places == DemoConfig.quick_variant().data.places
    # typed Python values take the same path
    assert (
        DemoConfig().with_values({"grpo.lr": 1e-3, "data.k": 3}).to_dict()
        == DemoConfig.from_overrides(["grpo.lr=0.001", "data.k=3"]).to_dict()
    )


def test_every_section_field_is_a_set_key():
    import dataclasses

    names = setting_names()
    assert len(names) == len(set(names)) == sum(len(dataclasses.fields(c)) for c in SECTIONS.values())
    assert {"sft.steps", "grpo.lr", "pretrain.enabled", "data.scaffold_tasks", "eval.n_boot"} <= set(names)


def test_saved_config_is_the_nested_form(tmp_path):
    import dataclasses

    config = DemoConfig.from_overrides(["sft.steps=9"], out=tmp_path, seed=2)
    data = config.to_dict()
    assert list(data) == [*RUN_WIDE, *SECTIONS]
    assert data["out"] == str(tmp_path) and data["seed"] == 2 and data["sft"]["steps"] == 9
    assert json.loads(json.dumps(data)) == data
    rebuilt = DemoConfig(
        **{k: data[k] for k in RUN_WIDE}, **{k: cls(**data[k]) for k, cls in SECTIONS.items()}
    )
    assert dataclasses.asdict(rebuilt) == dataclasses.asdict(config)


def test_reproduce_command_round_trips_every_changed_setting():
    import shlex

    from geor1.demo.report import reproduce_command

    config = DemoConfig.from_overrides(
        [
            "grpo.steps=9",
            "grpo.reward_funcs=[accuracy, format, length]",
            "grpo.reward_weights=[1, 0.5, 0.25]",
        ],
        quick=True,
        threads=2,
        seed=3,
    )
    argv = shlex.split(reproduce_command(config, DemoPaths(config.out)))
    assert argv[:2] == ["geo-r1", "demo"] and "--quick" in argv
    assert argv[argv.index("--threads") + 1] == "2" and argv[argv.index("--seed") + 1] == "3"
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    assert len(sets) == 3
    again = DemoConfig.from_overrides(sets, quick=True, threads=2, seed=3)
    assert again.to_dict() == config.to_dict()
    plain = DemoConfig()
    assert "--set" not in reproduce_command(plain, DemoPaths(plain.out))


def _pairing_doc(correct: list[bool], parsed: int | None = None) -> dict:
    n = len(correct)
    return {
        "metrics": {"n": n, "n_parsed": n if parsed is None else parsed, "accuracy": sum(correct) / n},
        "headline": [
            {"metric": "accuracy", "statistic": "mean", "values": [float(c) for c in correct]},
        ],
        "examples": [{"id": f"e{i}"} for i in range(n)],
    }


def test_findings_are_computed_from_the_results():
    """The findings describe the numbers they are given: each target is checked against its own gain and
    paired CI, a GRPO that hurts is called so, an RL-only run that learned is not told it could not start,
    and the base model's parse share is measured."""
    from geor1.demo.report import findings

    config = DemoConfig(eval=EvalSettings(n_boot=200))
    n = 200
    sft = [i % 2 == 0 for i in range(n)]  # 50 %
    worse = [i % 5 == 0 for i in range(n)]  # 20 %, below SFT on every resample
    docs = {
        "base": {"pairing": _pairing_doc([False] * n, parsed=30)},
        "sft": {"pairing": _pairing_doc(sft)},
        "sft_grpo": {"pairing": _pairing_doc(worse)},
        "grpo": {"pairing": _pairing_doc(sft)},
    }
    table = {m: {"pairing": {"value": d["pairing"]["metrics"]["accuracy"]}} for m, d in docs.items()}
    learned = {
        "grpo": {"summary": {"final_accuracy": 0.4, "final_zero_std_share": 0.2}},
        "data": {"summary": {"nearest_colour_accuracy": {"satellite->context": 0.77}}},
        "pretrain": {"summary": {"vision": {"pairing_by_cosine": 0.976}}},
    }
    text = "\n".join(findings(config, docs, table, 0.25, learned))
    assert "lowered pairing accuracy" in text
    assert "(GRPO without SFT − base ≥ +10 pp on pairing, paired CI above zero): met — +50.0 pp" in text
    assert "(SFT+GRPO − SFT ≥ +5 pp on pairing, paired CI above zero): NOT met — -30.0 pp" in text
    assert (
        "(SFT+GRPO pairing accuracy ≥ 60%): NOT met — 20.0%, chance 25%; the nearest-mean-colour rule 77.0%; "
        "the contrastive vision tower alone, by cosine 97.6%." in text
    )
    assert "15% of its answers name a letter" in text
    assert "could not start" not in text and "0.400" in text
    stuck = {"grpo": {"summary": {"final_accuracy": 0.0, "final_zero_std_share": 1.0}}}
    assert "could not start" in "\n".join(findings(config, docs, table, 0.25, stuck))


def test_compact_teacher_writes_coarse_to_fine_geolocation_traces(quick_run):
    """The opt-in geolocation scaffolding: cover word, then band, hemispheres and continent from the
    place's metadata, and the true coordinates as the answer."""
    from geor1.cot.filter import split_completion
    from geor1.cot.places import PlaceLookup
    from geor1.cot.teachers.base import TeacherJob
    from geor1.demo.cot import CompactTemplateTeacher, cover_word
    from geor1.records import read_task_file

    out, _ = quick_run
    teacher = CompactTemplateTeacher(PlaceLookup.from_jsonl(out / "data" / "earth" / "places.jsonl"))
    examples = [e.to_dict() for e in read_task_file(out / "data" / "geolocation_test.jsonl")]
    results = list(teacher.generate([TeacherJob(e, 0, seed=i) for i, e in enumerate(examples)]))
    assert results and all(r.text for r in results)
    for example, result in zip(examples, results, strict=True):
        meta = example["meta"]
        think, answer = split_completion(result.text)
        where = [meta[k] for k in ("lat_band", "hemisphere_ns", "hemisphere_ew", "continent") if meta.get(k)]
        assert think == f"query: {cover_word(meta)}. " + ", ".join(where) + "."
        assert answer == example["solution"]
    both = DemoConfig(data=DataSettings(scaffold_tasks=["pairing", "geolocation"]))
    assert both.data.scaffold_tasks[1] == "geolocation"
    with pytest.raises(ConfigError, match=r"'data\.scaffold_tasks'"):
        DemoConfig(data=DataSettings(scaffold_tasks=["geolocation"]))


def _places_in(path) -> set[str]:
    """Return every place a task, CoT or view file mentions: example places, candidate places, and the
    place folder of every image it shows (``…/images/<place>/<view>.png``)."""
    from pathlib import PurePosixPath

    places: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        meta = row.get("meta") or {}
        places.update(p for p in [row.get("place"), meta.get("place")] if isinstance(p, str))
        places.update(meta.get("candidate_places") or [])
        images = row.get("images") or ([row["image"]] if isinstance(row.get("image"), str) else [])
        places.update(PurePosixPath(image).parent.name for image in images)
    return places


def test_held_out_places_appear_in_no_file_any_training_stage_read(quick_run):
    out, _ = quick_run
    paths = DemoPaths(out)
    training = [paths.pairing_train, paths.scaffold_train, paths.cot, paths.instruct_train]
    held_out = [paths.pairing_test, paths.geolocation_test, paths.chain_views]
    seen = set().union(*(_places_in(p) for p in training if p.exists()))
    tested = set().union(*(_places_in(p) for p in held_out))
    assert seen and tested
    assert not seen & tested, sorted(seen & tested)[:5]
    # the GRPO runs read the pairing training file, and nothing else: their resolved configs name it
    for name in ("sft_grpo", "grpo"):
        files = (out / "models" / name / "config_resolved.yaml").read_text(encoding="utf-8")
        assert str(paths.pairing_train) in files and str(paths.pairing_test) not in files


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_each_training_stage_saved_weights_that_differ_from_its_start(quick_run):
    import torch

    out, _ = quick_run
    paths = DemoPaths(out)
    for start, trained in (("base", "sft"), ("sft", "sft_grpo"), ("base", "grpo")):
        before, after = _weights(paths.model(start)), _weights(paths.model(trained))
        assert before.keys() == after.keys()
        changed = [k for k in before if not torch.equal(before[k], after[k])]
        records = [json.loads(x) for x in (paths.model(trained) / "metrics.jsonl").read_text().splitlines()]
        had_gradient = any((r.get("grad_norm") or 0) > 0 for r in records)
        # A run whose every step had a zero gradient (all rewards of every group tie) must leave the
        # weights as they were; any other run must save what it trained.
        assert bool(changed) == had_gradient, (trained, len(changed), had_gradient)
    assert any(
        (json.loads(x).get("grad_norm") or 0) > 0
        for x in (paths.model("sft_grpo") / "metrics.jsonl").read_text().splitlines()
    ), "the quick SFT+GRPO run never had a gradient, so this test checks nothing for it"


def test_nearest_colour_rule_picks_the_candidate_whose_mean_colour_is_the_querys(pairing_jsonl):
    from geor1.demo.stages import nearest_colour_accuracy

    examples = [json.loads(line) for line in pairing_jsonl.read_text().splitlines()]
    root = pairing_jsonl.parent
    assert nearest_colour_accuracy(examples, root) == 1.0
    for example in examples:  # the letter after the answer's: the rule must now be wrong on every one
        example["solution"] = "ABCD"[("ABCD".index(example["solution"]) + 1) % 4]
    assert nearest_colour_accuracy(examples, root) == 0.0
    assert nearest_colour_accuracy([], root) is None


def test_grpo_learns_trains_on_the_same_view_variant_and_prints_its_curve(quick_run, tmp_path):
    """benchmarks/grpo_learns.py on a finished demo run: the variant's positive is the query image itself
    among views of the query's kind of four places, GRPO saves a checkpoint per step, and every checkpoint
    is evaluated on the held-out variant."""
    import subprocess
    import sys
    from pathlib import Path

    run, _ = quick_run
    out = tmp_path / "learns"
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "grpo_learns.py"
    args = [sys.executable, str(script), "--run", str(run), "--steps", "2", "--every", "1", "--out", str(out)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    lines = (out / "same-view_test.jsonl").read_text(encoding="utf-8").splitlines()
    source = (run / "data" / "pairing_test.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(source) > 0
    for line, original in zip(lines, source, strict=True):
        example, original = json.loads(line), json.loads(original)
        images = [(out / rel).resolve() for rel in example["images"]]
        assert all(image.is_file() and image.name == "satellite.png" for image in images)
        assert images[1 + example["meta"]["answer_index"]] == images[0]
        assert [i.parent.name for i in images] == [Path(rel).parent.name for rel in original["images"]]
        labels = [
            b["text"] for b in example["prompt"][0]["content"] if (b["text"] or "").startswith("Candidate")
        ]
        assert labels == [f"Candidate {letter} (satellite view):" for letter in "ABCD"]
        assert example["solution"] == original["solution"]
    assert (out / "model" / "checkpoint-1").is_dir()
    curve = json.loads((out / "summary.json").read_text(encoding="utf-8"))["curve"]
    assert [point["step"] for point in curve] == [0, 1, 2]
    assert all(0.0 <= point["accuracy"] <= 1.0 for point in curve)
    rows = [line for line in done.stdout.splitlines() if re.match(r"^\| [012] \| \d", line)]
    assert len(rows) == 3, done.stdout
    assert "held-out queries" in done.stdout
