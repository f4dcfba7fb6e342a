"""``geo-r1 data pairing | geoloc | questions``: build proxy/evaluation task sets from a view manifest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from geor1.commands import field_options
from geor1.commands.data import data_app
from geor1.errors import ConfigError, GeoR1Error

out = Console()

VIEWS_OPT = typer.Option(..., "--views", help="View manifest (JSONL); image paths relative to its folder.")
OUT_OPT = typer.Option(..., "--out", help="Task file to write (JSONL; image paths relative to its folder).")
SPLIT_OPT = typer.Option("all", "--split", help="Which places to use: train, test or all.")
SPLIT_BY_OPT = typer.Option(
    "place", "--split-by", help="Split unit: place, region (lat/lon cell), country, continent."
)
TEST_FRACTION_OPT = typer.Option(0.2, "--test-fraction", help="Share of split keys that go to test.")
REGION_DEG_OPT = typer.Option(10.0, "--region-deg", help="Cell size in degrees for --split-by region.")
SEED_OPT = typer.Option(
    0,
    "--seed",
    help="Sampling seed (negatives, answer letters, --limit subset); the same seeds and inputs give the "
    "same file. It does not move places between train and test (see --split-seed).",
)
SPLIT_SEED_OPT = typer.Option(
    0,
    "--split-seed",
    help="Seed of the train/test split, independent of --seed: keep it the same for every task set of "
    "one experiment so no place is in both splits.",
)
TRAIN_TASKS_OPT = typer.Option(
    None,
    "--train-tasks",
    help="Training task/CoT file(s) this set must not share places with (repeatable): a test set that "
    "shows a place they show is refused.",
)
LIMIT_OPT = typer.Option(None, "--limit", help="Keep at most this many examples (random subset).")
HF_OPT = typer.Option(
    None, "--hf-dataset", help="Also save a 🤗 datasets dataset (images embedded) in this folder."
)


# Config fields of SplitConfig, GeolocationConfig and InstructionConfig whose option has another name.
SPLIT_FIELDS = {"by": "--split-by"}
VIEW_FIELDS = {**SPLIT_FIELDS, "views": "--view"}


def progress(desc: str) -> Callable[[Any], Any]:
    """Return a wrapper that shows a tqdm bar over an iterable."""
    from tqdm import tqdm

    return lambda items: tqdm(items, desc=desc, unit="ex", leave=False)


def _split_places(
    views: Any, split: str, split_by: str, test_fraction: float, region_deg: float, split_seed: int
) -> tuple[set[str] | None, dict[str, Any]]:
    """Return the places of ``split`` (None for all) and the split record each example carries; the
    division depends on ``split_seed`` only."""
    from geor1.builders.split import SplitConfig, split_places, split_record

    config = SplitConfig(by=split_by, test_fraction=test_fraction, seed=split_seed, region_deg=region_deg)
    places = split_places(views.views, split, config, manifest=str(views.manifest), lines=views.lines)
    return places, split_record(config, split)


def _write(
    examples: list[dict[str, Any]],
    out_path: Path,
    hf_dataset: Path | None,
    split_config: dict[str, Any],
    train_tasks: list[Path] | None = None,
    places: Path | None = None,
) -> None:
    from geor1.builders.common import write_task_set
    from geor1.builders.split import check_no_shared_places

    if not examples:
        raise GeoR1Error("no examples to write (see the skip counts above); nothing written")
    for example in examples:  # every task file records how its places were split
        example["meta"]["split_config"] = split_config
    check_no_shared_places([e["meta"] for e in examples], list(train_tasks or []), f"{out_path}")
    n = write_task_set(out_path, examples, hf_dataset=hf_dataset, places=places)
    out.print(
        f"wrote {n} examples to {out_path}" + (f" and a 🤗 dataset to {hf_dataset}" if hf_dataset else "")
    )


def _parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, weight = part.partition("=")
        try:
            mix[name.strip()] = float(weight) if sep else float("nan")
        except ValueError:
            raise ConfigError("mix", f"{part!r} is not band=weight") from None
        if not sep:
            raise ConfigError("mix", f"{part!r} is not band=weight")
    return mix


@data_app.command("pairing")
@field_options(**SPLIT_FIELDS)
def pairing(
    views: Path = VIEWS_OPT,
    out_path: Path = OUT_OPT,
    query_view: str = typer.Option("satellite", "--query-view", help="View kind of the query."),
    candidate_view: str = typer.Option("terrain", "--candidate-view", help="View kind of the candidates."),
    k: int = typer.Option(4, "--k", help="Number of candidates (one positive)."),
    band: str | None = typer.Option(
        None,
        "--band",
        help="Negatives' distance band: easy (>1000 km), medium (100-1000), hard (<100), mixed. "
        "Default: medium (custom when --min-km/--max-km are given).",
    ),
    min_km: float | None = typer.Option(
        None, "--min-km", help="Custom band: minimum distance (km) of negatives."
    ),
    max_km: float | None = typer.Option(
        None, "--max-km", help="Custom band: maximum distance (km) of negatives."
    ),
    mix: str = typer.Option("easy=1,medium=1,hard=1", "--mix", help="Band proportions for --band mixed."),
    direction: str = typer.Option("forward", "--direction", help="forward (query->candidate) or both."),
    strict: bool = typer.Option(
        False, "--strict", help="Fail on a query with too few negatives instead of skipping."
    ),
    split: str = SPLIT_OPT,
    split_by: str = SPLIT_BY_OPT,
    test_fraction: float = TEST_FRACTION_OPT,
    region_deg: float = REGION_DEG_OPT,
    split_seed: int = SPLIT_SEED_OPT,
    seed: int = SEED_OPT,
    limit: int | None = LIMIT_OPT,
    hf_dataset: Path | None = HF_OPT,
    train_tasks: list[Path] | None = TRAIN_TASKS_OPT,
) -> None:
    """Cross-view pairing: a query view and K candidates, one of them at the query's place."""
    from geor1.builders.common import load_view_set
    from geor1.builders.pairing import PairingConfig, build_pairing

    config = PairingConfig(
        query_view=query_view,
        candidate_view=candidate_view,
        k=k,
        band=band,
        min_km=min_km,
        max_km=max_km,
        mix=_parse_mix(mix),
        direction=direction,
        seed=seed,
        limit=limit,
        strict=strict,
    )
    view_set = load_view_set(views)
    places, split_config = _split_places(view_set, split, split_by, test_fraction, region_deg, split_seed)
    examples, report = build_pairing(
        view_set, config, out_path.parent, places=places, split=split, progress=progress("pairing")
    )
    for line in report.lines():
        out.print(line, highlight=False)
    _write(examples, out_path, hf_dataset, split_config, train_tasks, view_set.places_file())


