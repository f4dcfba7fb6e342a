"""The demo's stages, one function each, every one calling geor1's own Python API: offline Earth and
tasks, tiny model, template-teacher CoT, SFT, GRPO, evaluation. Each returns a small JSON-safe summary
(counts, final metrics) that the pipeline stores in the stage's done-marker and the report reads."""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geor1.demo.config import DemoConfig
from geor1.parsing import OPTION_LETTERS


@dataclass(frozen=True)
class DemoPaths:
    """Where every stage of a demo run writes, under one output folder."""

    root: Path

    @property
    def data(self) -> Path:
        """Return the folder of the Earth build and the task files."""
        return self.root / "data"

    @property
    def earth(self) -> Path:
        """Return the offline Earth build (views.jsonl, places.jsonl, images/)."""
        return self.data / "earth"

    @property
    def pairing_train(self) -> Path:
        """Return the pairing examples of the training places (every round)."""
        return self.data / "pairing_train.jsonl"

    @property
    def scaffold_train(self) -> Path:
        """Return the training examples the CoT teacher explains (pairing, plus geolocation if asked)."""
        return self.data / "scaffold_train.jsonl"

    @property
    def instruct_train(self) -> Path:
        """Return the single-view instruction examples of the training places (pretraining data)."""
        return self.data / "instruct_train.jsonl"

    @property
    def sft_replay(self) -> Path:
        """Return the instruction examples mixed into the SFT data (a seeded share of instruct_train)."""
        return self.data / "sft_replay.jsonl"

    @property
    def pairing_test(self) -> Path:
        """Return the pairing examples of the held-out places."""
        return self.data / "pairing_test.jsonl"

    @property
    def geolocation_test(self) -> Path:
        """Return the geolocation examples of the held-out places."""
        return self.data / "geolocation_test.jsonl"

    @property
    def chain_views(self) -> Path:
        """Return the view manifest of the held-out places the place chain asks about."""
        return self.data / "chain_views.jsonl"

    @property
    def cot(self) -> Path:
        """Return the CoT exemplars (append-only, resumable)."""
        return self.root / "cot" / "cot.jsonl"

    def model(self, name: str) -> Path:
        """Return the folder of a model: init (random weights), vision (contrastively pretrained tower),
        or one of the compared models (base, sft, sft_grpo, grpo)."""
        return self.root / "models" / name

    @property
    def eval_root(self) -> Path:
        """Return the folder holding one eval run per model (``<name>/eval/<task>.json``)."""
        return self.root / "eval"

    def eval_dir(self, name: str) -> Path:
        """Return the eval folder of one model."""
        return self.eval_root / name / "eval"

    @property
    def stages(self) -> Path:
        """Return the folder of the stage done-markers."""
        return self.root / "stages"


def set_threads(config: DemoConfig) -> None:
    """Use ``config.threads`` torch/OpenMP threads (a tiny model gains nothing from more, and spinning
    threads on a busy machine slow every step down several times)."""
    import torch

    os.environ["OMP_NUM_THREADS"] = str(config.threads)
    torch.set_num_threads(config.threads)


# ----------------------------------------------------------------------------------------------- data


