"""Run a teacher over task examples, filter its completions, and append the kept ones: resumable.

Two append-only files, flushed per record:

- the output (``cot.jsonl``): one CoT example per kept completion — the task example plus
  ``completion``, ``teacher``, ``filter``, ``example_id`` and ``sample``;
- the run log (``cot.log.jsonl``): a ``start`` event, one ``sample`` event per judged completion (verdict,
  tokens, cost, latency, retries, faults), one ``error`` event per failed teacher call, a ``summary``.

On restart both files are read back: judged samples are not asked again, kept completions seed the
near-duplicate index, and record ids already in the output are never written twice. A teacher error is
recorded and the job is retried in a later round (and in a later run), never fatal.

Resumption is keyed on an example's content, not only its id: every record and log event carries the
example's fingerprint (task, prompt, solution, metadata and the bytes of its images). When the task file
was regenerated under the same ids, the output records of examples whose content changed are moved to
``<stem>.stale.jsonl`` (nothing is lost) and those examples are done again; the run says what changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from geor1.cot.filter import CotFilter, Verdict
from geor1.cot.teachers.base import Teacher, TeacherJob, TeacherResult, derive_seed
from geor1.errors import ConfigError, RecordError
from geor1.io import JsonlAppender, atomic_open
from geor1.records import read_task_file

KEEP_MODES = ("first", "all")


@dataclass
class CotRunConfig:
    """Settings of one ``geo-r1 cot`` run."""

    samples_per_example: int = 1
    keep: str = "first"  # "first": stop at the first kept sample; "all": judge every sample, keep all passing
    seed: int = 0
    error_rounds: int = 3  # extra rounds in which a job that failed with a teacher error is asked again
    retry_delay_s: float = 1.0  # wait before a round made only of retries (doubles each time)
    chunk_size: int = 512  # examples in flight together (bounds memory; rounds run per chunk)
    limit: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.keep not in KEEP_MODES:
            raise ConfigError("keep", f"must be one of {KEEP_MODES}, got {self.keep!r}")
        if self.samples_per_example < 1:
            raise ConfigError("samples_per_example", "must be at least 1")
        if self.chunk_size < 1:
            raise ConfigError("chunk_size", "must be at least 1")


@dataclass
class RunSummary:
    """Counts and totals of one run (this invocation only, except ``resumed_*``)."""

    examples: int = 0
    resumed_done: int = 0
    processed: int = 0
    examples_with_kept: int = 0
    examples_without_kept: int = 0
    unfinished: int = 0
    records_written: int = 0
    samples_judged: int = 0
    rejections: Counter[str] = field(default_factory=Counter)
    abstentions: Counter[str] = field(default_factory=Counter)  # teacher_abstained, by cause
    teacher_errors: int = 0
    retries: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    elapsed_s: float = 0.0
    stale_examples: int = 0  # examples whose content changed since an earlier run: done again
    stale_records: int = 0  # their old output records, moved to the .stale.jsonl file
    stale_note: str = ""  # what changed, for the user
    first_error: str = ""  # the first teacher error of this run (secrets already scrubbed by the teacher)

    @property
    def error_share(self) -> float:
        """Return the share of this run's teacher calls that failed (0 when none was made)."""
        calls = self.teacher_errors + self.samples_judged
        return self.teacher_errors / calls if calls else 0.0

    def failure(self, max_error_share: float) -> str | None:
        """Return why this run counts as failed, or None: it had work to do and wrote nothing, or more
        than ``max_error_share`` of its teacher calls failed."""
        cause = f"first error: {self.first_error}" if self.first_error else ""
        if self.records_written == 0 and self.processed + self.unfinished > 0:
            if self.teacher_errors and not self.samples_judged:
                return f"the teacher failed on every call ({self.teacher_errors} errors); nothing written; {cause}"
            reasons = ", ".join(f"{r} {n}" for r, n in self.rejections.most_common(3)) or "none judged"
            detail = f"; {cause}" if cause else ""
            return f"no CoT example was kept (rejections: {reasons}){detail}"
        if self.error_share > max_error_share:
            return (
                f"{self.error_share:.0%} of teacher calls failed ({self.teacher_errors} of "
                f"{self.teacher_errors + self.samples_judged}; limit --max-error-share {max_error_share:g}); "
                f"{cause}"
            )
        return None

    @property
    def examples_per_s(self) -> float:
        """Return processed examples per second of wall time."""
        return self.processed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as a JSON-safe dict."""
        out = asdict(self)
        out["rejections"] = dict(self.rejections)
        out["abstentions"] = dict(self.abstentions)
        out["faults"] = dict(self.faults)
        out["examples_per_s"] = round(self.examples_per_s, 2)
        out["cost"] = round(self.cost, 6)
        return out


def log_path_for(output: str | Path) -> Path:
    """Return the run-log path that goes with an output file (``cot.jsonl`` → ``cot.log.jsonl``)."""
    output = Path(output)
    stem = output.name[: -len(".jsonl")] if output.name.endswith(".jsonl") else output.name
    return output.with_name(f"{stem}.log.jsonl")


def stale_path_for(output: str | Path) -> Path:
    """Return where records of changed examples go (``cot.jsonl`` → ``cot.stale.jsonl``)."""
    output = Path(output)
    stem = output.name[: -len(".jsonl")] if output.name.endswith(".jsonl") else output.name
    return output.with_name(f"{stem}.stale.jsonl")


# The fields of a task example that decide what the teacher is asked and what counts as right.
CONTENT_FIELDS = ("task", "prompt", "solution", "meta")
IGNORED_META = frozenset({"split_config"})  # bookkeeping that does not change what the teacher sees


def content_fingerprint(example: dict[str, Any], image_root: Path | None) -> str:
    """Return a short hash of an example's content: ``CONTENT_FIELDS`` and the bytes of its images in
    order (task examples' paths are absolute; an earlier output record's are relative to its folder,
    ``image_root``; a file that cannot be read hashes as missing)."""
    from geor1.eval.fingerprint import image_digest

    h = hashlib.blake2b(digest_size=8)
    fields = {k: example.get(k) for k in CONTENT_FIELDS}
    if isinstance(fields["meta"], dict):  # how places were split says nothing about the example itself
        fields["meta"] = {k: v for k, v in fields["meta"].items() if k not in IGNORED_META}
    h.update(json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str).encode())
    for image in example.get("images") or []:
        path = Path(image) if image_root is None else Path(image_root) / str(image)  # absolute stays
        h.update(b"\0" + image_digest(path).encode())
    return h.hexdigest()


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Return the content fields that differ between an old output record and the current example
    (``images`` when only the image bytes or paths differ)."""

    def comparable(example: dict[str, Any], key: str) -> Any:
        value = example.get(key)
        if key == "meta" and isinstance(value, dict):
            return {k: v for k, v in value.items() if k not in IGNORED_META}
        return value

    fields = [k for k in CONTENT_FIELDS if comparable(old, k) != comparable(new, k)]
    return fields or ["images"]