@data_app.command("geoloc")
@field_options(**VIEW_FIELDS)
def geoloc(
    views: Path = VIEWS_OPT,
    out_path: Path = OUT_OPT,
    view: str = typer.Option("satellite", "--view", help="View kind(s) to ask about, comma-separated."),
    split: str = SPLIT_OPT,
    split_by: str = SPLIT_BY_OPT,
    test_fraction: float = TEST_FRACTION_OPT,
    region_deg: float = REGION_DEG_OPT,
    split_seed: int = SPLIT_SEED_OPT,
    seed: int = SEED_OPT,
    limit: int | None = LIMIT_OPT,
    hf_dataset: Path | None = HF_OPT,
    train_tasks: list[Path] | None = TRAIN_TASKS_OPT,
) -> None:
    """Geolocation: one view, answer "(lat, lon)"."""
    from geor1.builders.common import load_view_set
    from geor1.builders.geolocation import GeolocationConfig, build_geolocation

    config = GeolocationConfig(
        views=[v.strip() for v in view.split(",") if v.strip()], seed=seed, limit=limit
    )
    view_set = load_view_set(views)
    places, split_config = _split_places(view_set, split, split_by, test_fraction, region_deg, split_seed)
    examples = build_geolocation(
        view_set, config, out_path.parent, places=places, split=split, progress=progress("geoloc")
    )
    _write(examples, out_path, hf_dataset, split_config, train_tasks, view_set.places_file())