def build_data(config: DemoConfig, paths: DemoPaths) -> dict[str, Any]:
    """Build the offline Earth and the task files: pairing train (``data.train_rounds`` draws of negatives
    per training place) and test, geolocation test and the place-chain manifest, all split by place."""
    from geor1.builders.common import load_view_set, write_task_set
    from geor1.builders.describe import InstructionConfig, build_instructions
    from geor1.builders.geolocation import GeolocationConfig, build_geolocation
    from geor1.builders.pairing import PairingConfig, build_pairing
    from geor1.builders.split import SplitConfig, assign_splits, places_in_split
    from geor1.records import View, write_views
    from geor1.sources.earth import EarthConfig, build_earth, is_complete_build

    earth_config = EarthConfig(places=config.data.places, seed=config.seed)
    # The demo owns its Earth folder: a build made with other settings is replaced, not refused.
    manifest = build_earth(
        paths.earth, earth_config, force=not is_complete_build(paths.earth, earth_config), progress=False
    )
    views = load_view_set(manifest)
    assignment = assign_splits(
        views.views, SplitConfig(by="place", test_fraction=config.data.test_fraction, seed=config.seed)
    )
    train_places = places_in_split(assignment, "train")
    test_places = places_in_split(assignment, "test")

    def pairing(
        seed: int, places: set[str] | None, split: str, limit: int | None = None, candidate_view: str = ""
    ) -> list[dict]:
        pairing_config = PairingConfig(
            query_view=config.data.query_view,
            candidate_view=candidate_view or config.data.candidate_view,
            k=config.data.k,
            band=config.data.band,
            seed=seed,
            limit=limit,
        )
        examples, _ = build_pairing(views, pairing_config, paths.data, places=places, split=split)
        return examples

    train: list[dict[str, Any]] = []
    for round_ in range(config.data.train_rounds):
        for example in pairing(config.seed * 1000 + round_, train_places, "train"):
            example["id"] = f"{example['id']}#r{round_}"
            example["meta"]["round"] = round_
            train.append(example)
    test = pairing(config.seed * 1000 + 999, test_places, "test", config.data.test_pairing_limit)
    scaffold = list(train)
    if "geolocation" in config.data.scaffold_tasks:
        scaffold += build_geolocation(
            views,
            GeolocationConfig(views=[config.data.query_view], seed=config.seed),
            paths.data,
            places=train_places,
            split="train",
        )
        random.Random(config.seed).shuffle(scaffold)
    geoloc = build_geolocation(
        views,
        GeolocationConfig(views=[config.data.query_view], seed=config.seed, limit=config.data.geoloc_limit),
        paths.data,
        places=test_places,
        split="test",
    )
    instructions = build_instructions(
        views,
        InstructionConfig(
            views=[config.data.query_view, config.data.candidate_view],
            kinds=config.data.instructions,
            seed=config.seed,
        ),
        paths.data,
        places=train_places,
        split="train",
    )
    write_task_set(paths.instruct_train, instructions)
    write_task_set(paths.pairing_train, train)
    write_task_set(paths.scaffold_train, scaffold)
    write_task_set(paths.pairing_test, test)
    write_task_set(paths.geolocation_test, geoloc)

    # The chain asks about held-out places, one view each (the query kind): a subset manifest whose image
    # paths are relative to the data folder.
    chosen = sorted({views.views[i].place for i in views.of_kind(config.data.query_view)} & test_places)
    chosen = chosen[: config.data.chain_places]
    chain = [
        View(
            id=v.id,
            image=views.image_relative_to(i, paths.data),
            lat=v.lat,
            lon=v.lon,
            view=v.view,
            place=v.place,
            meta=v.meta,
        )
        for i, v in enumerate(views.views)
        if v.view == config.data.query_view and v.place in chosen
    ]
    write_views(paths.chain_views, chain)
    # How much of each pairing task plain colour solves, with no learning: the reason for the view pair.
    baseline: dict[str, float | None] = {}
    for kind in dict.fromkeys([config.data.candidate_view, *BASELINE_KINDS]):
        if kind == config.data.query_view or kind not in views.kinds():
            continue
        examples = (
            test
            if kind == config.data.candidate_view
            else pairing(
                config.seed * 1000 + 999,
                test_places,
                "test",
                config.data.test_pairing_limit,
                candidate_view=kind,
            )
        )
        baseline[f"{config.data.query_view}->{kind}"] = nearest_colour_accuracy(examples, paths.data)
    return {
        "places": len(assignment),
        "train_places": len(train_places or ()),
        "test_places": len(test_places or ()),
        "instruct_train": len(instructions),
        "pairing_train": len(train),
        "scaffold_train": len(scaffold),
        "pairing_test": len(test),
        "geolocation_test": len(geoloc),
        "chain_places": len(chain),
        "nearest_colour_accuracy": baseline,
    }


BASELINE_KINDS = ("context", "terrain", "landcover")


def nearest_colour_accuracy(examples: list[dict[str, Any]], root: Path) -> float | None:
    """Return the accuracy of a rule that learns nothing: pick the candidate whose mean RGB colour is
    nearest to the query's (how much of a pairing task plain colour solves)."""
    import numpy as np

    from geor1.images import open_image

    cache: dict[str, Any] = {}

    def mean_colour(rel: str) -> Any:
        if rel not in cache:
            cache[rel] = np.asarray(open_image(root / rel), dtype=np.float64).reshape(-1, 3).mean(axis=0)
        return cache[rel]

    if not examples:
        return None
    right = 0
    for example in examples:
        query, *candidates = (mean_colour(p) for p in example["images"])
        chosen = int(np.argmin([np.linalg.norm(query - c) for c in candidates]))
        right += OPTION_LETTERS[chosen] == example["solution"]
    return round(right / len(examples), 4)


# ---------------------------------------------------------------------------------------------- model


