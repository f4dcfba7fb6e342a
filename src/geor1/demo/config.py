"""Settings of ``geo-r1 demo``: one dataclass section per stage kind, the run-wide fields, and the
``--quick`` variant.

A stage is redone when its section, the run-wide fields its section names in ``RUN_FIELDS``, or the
result of a stage it reads changes (``stage_params`` + the pipeline's input run ids), so a new field is
part of its stage's hash by construction. ``--set section.field=value`` changes one field
(``from_overrides``); values are typed by the training commands' own parser
(``geor1.train.config.parse_dataclasses``). There is no demo config file: the report ends with the
command line (options and ``--set``) that reruns its settings, and ``config.json`` in the run folder
records all of them in this nested form.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from geor1.builders.describe import INSTRUCTION_KINDS
from geor1.errors import ConfigError

# The four models compared, in table order: (name, label).
MODELS: tuple[tuple[str, str], ...] = (
    ("base", "base (no pairing training)"),
    ("sft", "SFT (scaffolding)"),
    ("sft_grpo", "SFT + GRPO (Geo-R1)"),
    ("grpo", "GRPO without SFT"),
)
EVAL_TASKS: tuple[str, ...] = ("pairing", "geolocation", "chain")
SCAFFOLD_TASKS: tuple[str, ...] = ("pairing", "geolocation")
# Run-wide fields: where the run is written and the --quick flag reach no stage's hash (the quick
# variant's settings reach the stages through the section fields it changes).
RUN_WIDE: tuple[str, ...] = ("out", "seed", "quick", "threads")


@dataclass
class DataSettings:
    """Offline Earth places split by place into train/test; the pairing proxy shows a ``query_view`` and
    ``k`` candidates of ``candidate_view`` whose negatives lie in distance ``band``; every train query is
    drawn ``train_rounds`` times with fresh negatives and answer positions. ``scaffold_tasks``: the
    tasks of the training places the CoT teacher explains (pairing; optionally geolocation, so the model
    learns to answer with coordinates at all)."""

    # The run-wide fields this stage's output depends on (every section names its own): the seed, and for
    # the torch stages the thread count, which changes the order of float reductions.
    RUN_FIELDS: ClassVar[tuple[str, ...]] = ("seed",)

    places: int = 2000
    test_fraction: float = 0.2
    query_view: str = "satellite"
    candidate_view: str = "context"
    band: str = "easy"
    k: int = 4
    train_rounds: int = 2
    test_pairing_limit: int | None = None
    geoloc_limit: int = 40
    chain_places: int = 12
    # Adding geolocation teaches the tiny model to answer with coordinates, but at these SFT settings it
    # cost pairing accuracy (seed 0: SFT 46.3 % -> 35.4 %, SFT+GRPO 48.7 % -> 38.1 %) for a GeoScore of
    # 175 (GRPO left it unchanged), so it is opt-in.
    scaffold_tasks: list[str] = field(default_factory=lambda: ["pairing"])
    # the pretraining's instruction kinds (geor1.builders.describe): single-view describe and locate, and
    # choose (which of four views shows a named land cover, answered with a letter), without which the
    # base writes no letter for a multiple-choice prompt
    instructions: list[str] = field(default_factory=lambda: ["describe", "geolocation", "choose"])


@dataclass
class ModelSettings:
    """A tiny Qwen2.5-VL whose image budget (``min_pixels``/``max_pixels``) sets the visual tokens per
    image."""

    RUN_FIELDS: ClassVar[tuple[str, ...]] = ("seed",)

    hidden: int = 128
    layers: int = 2
    # 8 heads with their own keys and values: with 4 heads sharing 2, the language model never learnt to
    # find the candidate image equal to the query inside one prompt (benchmarks/demo_levers.md)
    heads: int = 8
    kv_heads: int = 8
    intermediate: int = 256
    vision_dim: int = 64
    vision_depth: int = 2
    vocab_size: int = 1024  # geor1's corpus saturates at ~1000 merges; a smaller LM head is cheaper per token
    min_pixels: int = 28 * 28
    max_pixels: int = 28 * 28


@dataclass
class PretrainSettings:
    """Pretraining of the base model, as a real VLM has it before post-training: a contrastively
    pretrained vision tower (views of the training places against each other and against their place's
    words), then single-view instruction SFT (describe a view, locate it); no pairing example. Off
    (``enabled=false``, with ``sft.replay=0``): the base is the random tiny model."""

    RUN_FIELDS: ClassVar[tuple[str, ...]] = ("seed", "threads")

    enabled: bool = True
    contrastive_steps: int = 300
    contrastive_batch: int = 64
    contrastive_lr: float = 3e-3
    contrastive_text_weight: float = 1.0  # image-text term: views against the words of their place
    instruct_steps: int = 500
    instruct_lr: float = 2e-3
    instruct_batch: int = 16


@dataclass
class CotSettings:
    """Template-teacher CoT on the scaffolding examples."""

    RUN_FIELDS: ClassVar[tuple[str, ...]] = ("seed",)

    style: str = (
        "compact"  # compact: the template teacher's claims, one short line per image; full: its prose
    )
    words: str = "cover"  # per-image words of compact traces: cover, or cover_continent


@dataclass
class SFTSettings:
    """Scaffolding: SFT of the base model on the CoT."""

    RUN_FIELDS: ClassVar[tuple[str, ...]] = ("seed", "threads")

    steps: int = 500
    lr: float = 2e-3
    batch: int = 16
    # share of the pretraining's single-view instructions mixed into the SFT data: without them SFT on
    # pairing makes the model forget to answer with coordinates
    replay: float = 0.1


@dataclass
class GRPOSettings:
    """Elevating: GRPO on pairing only; the no-SFT GRPO run starts from the base model with the same
    settings."""

    RUN_FIELDS: ClassVar[tuple[str, ...]] = ("seed", "threads")

    steps: int = 100
    lr: float = 1e-4
    prompts: int = 4  # prompts per step; each gets num_generations completions
    num_generations: int = 8
    max_completion_length: int = 64
    temperature: float = 1.0
    beta: float = 0.04  # KL to the starting model: without it GRPO drifts and pairing accuracy drops
    reward_funcs: list[str] = field(default_factory=lambda: ["accuracy", "format"])
    reward_weights: list[float] = field(default_factory=lambda: [1.0, 0.5])


@dataclass
class EvalSettings:
    """Greedy decoding on held-out places; bootstrap CIs of ``n_boot`` resamples."""

    RUN_FIELDS: ClassVar[tuple[str, ...]] = ("seed", "threads")

    tasks: list[str] = field(default_factory=lambda: list(EVAL_TASKS))
    max_new_tokens: int = 64
    batch: int = 16
    n_boot: int = 1000


@dataclass
class ReportSettings:
    """report.md and report.html."""

    RUN_FIELDS: ClassVar[tuple[str, ...]] = ()

    n_examples: int = 3


# Stage kind -> its section's type, in stage order.
SECTIONS: dict[str, type] = {
    "data": DataSettings,
    "model": ModelSettings,
    "pretrain": PretrainSettings,
    "cot": CotSettings,
    "sft": SFTSettings,
    "grpo": GRPOSettings,
    "eval": EvalSettings,
    "report": ReportSettings,
}


@dataclass
class DemoConfig:
    """Everything ``geo-r1 demo`` does, with the defaults the report's numbers come from: the run-wide
    fields, then one section per stage kind (see each section's docstring)."""

    out: Path = Path("runs/demo")
    seed: int = 0
    quick: bool = False
    threads: int = 1  # torch threads; 1 keeps runs deterministic and fast on a shared 2-core CPU

    data: DataSettings = field(default_factory=DataSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    pretrain: PretrainSettings = field(default_factory=PretrainSettings)
    cot: CotSettings = field(default_factory=CotSettings)
    sft: SFTSettings = field(default_factory=SFTSettings)
    grpo: GRPOSettings = field(default_factory=GRPOSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    report: ReportSettings = field(default_factory=ReportSettings)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.check()

    def get(self, key: str) -> Any:
        """Return a setting by its name: ``section.field`` or a run-wide field."""
        section, _, name = key.rpartition(".")
        return getattr(getattr(self, section), name) if section else getattr(self, name)

    def check(self) -> None:
        """Raise ConfigError naming the field (``section.field``) of an impossible setting."""
        positive = (
            "data.places", "data.k", "data.train_rounds", "sft.steps", "sft.batch", "grpo.prompts",
            "grpo.num_generations", "grpo.max_completion_length", "eval.max_new_tokens", "eval.batch",
            "threads", "data.geoloc_limit", "data.chain_places", "eval.n_boot", "pretrain.contrastive_steps",
            "pretrain.instruct_steps", "pretrain.instruct_batch",
        )  # fmt: skip
        for key in positive:
            if self.get(key) < 1:
                raise ConfigError(key, f"must be at least 1, got {self.get(key)}")
        data, pretrain, cot, sft, grpo = self.data, self.pretrain, self.cot, self.sft, self.grpo
        if pretrain.contrastive_batch < 2:
            raise ConfigError(
                "pretrain.contrastive_batch", f"must be at least 2, got {pretrain.contrastive_batch}"
            )
        if not 0.0 <= sft.replay < 1.0:
            raise ConfigError("sft.replay", f"must be in [0, 1), got {sft.replay}")
        if grpo.steps < 0:
            raise ConfigError("grpo.steps", f"must be at least 0, got {grpo.steps}")
        if not 0.0 < data.test_fraction < 1.0:
            raise ConfigError("data.test_fraction", f"must be in (0, 1), got {data.test_fraction}")
        if grpo.num_generations < 2:
            raise ConfigError("grpo.num_generations", "GRPO needs at least 2 completions per prompt")
        if cot.words not in ("cover", "cover_continent"):
            raise ConfigError("cot.words", f"must be cover or cover_continent, got {cot.words!r}")
        if sft.replay > 0 and not pretrain.enabled:
            raise ConfigError(
                "sft.replay",
                "mixes in the pretraining instructions: needs pretrain.enabled=true (or sft.replay=0)",
            )
        if cot.style not in ("compact", "full"):
            raise ConfigError("cot.style", f"must be compact or full, got {cot.style!r}")
        if len(grpo.reward_weights) != len(grpo.reward_funcs):
            raise ConfigError("grpo.reward_weights", "needs one weight per reward in grpo.reward_funcs")
        if "pairing" not in data.scaffold_tasks or set(data.scaffold_tasks) - set(SCAFFOLD_TASKS):
            raise ConfigError(
                "data.scaffold_tasks", f"must include pairing and be a subset of {', '.join(SCAFFOLD_TASKS)}"
            )
        if not data.instructions or set(data.instructions) - set(INSTRUCTION_KINDS):
            raise ConfigError(
                "data.instructions", f"must be a non-empty subset of {', '.join(INSTRUCTION_KINDS)}"
            )
        unknown = set(self.eval.tasks) - set(EVAL_TASKS)
        if unknown or not self.eval.tasks:
            raise ConfigError("eval.tasks", f"must be a non-empty subset of {', '.join(EVAL_TASKS)}")
        if data.query_view == data.candidate_view:
            raise ConfigError("data.candidate_view", "must differ from data.query_view")

    @classmethod
    def quick_variant(cls, **run_wide: Any) -> DemoConfig:
        """Return the ``--quick`` smoke-run settings (a few minutes at most): fewer places, steps and
        evaluation examples, same code path; ``run_wide`` sets out, seed or threads."""
        return cls(
            quick=True,
            data=DataSettings(
                places=120, train_rounds=2, test_pairing_limit=16, geoloc_limit=8, chain_places=2
            ),
            pretrain=PretrainSettings(
                contrastive_steps=20, contrastive_batch=16, instruct_steps=20, instruct_batch=8
            ),
            # enough SFT for the model to answer every pairing query with a letter, so the quick run's
            # numbers are not all zero and checks on them can fail
            sft=SFTSettings(steps=80, batch=8),
            # the full run's completion budget (64 tokens): a compact trace needs about 50
            grpo=GRPOSettings(steps=6, prompts=2, num_generations=4),
            eval=EvalSettings(n_boot=200),
            report=ReportSettings(n_examples=2),
            **run_wide,
        )

    @classmethod
    def from_overrides(cls, overrides: list[str], *, quick: bool = False, **run_wide: Any) -> DemoConfig:
        """Return the default (or ``--quick``) settings with ``section.field=value`` overrides
        (``sft.steps=100``, ``grpo.reward_funcs=[accuracy,format]``); ConfigError names a bad key, with
        the closest setting, or a bad value."""
        base = cls.quick_variant(**run_wide) if quick else cls(**run_wide)
        values: dict[str, Any] = {}
        for item in overrides:
            key, sep, value = item.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or not key:
                raise ConfigError(item, "expected section.field=value")
            values[key] = value
        return base.with_values(values)

    def with_values(self, values: dict[str, Any]) -> DemoConfig:
        """Return a copy with ``{"section.field": value}`` changed; values (typed, or text as on the
        command line) are parsed by the training commands' parser, then the whole config is checked."""
        from geor1.train.config import parse_dataclasses

        names = setting_names()
        by_section: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            if key not in names:
                raise ConfigError(key, unknown_setting(key, names))
            section, _, name = key.partition(".")
            by_section.setdefault(section, {})[name] = value
        sections: dict[str, Any] = {}
        for section, given in by_section.items():
            current = getattr(self, section)
            try:
                (sections[section],) = parse_dataclasses(
                    (type(current),), given, defaults=dataclasses.asdict(current)
                )
            except ConfigError as exc:
                key = f"{section}.{exc.key}" if exc.key in given else section
                raise ConfigError(key, exc.reason) from None
        return dataclasses.replace(copy.deepcopy(self), **sections)

    def stage_params(self, kind: str) -> dict[str, Any]:
        """Return the JSON-safe settings a stage of ``kind`` depends on: its whole section and the
        run-wide fields the section names (the pipeline adds the stages it reads)."""
        section = getattr(self, kind)
        params: dict[str, Any] = {"settings": dataclasses.asdict(section)}
        params.update({name: _plain(getattr(self, name)) for name in section.RUN_FIELDS})
        return params

    def to_dict(self) -> dict[str, Any]:
        """Return every setting as JSON-safe data: the run-wide fields, then one mapping per section."""
        data: dict[str, Any] = {name: _plain(getattr(self, name)) for name in RUN_WIDE}
        data.update({kind: dataclasses.asdict(getattr(self, kind)) for kind in SECTIONS})
        return data


def setting_names() -> list[str]:
    """Return every ``section.field`` name ``--set`` accepts, in section order."""
    return [f"{kind}.{f.name}" for kind, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


def unknown_setting(key: str, names: list[str]) -> str:
    """Return the reason an unknown ``--set`` key is refused, with the closest setting."""
    if key in RUN_WIDE:
        return "not a --set key (it has an option of its own)"
    close = difflib.get_close_matches(key, names, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"not a demo setting (section.field, see geor1.demo.config.DemoConfig){hint}"


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def params_hash(params: dict[str, Any]) -> str:
    """Return a short stable hash of JSON-safe parameters."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
