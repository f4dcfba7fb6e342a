"""Ability retention: any MMMU-style multiple-choice JSONL scored by letter accuracy.

Each line: ``{"id"?, "question": str, "options": [str, …] (or {"A": str, …}, or a Python-list string as
MMMU ships it), "answer": "B" (or an option index, or the option's text), "images"?: [paths relative to
the file] (or "image": path), "subject"?: str}``. The prompt shows the images first, then the question,
the lettered options and Geo-R1's think/answer instruction; the answer is the option letter.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geor1.errors import RecordError
from geor1.eval.metrics import grouped_accuracy, verdict_metrics
from geor1.eval.tasks import EvalTask, limit_examples, register_task
from geor1.eval.types import EvalExample, TaskResult
from geor1.io import iter_jsonl
from geor1.judge import judge
from geor1.parsing import OPTION_LETTERS as LETTERS
from geor1.records import check_relative_path, user_prompt


def _options(value: Any, path: Path, line: int) -> list[str]:
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise RecordError(
                "options is a string but not a list literal", path=path, line=line, field="options"
            ) from None
    if isinstance(value, dict):
        value = [value[k] for k in sorted(value)]
    if (
        not isinstance(value, list)
        or not 2 <= len(value) <= len(LETTERS)
        or not all(isinstance(o, (str, int, float)) for o in value)
    ):
        raise RecordError("options must be a list of 2-26 texts", path=path, line=line, field="options")
    return [str(o) for o in value]


def _answer_letter(answer: Any, options: list[str], path: Path, line: int) -> str:
    if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < len(options):
        return LETTERS[answer]
    if isinstance(answer, str):
        a = answer.strip()
        if len(a) == 1 and a.upper() in LETTERS[: len(options)]:
            return a.upper()
        if a in options:
            return LETTERS[options.index(a)]
    raise RecordError(
        f"answer {answer!r} is not an option letter, index or text", path=path, line=line, field="answer"
    )


def mcq_examples(path: Path) -> list[EvalExample]:
    """Return the examples of an MMMU-style multiple-choice JSONL (RecordError names file:line:field)."""
    examples = []
    for line, obj in iter_jsonl(path):
        if not isinstance(obj.get("question"), str):
            raise RecordError("question must be a string", path=path, line=line, field="question")
        options = _options(obj.get("options"), path, line)
        letter = _answer_letter(obj.get("answer"), options, path, line)
        images = obj.get("images") or ([obj["image"]] if obj.get("image") else [])
        if not isinstance(images, list):
            raise RecordError("images must be a list of paths", path=path, line=line, field="images")
        paths = [str((path.parent / check_relative_path(p, path=path, line=line)).resolve()) for p in images]
        listing = "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))
        question = f"{obj['question']}\nOptions:\n{listing}\nAnswer with the option's letter."
        examples.append(
            EvalExample(
                id=str(obj.get("id", f"line{line}")),
                prompt=user_prompt(question, len(paths)),
                images=paths,
                solution=letter,
                meta={"n_options": len(options), "subject": obj.get("subject")},
            )
        )
    if not examples:
        raise RecordError("no questions", path=path)
    return examples


@register_task
class RetentionTask(EvalTask):
    """General multiple-choice questions, to check that post-training keeps general skills."""

    name = "retention"
    description = "MMMU-style multiple choice (general skills): letter accuracy"
    data_patterns = ("*retention*.jsonl", "*mmmu*.jsonl", "*mcq*.jsonl")

    def load(self, source: Path, *, limit: int | None = None, seed: int = 0) -> list[EvalExample]:
        """Return the multiple-choice examples of ``source``."""
        return limit_examples(mcq_examples(source), limit, seed)

    def score(self, examples: Sequence[EvalExample], completions: Sequence[str]) -> TaskResult:
        """Return letter accuracy overall (lenient and strict) and per subject (lenient)."""
        pairs = list(zip(examples, completions, strict=True))
        lenient = [judge(c, e.solution, require_tags=False, n_options=e.meta["n_options"]) for e, c in pairs]
        strict = [judge(c, e.solution, require_tags=True, n_options=e.meta["n_options"]) for e, c in pairs]
        metrics = verdict_metrics(lenient, strict)
        correct = [bool(v.correct) for v in lenient]
        if any(e.meta.get("subject") for e in examples):
            metrics["by_subject"] = grouped_accuracy(correct, [e.meta.get("subject") for e in examples])
        records = [
            {
                "id": e.id,
                "chosen": v.choice,
                "solution": e.solution,
                "correct": ok,
                "correct_strict": bool(vs.correct),
            }
            for e, v, vs, ok in zip(examples, lenient, strict, correct, strict=True)
        ]
        headline = [
            {
                "metric": name,
                "values": [float(r[key]) for r in records],
                "statistic": "mean",
                "higher_is_better": True,
            }
            for name, key in (("accuracy", "correct"), ("accuracy_strict", "correct_strict"))
        ]
        return TaskResult(self.name, metrics, headline, records)