def make_model(config: DemoConfig, paths: DemoPaths) -> dict[str, Any]:
    """Save a freshly initialised tiny Qwen2.5-VL (weights fixed by the seed) as models/init."""
    from geor1.models import TinySpec, load_model, load_processor, save_tiny_model, visual_tokens_per_image

    spec = TinySpec(
        arch="qwen2_5_vl",
        hidden=config.model.hidden,
        layers=config.model.layers,
        heads=config.model.heads,
        kv_heads=config.model.kv_heads,
        intermediate=config.model.intermediate,
        vision_dim=config.model.vision_dim,
        vision_depth=config.model.vision_depth,
        vocab_size=config.model.vocab_size,
        min_pixels=config.model.min_pixels,
        max_pixels=config.model.max_pixels,
        seed=config.seed,
    )
    spec.check()
    folder = save_tiny_model(spec, paths.model("init"))
    model, processor = load_model(folder, dtype="float32"), load_processor(folder)
    return {
        "folder": str(folder),
        "parameters": sum(p.numel() for p in model.parameters()),
        "visual_tokens_per_image": visual_tokens_per_image(processor, 112, 112),
    }


# ------------------------------------------------------------------------------------------------ cot


def make_cot(config: DemoConfig, paths: DemoPaths) -> dict[str, Any]:
    """Write filtered template-teacher CoT exemplars for the scaffolding examples (resumable)."""
    from geor1.cot.filter import CotFilter, FilterConfig
    from geor1.cot.places import PlaceLookup
    from geor1.cot.runner import CotRunConfig, CotRunner
    from geor1.cot.teachers.template import TemplateTeacher
    from geor1.demo.cot import CompactTemplateTeacher

    places = PlaceLookup.from_jsonl(paths.earth / "places.jsonl")
    teacher = (
        CompactTemplateTeacher(places, config.cot.words)
        if config.cot.style == "compact"
        else TemplateTeacher(places)
    )
    # Compact traces are short by design; every training place appears in several rounds with other
    # negatives, so near-duplicate removal (which would drop those rounds) is off.
    filter_ = CotFilter(
        FilterConfig(min_think_words=5 if config.cot.style == "compact" else 20, near_duplicate_threshold=1.0)
    )
    paths.cot.parent.mkdir(parents=True, exist_ok=True)
    summary = CotRunner(teacher, filter_, CotRunConfig(seed=config.seed, progress=False)).run(
        paths.scaffold_train, paths.cot
    )
    kept = sum(1 for _ in paths.cot.open(encoding="utf-8")) if paths.cot.exists() else 0
    if kept == 0:
        from geor1.errors import GeoR1Error

        raise GeoR1Error(f"the teacher kept no CoT exemplar (rejections: {dict(summary.rejections)})")
    return {
        "teacher": teacher.describe()["name"],
        "examples": summary.examples,
        "kept": kept,
        "rejections": dict(summary.rejections),
    }


# ------------------------------------------------------------------------------------------- training


# The tiny CPU recipes are the base of every training stage; the demo overlays its own settings.
RECIPES = {"sft": "sft_tiny_cpu.yaml", "grpo": "grpo_tiny_cpu.yaml"}
# Stage kind -> the recipe its training starts from (pretrain: the single-view instruction SFT).
STAGE_RECIPES = {"pretrain": "sft", "sft": "sft", "grpo": "grpo"}


def recipe_path(kind: str) -> Path:
    """Return the packaged tiny CPU recipe of a run kind ("sft" or "grpo")."""
    from geor1.train.config import recipes_dir

    return recipes_dir() / RECIPES[kind]


def recipe_params(stage_kind: str) -> dict[str, Any] | None:
    """Return the settings of the recipe a demo stage of ``stage_kind`` trains from (None for stages that
    train nothing), so that an edited recipe redoes that stage."""
    import yaml

    if stage_kind not in STAGE_RECIPES:
        return None
    return yaml.safe_load(recipe_path(STAGE_RECIPES[stage_kind]).read_text(encoding="utf-8"))


def _train(
    kind: str, config: DemoConfig, out: Path, settings: dict[str, Any], callbacks: list[Any] | None
) -> Any:
    """Train like ``geo-r1 sft/grpo``: the tiny CPU recipe of ``kind`` with the demo's ``settings`` on top,
    parsed by ``load_config``, run by ``run_sft``/``run_grpo`` (run folder, config.yaml, metrics.jsonl,
    saved model) into ``out``; return the trainer."""
    from geor1.train.config import load_config

    overlay = {
        "env": {"OMP_NUM_THREADS": str(config.threads)},
        "min_pixels": config.model.min_pixels,
        "max_pixels": config.model.max_pixels,
        "seed": config.seed,
        "data_seed": config.seed,
        "output_dir": str(out),
        "save_strategy": "no",  # the final model only
        "disable_tqdm": True,  # the demo draws its own progress
        **settings,
    }
    mapping, (script, model_args, args) = load_config(kind, recipe_path(kind), settings=overlay)
    if kind == "sft":
        from geor1.train.sft import run_sft

        return run_sft(script, model_args, args, mapping, callbacks=callbacks, quiet=True)
    from geor1.train.grpo import run_grpo

    return run_grpo(script, model_args, args, mapping, callbacks=callbacks, quiet=True)