def record_id(example_id: str, sample: int, keep: str) -> str:
    """Return the output id of a kept sample: the example id, or ``id#sample`` when keeping all."""
    return example_id if keep == "first" else f"{example_id}#{sample}"


def load_examples(path: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Return the task examples of a JSONL file read by ``read_task_file`` (validated, ids unique;
    RecordError names file:line:field) as line dicts with absolute image paths; a missing image is not
    an error here (the teacher's call fails and is retried)."""
    return [e.to_dict() for e in read_task_file(path, check_images=False, limit=limit)]


def image_relocator(dst_dir: Path) -> Callable[[list[str]], list[str]]:
    """Return a function that rewrites absolute image paths to be relative to ``dst_dir`` (POSIX)."""
    base = os.path.abspath(dst_dir)

    def relocate(images: list[str]) -> list[str]:
        return [Path(os.path.relpath(p, base)).as_posix() for p in images]

    return relocate


@dataclass
class _Progress:
    """What is known about one example: samples judged and kept, errors per sample, abstention."""

    example: dict[str, Any]
    judged: set[int] = field(default_factory=set)
    kept: set[int] = field(default_factory=set)
    errors: Counter[int] = field(default_factory=Counter)
    abstained: bool = False
    fingerprint: str = ""

    def done(self, n_samples: int, keep: str) -> bool:
        if self.abstained or (keep == "first" and self.kept):
            return True
        return all(k in self.judged for k in range(n_samples))

    def next_jobs(self, config: CotRunConfig) -> list[TeacherJob]:
        if self.done(config.samples_per_example, config.keep):
            return []
        todo = [k for k in range(config.samples_per_example) if k not in self.judged]
        if config.keep == "first":
            todo = todo[:1]
        example_id = str(self.example["id"])
        return [
            TeacherJob(self.example, k, derive_seed(config.seed, example_id, k), attempt=self.errors[k])
            for k in todo
            if self.errors[k] <= config.error_rounds
        ]


def read_state(
    output: Path,
    log: Path,
    current: dict[str, str] | None = None,
    changed: set[str] | frozenset[str] = frozenset(),
) -> tuple[dict[str, _Progress], set[str], list[tuple[str, str]]]:
    """Return what earlier runs did: progress by example id (examples left blank), the record ids already
    written, and the kept (record id, completion) pairs to seed the near-duplicate index.

    ``current`` maps example ids to their content fingerprints: a log event made for other content is
    ignored; so is every event without a fingerprint (written before fingerprints) once ``changed`` shows
    that the input was regenerated since.
    """
    progress: dict[str, _Progress] = {}
    written: set[str] = set()
    kept_texts: list[tuple[str, str]] = []
    current = current or {}

    def entry(example_id: str) -> _Progress:
        return progress.setdefault(example_id, _Progress(example={}))

    if log.exists():
        for _, event in _tolerant_lines(log):
            if event.get("event") != "sample":
                continue
            example_id = str(event["example_id"])
            fingerprint = event.get("fingerprint")
            if fingerprint is None and changed:
                continue  # written before fingerprints, and the input has changed since: unknown content
            if fingerprint is not None and example_id in current and fingerprint != current[example_id]:
                continue
            state = entry(example_id)
            sample = int(event["sample"])
            state.judged.add(sample)
            if event.get("keep"):
                state.kept.add(sample)
            if event.get("reason") == "teacher_abstained":
                state.abstained = True
    if output.exists():
        for _, record in _tolerant_lines(output):
            rid = str(record.get("id"))
            written.add(rid)
            example_id = str(record.get("example_id", rid))
            sample = int(record.get("sample", 0))
            state = entry(example_id)
            state.judged.add(sample)
            state.kept.add(sample)
            completion = record.get("completion") or [{}]
            kept_texts.append((rid, str(completion[-1].get("content", ""))))
    return progress, written, kept_texts


def set_aside_changed(
    output: Path, examples: dict[str, dict[str, Any]], current: dict[str, str], summary: RunSummary
) -> set[str]:
    """Move the output records of examples whose content changed since they were written to the
    ``.stale.jsonl`` file beside ``output`` (the output is rewritten atomically without them); return
    the ids of those examples and note in ``summary`` what changed. Records of examples not in
    ``examples`` (e.g. past ``--limit``) are kept as they are."""
    if not output.exists():
        return set()
    out_root = output.resolve().parent
    keep_lines: list[str] = []
    stale_lines: list[str] = []
    changed: dict[str, list[str]] = {}
    example_note = ""
    with output.open("r", encoding="utf-8") as handle:
        lines = handle.readlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            if number == len(lines) and not line.endswith("\n"):
                continue  # a partial last line of a killed run: JsonlAppender drops it
            raise RecordError("invalid JSON in an output file", path=output, line=number) from None
        example_id = str(record.get("example_id", record.get("id"))) if isinstance(record, dict) else ""
        if example_id in current:
            fingerprint = record.get("input_fingerprint") or content_fingerprint(record, out_root)
            if fingerprint != current[example_id]:
                if example_id not in changed:
                    fields = changed_fields(record, examples[example_id])
                    changed[example_id] = fields
                    if "solution" in fields and not example_note:
                        new_solution = examples[example_id].get("solution")
                        example_note = (
                            f"{example_id}: solution {record.get('solution')!r} -> {new_solution!r}"
                        )
                stale_lines.append(line if line.endswith("\n") else line + "\n")
                continue
        keep_lines.append(line if line.endswith("\n") else line + "\n")
    if not stale_lines:
        return set()
    stale = stale_path_for(output)
    with stale.open("a", encoding="utf-8") as handle:  # first: a crash now loses nothing
        handle.writelines(stale_lines)
        handle.flush()
        os.fsync(handle.fileno())
    with atomic_open(output) as handle:
        handle.writelines(keep_lines)
    by_field = Counter(f for fields in changed.values() for f in fields)
    first_id, first_fields = next(iter(changed.items()))
    example_note = example_note or f"{first_id}: {', '.join(first_fields)}"
    what = ", ".join(f"{name} {n}" for name, n in by_field.most_common())
    summary.stale_examples = len(changed)
    summary.stale_records = len(stale_lines)
    summary.stale_note = (
        f"the input changed since the earlier run: {len(changed)} example(s) now have other content under "
        f"the same id (changed: {what}; e.g. {example_note}); their {len(stale_lines)} old CoT record(s) "
        f"were moved to {stale} and they are done again"
    )
    return set(changed)


def _tolerant_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    # A run killed mid-write leaves at most a partial last line; JsonlAppender drops it on reopen, and
    # here it is skipped so reading state never fails on it.
    with path.open("r", encoding="utf-8") as handle:
        lines = handle.readlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            if number == len(lines) and not line.endswith("\n"):
                continue
            raise RecordError("invalid JSON in an output/log file", path=path, line=number) from None
        if isinstance(obj, dict):
            yield number, obj


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class CotRunner:
    """Drives a teacher and the filter over a task file, appending kept CoT examples."""

    def __init__(
        self,
        teacher: Teacher,
        filter_: CotFilter | None = None,
        config: CotRunConfig | None = None,
    ):
        self.teacher = teacher
        self.filter = filter_ if filter_ is not None else CotFilter()  # an empty CotFilter is falsy (__len__)
        self.config = config or CotRunConfig()

    def run(
        self, input_path: str | Path, output: str | Path, extra_log: dict[str, Any] | None = None
    ) -> RunSummary:
        """Process every example of ``input_path`` not done yet, append to ``output``; return the summary."""
        config = self.config
        input_path, output = Path(input_path), Path(output)
        log_path = log_path_for(output)
        started = time.perf_counter()
        examples = load_examples(input_path, config.limit)
        current = {str(e["id"]): content_fingerprint(e, None) for e in examples}
        summary = RunSummary(examples=len(examples))
        changed = set_aside_changed(output, {str(e["id"]): e for e in examples}, current, summary)
        previous, written, kept_texts = read_state(output, log_path, current, changed)
        self.filter.seed(kept_texts)

        states: list[_Progress] = []
        for example in examples:
            state = previous.get(str(example["id"])) or _Progress(example={})
            state.example = example
            state.fingerprint = current[str(example["id"])]
            if state.done(config.samples_per_example, config.keep):
                summary.resumed_done += 1
            else:
                states.append(state)

        teacher_info = self.teacher.describe()
        relocate = image_relocator(output.resolve().parent)
        with JsonlAppender(output) as out, JsonlAppender(log_path) as log:
            log.write(
                {
                    "event": "start",
                    "time": time.time(),
                    "input": str(input_path),
                    "output": str(output),
                    "teacher": teacher_info,
                    "config": asdict(config),
                    "filter": self.filter.config.to_dict(),
                    "pending": len(states),
                    "stale_examples": summary.stale_examples,
                    **(extra_log or {}),
                }
            )
            bar = _progress_bar(len(states), config.progress)
            try:
                for chunk in _chunks(states, config.chunk_size):
                    self._run_chunk(chunk, out, log, written, teacher_info, relocate, summary, bar)
            finally:
                bar.close()
                summary.elapsed_s = time.perf_counter() - started
                log.write({"event": "summary", "time": time.time(), **summary.to_dict()})
        return summary

    def _run_chunk(
        self,
        chunk: list[_Progress],
        out: JsonlAppender,
        log: JsonlAppender,
        written: set[str],
        teacher_info: dict[str, Any],
        relocate: Callable[[list[str]], list[str]],
        summary: RunSummary,
        bar: Any,
    ) -> None:
        config = self.config
        by_id = {str(state.example["id"]): state for state in chunk}
        delay = config.retry_delay_s
        while True:
            jobs = [job for state in chunk for job in state.next_jobs(config)]
            if not jobs:
                break
            if all(job.attempt > 0 for job in jobs) and delay > 0:
                time.sleep(delay)
                delay *= 2
            for result in self.teacher.generate(jobs):
                state = by_id[result.job.example_id]
                was_done = state.done(config.samples_per_example, config.keep)
                self._account(result, summary)
                if result.error is not None:
                    state.errors[result.job.sample] += 1
                    summary.teacher_errors += 1
                    summary.first_error = summary.first_error or str(result.error)
                    log.write(
                        {
                            "event": "error",
                            "example_id": result.job.example_id,
                            "fingerprint": state.fingerprint,
                            "sample": result.job.sample,
                            "attempt": result.job.attempt,
                            "error": result.error,
                            "retries": result.retries,
                            "faults": result.faults,
                        }
                    )
                    continue
                verdict = self._judge(result)
                self._record(result, verdict, state, out, log, written, teacher_info, relocate, summary)
                if not was_done and state.done(config.samples_per_example, config.keep):
                    self._finish(state, summary, bar)
        for state in chunk:
            if not state.done(config.samples_per_example, config.keep):
                # Teacher errors exhausted this run's retries: a later run asks again.
                summary.unfinished += 1
                bar.update(1)

    def _judge(self, result: TeacherResult) -> Verdict:
        if result.abstain is not None:
            return Verdict(False, "teacher_abstained", detail=result.abstain)
        key = record_id(result.job.example_id, result.job.sample, self.config.keep)
        return self.filter.judge(key, result.text, str(result.job.example["solution"]))

    def _record(
        self,
        result: TeacherResult,
        verdict: Verdict,
        state: _Progress,
        out: JsonlAppender,
        log: JsonlAppender,
        written: set[str],
        teacher_info: dict[str, Any],
        relocate: Callable[[list[str]], list[str]],
        summary: RunSummary,
    ) -> None:
        job = result.job
        summary.samples_judged += 1
        if result.abstain is not None:
            state.abstained = True
            summary.abstentions[result.abstain.split(":", 1)[0]] += 1
        if verdict.keep:
            rid = record_id(job.example_id, job.sample, self.config.keep)
            if rid not in written:
                record = dict(job.example)
                record["id"] = rid
                record["images"] = relocate(list(job.example["images"]))
                if record.get("places"):
                    record["places"] = relocate([record["places"]])[0]
                record["completion"] = [{"role": "assistant", "content": result.text}]
                record["teacher"] = teacher_info
                record["filter"] = verdict.to_dict()
                record["example_id"] = job.example_id
                record["sample"] = job.sample
                record["input_fingerprint"] = state.fingerprint
                out.write(record)
                written.add(rid)
                summary.records_written += 1
            state.kept.add(job.sample)
        else:
            summary.rejections[verdict.reason or "unknown"] += 1
        state.judged.add(job.sample)
        log.write(
            {
                "event": "sample",
                "example_id": job.example_id,
                "fingerprint": state.fingerprint,
                "sample": job.sample,
                "keep": verdict.keep,
                "reason": verdict.reason,
                "detail": verdict.detail,
                "think_words": verdict.think_words,
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
                "cost": result.cost,
                "latency_s": round(result.latency_s, 4),
                "retries": result.retries,
                "faults": result.faults,
            }
        )

    @staticmethod
    def _account(result: TeacherResult, summary: RunSummary) -> None:
        summary.prompt_tokens += result.prompt_tokens
        summary.completion_tokens += result.completion_tokens
        summary.cost += result.cost
        summary.retries += result.retries
        summary.faults.update(result.faults)

    @staticmethod
    def _finish(state: _Progress, summary: RunSummary, bar: Any) -> None:
        summary.processed += 1
        if state.kept:
            summary.examples_with_kept += 1
        else:
            summary.examples_without_kept += 1
        bar.update(1)


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="cot", unit="ex", disable=not enabled, dynamic_ncols=True)
