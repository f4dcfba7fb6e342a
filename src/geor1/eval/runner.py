"""Run evaluation tasks with a backend, through the generation cache, and write the per-task JSON,
``report.md`` and plots under ``RUNS_DIR/RUN/eval/``."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from geor1.errors import ConfigError
from geor1.eval.backends import Backend, GenerationFailure, make_backend
from geor1.eval.cache import CacheKey, GenerationCache
from geor1.eval.fingerprint import example_fingerprint
from geor1.eval.tasks import EvalTask, get_task
from geor1.eval.types import EvalExample, SamplingConfig
from geor1.io import write_json


@dataclass
class EvalConfig:
    """Everything one ``geo-r1 eval`` run needs."""

    model: str
    tasks: list[str]
    data: list[str] = field(default_factory=list)
    run: str = "eval"
    runs_dir: Path = Path("runs")
    backend: str = "hf"
    base_url: str | None = None
    api_key: str | None = None  # wins over api_key_env; the environment is the preferred place for a key
    api_key_env: str = "OPENAI_API_KEY"
    batch_size: int = 8
    concurrency: int = 8
    limit: int | None = None
    seed: int = 0
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    plots: bool = True
    n_boot: int = 2000
    train_data: list[str] = field(default_factory=list)  # task files the test data may not share places with

    @property
    def eval_dir(self) -> Path:
        """Return RUNS_DIR/RUN/eval."""
        return Path(self.runs_dir) / self.run / "eval"


def resolve_data(task: EvalTask, data: Sequence[str]) -> Path:
    """Return the data path of ``task`` from ``--data`` entries: ``TASK=PATH`` for this task wins, else
    the first plain folder/file entry (a folder is searched with the task's patterns)."""
    plain = []
    for entry in data:
        name, sep, path = entry.partition("=")
        if sep and name == task.name:
            p = Path(path)
            if not p.exists():
                raise ConfigError("data", f"{entry}: {p} does not exist")
            return task.find_data(p) if p.is_dir() else p
        if not sep:
            plain.append(Path(entry))
    for p in plain:
        if p.is_dir():
            return task.find_data(p)
        if p.is_file():
            return p
        raise ConfigError("data", f"{p}: no such file or folder")
    raise ConfigError(
        "data",
        f"task '{task.name}' has no data: give a FOLDER or {task.name}=PATH (a folder of task files as "
        "geo-r1 data pairing/geoloc write them, e.g. from views built by geo-r1 data earth)",
    )


class Generated(NamedTuple):
    """Completions of a task's examples (same order; "" where generation failed) and the failures'
    errors by example id."""

    completions: list[str]
    errors: dict[str, str]


def generate_with_cache(
    backend: Backend,
    cache: GenerationCache,
    task: str,
    examples: Sequence[EvalExample],
    sampling: SamplingConfig,
    *,
    progress: bool = True,
) -> Generated:
    """Return the examples' completions: cached ones (same model files, task, id, prompt and images, and
    sampling settings) are reused, the rest are generated a chunk at a time and each is cached as soon as
    it finishes. An example the backend fails on is not cached (a rerun retries it), its error is
    returned and the others go on."""
    from tqdm.auto import tqdm

    keys = cache_keys(backend.model_id, task, examples, sampling)
    todo = [(e, k) for e, k in zip(examples, keys, strict=True) if k not in cache]
    errors: dict[str, str] = {}
    # closed even on an error, so the bar's line ends before the error is printed
    with tqdm(total=len(todo), desc=f"generate {task}", unit="ex", disable=not progress or not todo) as bar:
        for start in range(0, len(todo), backend.chunk_size):
            chunk = todo[start : start + backend.chunk_size]
            for index, result in backend.iter_generate([e for e, _ in chunk], sampling):
                example, key = chunk[index]
                if isinstance(result, GenerationFailure):
                    errors[example.id] = result.error
                else:
                    cache.put(key, result)
                bar.update(1)
    return Generated([cache.get(k) or "" for k in keys], errors)


def cache_keys(
    model_id: str, task: str, examples: Sequence[EvalExample], sampling: SamplingConfig
) -> list[CacheKey]:
    """Return the generation-cache key of every example (same order)."""
    sampling_id = sampling.settings_hash()
    return [CacheKey(model_id, task, e.id, example_fingerprint(e), sampling_id) for e in examples]


def run_task(
    task: EvalTask,
    source: Path,
    backend: Backend,
    cache: GenerationCache,
    config: EvalConfig,
    examples: list[Any] | None = None,
) -> dict[str, Any]:
    """Evaluate one task and return its JSON document (also written to EVAL_DIR/<task>.json)."""
    if examples is None:
        examples = task.load(source, limit=config.limit, seed=config.seed)
    sampling = SamplingConfig(
        temperature=config.temperature,
        top_p=config.top_p,
        max_new_tokens=max(config.max_new_tokens, task.max_new_tokens or 0),
        seed=config.seed,
    )
    completions, errors = generate_with_cache(backend, cache, task.name, examples, sampling)
    # a failed example is scored as unanswered, and counted, so the metrics never hide an incomplete run
    result = task.score(examples, completions).to_dict()
    result["metrics"]["n_failed"] = len(errors)
    by_id = {e.id: c for e, c in zip(examples, completions, strict=True)}
    for record in result["examples"]:
        if record.get("id") in by_id:
            record["completion"] = by_id[record["id"]]
        if record.get("id") in errors:
            record["error"] = errors[record["id"]]
    doc = {
        **result,
        "model": config.model,
        "model_id": backend.model_id,
        "backend": config.backend,
        "data": str(source),
        "sampling": asdict(sampling),
        "seed": config.seed,
        "limit": config.limit,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(config.eval_dir / f"{task.name}.json", doc)
    return doc


def failure_note(doc: dict[str, Any]) -> str:
    """Return the warning for a task document with failed generations (the first error included)."""
    failed = [r for r in doc["examples"] if "error" in r]
    first = f"; first: {failed[0]['id']}: {failed[0]['error']}" if failed else ""
    return (
        f"{doc['task']}: {doc['metrics']['n_failed']} example(s) failed to generate and are scored as "
        f"unanswered; they are not cached, rerun the same command to retry them{first}"
    )


def run_eval(config: EvalConfig, backend: Backend | None = None) -> Path:
    """Run every task of ``config`` and write the report; return the path of ``report.md``."""
    from rich.console import Console

    from geor1.eval.report import write_report

    tasks = [get_task(name) for name in config.tasks]
    if not tasks:
        raise ConfigError("tasks", "no tasks given (e.g. pairing,geolocation,chain)")
    sources = {t.name: resolve_data(t, config.data) for t in tasks}  # fail before loading a model
    # every task's data is read (lines validated, images checked) before a model loads: a bad line fails
    # in seconds, not after the model is up
    loaded: dict[str, list[Any]] = {
        t.name: t.load(sources[t.name], limit=config.limit, seed=config.seed) for t in tasks
    }
    if config.train_data:  # a test set that shows training places measures memory, not skill: refuse
        from geor1.builders.split import check_no_shared_places

        for task in tasks:
            metas = [e.meta for e in loaded[task.name]]
            check_no_shared_places(metas, config.train_data, f"the {task.name} data {sources[task.name]}")
    own_backend = backend is None
    if backend is None:
        if config.backend in ("hf", "vllm"):
            from geor1.models.loading import check_model_source

            check_model_source(config.model, what="model")  # a typo fails now, not after hub retries
        backend = make_backend(
            config.backend,
            config.model,
            batch_size=config.batch_size,
            base_url=config.base_url,
            api_key=config.api_key,
            api_key_env=config.api_key_env,
            concurrency=config.concurrency,
        )
    console = Console(stderr=True)
    docs = []
    try:
        with GenerationCache(config.eval_dir / "generations.jsonl") as cache:
            for task in tasks:
                console.print(f"[bold]{task.name}[/bold] ← {sources[task.name]}")
                docs.append(run_task(task, sources[task.name], backend, cache, config, loaded.get(task.name)))
                if docs[-1]["metrics"]["n_failed"]:
                    console.print(f"[yellow]{failure_note(docs[-1])}[/yellow]", highlight=False)
    finally:
        if own_backend:
            backend.close()
    return write_report(config.eval_dir, docs, plots=config.plots, seed=config.seed, n_boot=config.n_boot)