def _metrics(out: Path) -> list[dict[str, Any]]:
    """Return the records of a run's metrics.jsonl ([] when missing)."""
    path = out / "metrics.jsonl"
    return [json.loads(line) for line in path.open(encoding="utf-8")] if path.exists() else []


def _run_sft(
    config: DemoConfig,
    init: Path,
    train_files: list[Path],
    out: Path,
    *,
    steps: int,
    lr: float,
    batch: int,
    callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    """Supervised fine-tuning of ``init`` on ``train_files`` (the SFT recipe with these settings); saved
    in ``out``."""
    settings = {
        "model_name_or_path": str(init),
        "train_file": [str(f) for f in train_files],
        "learning_rate": lr,
        "lr_scheduler_type": "cosine",
        "warmup_steps": max(1, steps // 20),
        "per_device_train_batch_size": batch,
        "max_steps": steps,
    }
    trainer = _train("sft", config, out, settings, callbacks)
    loss = next(r["train_loss"] for r in reversed(_metrics(out)) if "train_loss" in r)
    return {"steps": trainer.state.global_step, "train_loss": round(float(loss), 4)}


def pretrain_base(config: DemoConfig, paths: DemoPaths, callbacks: list[Any] | None = None) -> dict[str, Any]:
    """The base model (models/base): with ``pretrain.enabled``, the random tiny model's vision tower
    pretrained contrastively on views of the training places (models/vision), then single-view instruction
    SFT (describe a view, locate it) so it answers in the think/answer format; no pairing example is used.
    Without it, the random tiny model itself."""
    from geor1.records import read_task_file
    from geor1.train.contrastive import ContrastiveConfig, pretrain_vision, retrieval_accuracy

    if not config.pretrain.enabled:
        import shutil

        shutil.rmtree(paths.model("base"), ignore_errors=True)
        shutil.copytree(paths.model("init"), paths.model("base"))
        return {"pretrained": False}
    train_places = {str(e.meta["place"]) for e in read_task_file(paths.instruct_train, check_images=False)}
    vision = pretrain_vision(
        paths.model("init"),
        paths.earth / "views.jsonl",
        paths.model("vision"),
        ContrastiveConfig(
            kinds=[config.data.query_view, config.data.candidate_view],
            steps=config.pretrain.contrastive_steps,
            batch=min(config.pretrain.contrastive_batch, len(train_places)),
            lr=config.pretrain.contrastive_lr,
            text_weight=config.pretrain.contrastive_text_weight,
            seed=config.seed,
        ),
        places=train_places,
    )
    # How far the tower alone separates held-out places (cosine of the query to each candidate).
    vision["pairing_by_cosine"] = round(retrieval_accuracy(paths.model("vision"), paths.pairing_test), 4)
    instruct = _run_sft(
        config,
        paths.model("vision"),
        [paths.instruct_train],
        paths.model("base"),
        steps=config.pretrain.instruct_steps,
        lr=config.pretrain.instruct_lr,
        batch=config.pretrain.instruct_batch,
        callbacks=callbacks,
    )
    return {"pretrained": True, "vision": vision, "instruct": instruct}


def write_replay(config: DemoConfig, paths: DemoPaths, n_cot: int) -> int:
    """Write the instruction examples mixed into SFT (``sft.replay`` of the mixture, drawn with the seed
    from the single-view ones: the pairing CoT already shows several views in one prompt) and return how
    many; 0 removes the file."""
    from geor1.builders.common import write_task_set
    from geor1.builders.describe import SINGLE_VIEW_KINDS
    from geor1.records import read_task_file

    n = round(n_cot * config.sft.replay / (1.0 - config.sft.replay))
    if n <= 0:
        paths.sft_replay.unlink(missing_ok=True)
        return 0
    pool = [
        e for e in read_task_file(paths.instruct_train, check_images=False) if e.task in SINGLE_VIEW_KINDS
    ]
    chosen = random.Random(config.seed).sample(pool, min(n, len(pool)))
    write_task_set(paths.sft_replay, [e.to_line(paths.sft_replay.parent) for e in chosen])
    return len(chosen)


def train_sft(config: DemoConfig, paths: DemoPaths, callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Scaffolding: SFT of the base model on the CoT exemplars (with a share of the pretraining
    instructions mixed in, so the model keeps describing and locating single views); saved in models/sft."""
    n_cot = sum(1 for _ in paths.cot.open(encoding="utf-8"))
    replay = write_replay(config, paths, n_cot)
    files = [paths.cot] + ([paths.sft_replay] if replay else [])
    summary = _run_sft(
        config,
        paths.model("base"),
        files,
        paths.model("sft"),
        steps=config.sft.steps,
        lr=config.sft.lr,
        batch=config.sft.batch,
        callbacks=callbacks,
    )
    return {**summary, "cot_examples": n_cot, "replay_examples": replay}


def train_grpo(
    config: DemoConfig, paths: DemoPaths, init: str, name: str, callbacks: list[Any] | None = None
) -> dict[str, Any]:
    """Elevating: GRPO on cross-view pairing only, from the model ``init`` (sft or base); saved in
    models/``name``."""
    out = paths.model(name)
    settings = {
        "model_name_or_path": str(paths.model(init)),
        "train_file": [str(paths.pairing_train)],
        "reward_funcs": list(config.grpo.reward_funcs),
        "reward_weights": list(config.grpo.reward_weights),
        "reward_options": {},  # the rewards' own defaults (the recipe sets the length reward's)
        "beta": config.grpo.beta,
        "num_generations": config.grpo.num_generations,
        "max_completion_length": config.grpo.max_completion_length,
        "temperature": config.grpo.temperature,
        "learning_rate": config.grpo.lr,
        "per_device_train_batch_size": config.grpo.prompts * config.grpo.num_generations,
        "max_steps": config.grpo.steps,
    }
    trainer = _train("grpo", config, out, settings, callbacks)
    records = _metrics(out)
    steps = [r for r in records if "reward" in r]
    tail = steps[-max(1, len(steps) // 5) :] if steps else []

    def mean(key: str) -> float | None:
        values = [r[key] for r in tail if isinstance(r.get(key), (int, float))]
        return round(sum(values) / len(values), 4) if values else None

    return {
        "init": init,
        "steps": trainer.state.global_step,
        "final_reward": mean("reward"),
        "final_accuracy": mean("rewards/accuracy/mean"),
        "final_zero_std_share": mean("frac_reward_zero_std"),
    }


# ------------------------------------------------------------------------------------------------ eval


def evaluate_model(config: DemoConfig, paths: DemoPaths, name: str) -> dict[str, Any]:
    """Evaluate one model on the held-out pairing, geolocation and place-chain sets (greedy decoding);
    return each task's headline metrics."""
    from geor1.eval.backends.hf import HFBackend
    from geor1.eval.runner import EvalConfig, run_eval

    eval_config = EvalConfig(
        model=str(paths.model(name)),
        tasks=list(config.eval.tasks),
        data=[
            f"pairing={paths.pairing_test}",
            f"geolocation={paths.geolocation_test}",
            f"chain={paths.chain_views}",
        ],
        run=name,
        runs_dir=paths.eval_root,
        batch_size=config.eval.batch,
        seed=config.seed,
        temperature=0.0,
        max_new_tokens=config.eval.max_new_tokens,
        plots=False,
        n_boot=config.eval.n_boot,
    )
    backend = HFBackend(eval_config.model, batch_size=config.eval.batch)
    try:
        run_eval(eval_config, backend=backend)
    finally:
        backend.close()
    metrics: dict[str, Any] = {"pairing": {}, "geolocation": {}, "chain": {}}
    for task in config.eval.tasks:
        doc = json.loads((paths.eval_dir(name) / f"{task}.json").read_text(encoding="utf-8"))
        metrics[task] = {h["metric"]: _mean_or_median(h) for h in doc["headline"]}
    return {
        "pairing_accuracy": metrics["pairing"].get("accuracy"),
        "geolocation_geoscore": metrics["geolocation"].get("geoscore"),
        "chain_accuracy": metrics["chain"].get("accuracy"),
        "metrics": metrics,
    }


def _mean_or_median(headline: dict[str, Any]) -> float | None:
    import math
    import statistics

    values = [v for v in headline["values"] if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return None
    value = statistics.median(values) if headline["statistic"] == "median" else sum(values) / len(values)
    return round(float(value), 4)