@data_app.command("questions")
@field_options(**SPLIT_FIELDS)
def questions(
    views: Path = VIEWS_OPT,
    out_path: Path = OUT_OPT,
    view: str = typer.Option("satellite", "--view", help="View kind shown with each question."),
    types: str | None = typer.Option(
        None, "--types", help="Question types, comma-separated (default: all; see the questions module)."
    ),
    k: int = typer.Option(4, "--k", help="Options per multiple-choice question (yes/no always has 2)."),
    split: str = SPLIT_OPT,
    split_by: str = SPLIT_BY_OPT,
    test_fraction: float = TEST_FRACTION_OPT,
    region_deg: float = REGION_DEG_OPT,
    split_seed: int = SPLIT_SEED_OPT,
    seed: int = SEED_OPT,
    limit: int | None = LIMIT_OPT,
    hf_dataset: Path | None = HF_OPT,
    train_tasks: list[Path] | None = TRAIN_TASKS_OPT,
) -> None:
    """Place questions from metadata (continent, country, land cover, …), multiple choice."""
    from geor1.builders.common import load_view_set
    from geor1.builders.questions import QUESTION_TYPES, QuestionsConfig, build_questions

    chosen = [t.strip() for t in types.split(",") if t.strip()] if types else list(QUESTION_TYPES)
    config = QuestionsConfig(view=view, types=chosen, k=k, seed=seed, limit=limit)
    view_set = load_view_set(views)
    places, split_config = _split_places(view_set, split, split_by, test_fraction, region_deg, split_seed)
    examples, report = build_questions(
        view_set, config, out_path.parent, places=places, split=split, progress=progress("questions")
    )
    for line in report.lines():
        out.print(line, highlight=False)
    _write(examples, out_path, hf_dataset, split_config, train_tasks, view_set.places_file())


@data_app.command("instruct")
@field_options(**VIEW_FIELDS)
def instruct(
    views: Path = VIEWS_OPT,
    out_path: Path = OUT_OPT,
    view: str = typer.Option(
        "satellite,context", "--view", help="View kind(s) to describe and locate, comma-separated."
    ),
    kinds: str = typer.Option(
        "describe,geolocation",
        "--kinds",
        help="Instruction kinds, comma-separated: describe, geolocation, choose (which of four views shows a "
        "named land cover).",
    ),
    split: str = SPLIT_OPT,
    split_by: str = SPLIT_BY_OPT,
    test_fraction: float = TEST_FRACTION_OPT,
    region_deg: float = REGION_DEG_OPT,
    split_seed: int = SPLIT_SEED_OPT,
    seed: int = SEED_OPT,
    limit: int | None = LIMIT_OPT,
    hf_dataset: Path | None = HF_OPT,
    train_tasks: list[Path] | None = TRAIN_TASKS_OPT,
) -> None:
    """Instruction data with completions (SFT): describe a view, say where it was taken, or (choose) pick
    which of four views shows a named land cover."""
    from geor1.builders.common import load_view_set
    from geor1.builders.describe import InstructionConfig, build_instructions

    config = InstructionConfig(
        views=[v.strip() for v in view.split(",") if v.strip()],
        kinds=[k.strip() for k in kinds.split(",") if k.strip()],
        seed=seed,
        limit=limit,
    )
    view_set = load_view_set(views)
    places, split_config = _split_places(view_set, split, split_by, test_fraction, region_deg, split_seed)
    examples = build_instructions(view_set, config, out_path.parent, places=places, split=split)
    _write(examples, out_path, hf_dataset, split_config, train_tasks, view_set.places_file())
