"""The reference rewards of VLM-R1's ``grpo_jsonl.py`` (which Geo-R1's released code builds on), reproduced.

The rewards ``vlmr1_accuracy``, ``vlmr1_format``, ``vlmr1_length`` and ``vlmr1_repetition`` return what the
reference's ``accuracy_reward`` (``mcq`` path), ``format_reward``, ``cosine_rewards`` and
``repetition_rewards`` return, quirks included. Each helper function returns what the reference returns on
every input, but in linear time: the reference's ``re.search(r"<answer>(.*?)</answer>", ..., re.DOTALL)`` and
``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", ..., re.DOTALL)`` are quadratic on inputs with many
opening tags and no closing one, and its ``extract_choice`` calls ``text.find`` once per letter occurrence. The
exceptions are the inputs on which the reference raises or needs a package geor1 does not ship (see
:func:`json_repetition`): there a value is still returned, as documented.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from geor1.parsing import solution_letter
from geor1.rewards.base import Reward, column, completion_texts
from geor1.rewards.length import check_max_len, check_unit, measure_lengths
from geor1.rewards.repetition import check_ngram_size, check_penalty, word_repetition

_OPEN, _CLOSE = "<answer>", "</answer>"
_THINK_OPEN, _ANSWER_CLOSE = "<think>", "</answer>"
_THINK_TO_ANSWER = re.compile(r"</think>\s*<answer>")
_MIN_FORMAT_LEN = len("<think></think><answer></answer>")
_MARKS = ".,?!:;"
# The reference's choice pattern, applied to the upper-cased text before whitespace collapsing ($ becomes \Z).
_CHOICE_IN_UPPER = re.compile(r"(?<![A-Z])([A-Z])(?=[.,?!:;]|\Z)")
_KEYWORDS = tuple(
    k.upper()
    for k in (
        "答案",
        "选择",
        "正确",
        "是",
        "对",
        "answer",
        "correct",
        "choose",
        "select",
        "right",
        "认为",
        "应该",
        "觉得",
        "think",
        "believe",
        "should",
    )
)
_FOLLOWING_PUNCT = "。.!！,，"


def first_answer(text: str, *, dotall: bool = True) -> str | None:
    """Return group 1 of the reference's ``re.search(r"<answer>(.*?)</answer>", text[, re.DOTALL])`` or None.

    The FIRST ``<answer>`` that has a ``</answer>`` after it (with ``dotall=False``, on the same line).
    """
    if not dotall:
        for line in text.split("\n"):
            found = first_answer(line)
            if found is not None:
                return found
        return None
    start = text.find(_OPEN)
    if start < 0:
        return None
    end = text.find(_CLOSE, start + len(_OPEN))
    return None if end < 0 else text[start + len(_OPEN) : end]


def _collapse_spaces(text: str) -> str:
    """``re.sub(r"\\s+", " ", text)``, via str.split (same whitespace set; checked over all code points)."""
    inner = " ".join(text.split())
    if not inner:
        return " " if text else ""
    return (" " if text[0].isspace() else "") + inner + (" " if text[-1].isspace() else "")


_UPPER_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_MANY_MARKS = 64


def _choices_by_marks(text: str, letters: frozenset[str]) -> list[str] | None:
    """The reference's choice letters (upper-cased), looking only at the character before each punctuation mark
    and at the last one; ``None`` when there are more than ``_MANY_MARKS`` marks (the regex is then quicker).

    ``letters`` are the characters that read as the reference's ``[A-Z]``: A–Z in an upper-cased text, or both
    cases in an ASCII text (whose upper-casing maps exactly a–z to A–Z and moves no character).
    """
    positions = [len(text) - 1]
    for mark in _MARKS:
        i = text.find(mark, 1)
        while i >= 0:
            positions.append(i - 1)
            if len(positions) > _MANY_MARKS:
                return None
            i = text.find(mark, i + 1)
    positions.sort()
    return [
        text[p].upper()
        for p in positions
        if p >= 0 and text[p] in letters and (p == 0 or text[p - 1] not in letters)
    ]


def extract_choice(text: str) -> str | None:
    """The reference's ``extract_choice``: upper-case, collapse whitespace, letters followed by punctuation or the
    end; with several, the keyword/position score decides (ties go to the letter seen first).

    The letters are found as ``re.findall(r"(?<![A-Z])([A-Z])(?=[.,?!:;]|$)", collapsed)`` finds them:
    collapsing whitespace changes neither which characters are A–Z/punctuation nor where the text ends (the
    collapsed text has no newline for ``$`` to stop before), so they are read off the text before collapsing, and
    a long ASCII text is not even upper-cased unless several letters need scoring.
    """
    upper = None
    choices = None
    if len(text) > 256:
        if text.isascii():
            choices = _choices_by_marks(text, _ASCII_LETTERS)
        else:
            upper = text.upper()
            choices = _choices_by_marks(upper, _UPPER_LETTERS)
    if choices is None:
        upper = text.upper() if upper is None else upper
        choices = _CHOICE_IN_UPPER.findall(upper)
    if not choices:
        return None
    if len(choices) == 1:
        return choices[0]
    text = _collapse_spaces(text.upper() if upper is None else upper)
    occurrences: dict[str, int] = {}
    for choice in choices:
        occurrences[choice] = occurrences.get(choice, 0) + 1
    scores = {}
    for choice, count in occurrences.items():
        # The reference re-scores every occurrence with text.find(choice), i.e. the same first position each
        # time, so one occurrence's score times the number of occurrences is the same total.
        pos = text.find(choice)
        context = text[max(0, pos - 20) : min(len(text), pos + 20)]
        score = sum(1 for keyword in _KEYWORDS if keyword in context)
        if pos > len(text) * 0.7:
            score += 2
        if pos < len(text) - 1 and text[pos + 1] in _FOLLOWING_PUNCT:
            score += 1
        scores[choice] = score * count
    return max(scores.items(), key=lambda item: item[1])[0]


def correct_choice(solution: str) -> str:
    """The reference's ``correct_choice`` for a solution string (its letter, or the stripped solution itself)."""
    inner = first_answer(solution, dotall=False)
    ground_truth = inner.strip() if inner is not None else solution.strip()
    solution_choice = extract_choice(ground_truth)
    return solution_choice.upper() if solution_choice else solution.strip()


def student_choice(content: str) -> str | None:
    """The reference's ``extract_choice`` of a completion's answer: the FIRST ``<answer>…</answer>`` block's
    stripped content, or the whole stripped text when there is none."""
    start = content.find(_OPEN)
    end = content.find(_CLOSE, start + len(_OPEN)) if start >= 0 else -1
    answer = content[start + len(_OPEN) : end].strip() if end >= 0 else content.strip()
    return extract_choice(answer)


def mcq_correct(content: str, solution: str) -> bool:
    """The reference's ``mcq_reward(content, sol) == 1.0``: first answer block (whole text if none) vs solution."""
    choice = student_choice(content)
    return bool(choice) and choice == correct_choice(solution)


def format_ok(text: str) -> bool:
    """The reference's ``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", text, re.DOTALL)``.

    A full match exists iff the text starts with ``<think>``, ends with ``</answer>`` and the part strictly
    between those two contains ``</think>``, optional whitespace, ``<answer>``.
    """
    n = len(text)
    if n < _MIN_FORMAT_LEN or not text.startswith(_THINK_OPEN) or not text.endswith(_ANSWER_CLOSE):
        return False
    return _THINK_TO_ANSWER.search(text, len(_THINK_OPEN), n - len(_ANSWER_CLOSE)) is not None


def cosine_length(gen_len: int, max_len: int) -> float:
    """The reference's ``cosine_reward`` value: the "correct" curve 1.0 → 0.5 at ``max_len``, periodic beyond.

    Same expression as the reference (correctness forced to 1.0, so always the "correct" curve; no clamping, so
    the value climbs back to 1.0 at ``2 * max_len``).
    """
    max_value, min_value = 1.0, 0.5
    return max_value - (max_value - min_value) * (1 - math.cos(gen_len * math.pi / max_len)) / 2


# The reference repetition reward's third search, r'\[\s*{.*?"bbox_2d".*?"label".*?}\s*\]' (re.DOTALL), in pieces.
_BBOX_ARRAY_START = re.compile(r"\[\s*\{")
_BBOX_ARRAY_END = re.compile(r"\}\s*\]")
_BBOX, _LABEL = "bbox_2d", "label"
_BBOX_KEY, _LABEL_KEY = f'"{_BBOX}"', f'"{_LABEL}"'  # as the search sees them in the text


def _bbox_array(text: str) -> str | None:
    """Return group 0 of the reference's bbox-array search, or None.

    Its lazy groups make the leftmost match the first ``[ {`` followed by the first ``"bbox_2d"``, the first
    ``"label"`` after that and the first ``} ]`` after that; if that chain fails from the first ``[ {``, it
    fails from every later one (each later start leaves less text), so one pass of ``find`` decides.
    """
    if _BBOX_KEY not in text:
        return None
    opening = _BBOX_ARRAY_START.search(text)
    if opening is None:
        return None
    bbox = text.find(_BBOX_KEY, opening.end())
    label = text.find(_LABEL_KEY, bbox + len(_BBOX_KEY)) if bbox >= 0 else -1
    closing = _BBOX_ARRAY_END.search(text, label + len(_LABEL_KEY)) if label >= 0 else None
    return text[opening.start() : closing.end()] if closing else None


def json_block(text: str) -> str | None:
    """Return the text the reference's ``repetition_reward`` tries to read as JSON, or None.

    In order: the stripped body of the first ```` ```json … ``` ```` fence (even when empty: the reference then
    stops looking); else the stripped body of the first ```` ``` … ``` ```` fence if not empty; else the first
    ``[{ … "bbox_2d" … "label" … }]`` span. Each search is the reference's ``re.search`` (leftmost start, lazy
    body) done with ``str.find``: the first opening fence decides, since a later one only leaves less text.
    """
    start = text.find("```json")
    if start >= 0:
        end = text.find("```", start + len("```json"))
        if end >= 0:
            return text[start + len("```json") : end].strip()
    start = text.find("```")
    if start >= 0:
        end = text.find("```", start + 3)
        if end >= 0 and (block := text[start + 3 : end].strip()):
            return block
    return _bbox_array(text)


def json_box_items(block: str) -> list[str] | None:
    """Return the ``f"{bbox_2d}_{label}"`` strings the reference counts for a JSON block, or None when the
    reference scores the completion as plain text instead.

    Plain text: the block is not valid JSON or is not a non-empty list. Where the reference fails instead,
    the completion is scored as plain text too (as its ``except KeyError`` fallback does): malformed JSON (the
    reference retries it with the ``json_repair`` package, which geor1 does not ship), nesting too deep to
    parse, and list items the reference cannot index (``"bbox_2d" in item`` on a number, ``true`` or ``null``
    raises TypeError, and so does indexing a string or list item that contains both key names). Objects
    without both keys, and strings or lists without both names, are skipped as in the reference.
    """
    try:
        data = json.loads(block)
        if not data or not isinstance(data, list):
            return None
        items = []
        for item in data:
            if isinstance(item, dict):
                if _BBOX in item and _LABEL in item:
                    items.append(f"{item[_BBOX]}_{item[_LABEL]}")
            elif not isinstance(item, str | list) or (_BBOX in item and _LABEL in item):
                return None
        return items
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        return None


def json_repetition(text: str, max_penalty: float = -1.0) -> float | None:
    """Return the reference's ``repetition_reward`` for a completion holding JSON boxes, or None when it is
    scored as plain text (word 6-grams).

    The value is ``(1 - distinct / total) * max_penalty`` over the block's ``"{bbox_2d}_{label}"`` items
    (unigrams: a repeated box counts); 0.0 for a JSON list with no such item.
    """
    if "`" not in text and _BBOX not in text:  # no fence, no box array: the usual case, decided fast
        return None
    block = json_block(text)
    if not block:
        return None
    items = json_box_items(block)
    if items is None:
        return None
    if not items:
        return 0.0
    return (1 - len(set(items)) / len(items)) * max_penalty


# ---------------------------------------------------------------------------------------------- the rewards


class VLMR1Accuracy(Reward):
    """The reference's multiple-choice accuracy: 1.0 when :func:`mcq_correct`, else 0.0.

    It reads the FIRST ``<answer>`` block (the whole text when there is none) with the reference's keyword
    heuristics; ``None`` for a solution that is not a letter (the reference's ``mcq`` path only applies to
    those). geor1's own rule, shared with evaluation, is ``accuracy``.
    """

    name = "vlmr1_accuracy"

    def __call__(self, completions: Sequence[object], **kwargs: Any) -> list[float | None]:
        """Return one value per completion."""
        solutions = column(kwargs, "solution", len(completions), self.name)
        out: list[float | None] = []
        for text, solution in zip(completion_texts(completions), solutions, strict=True):
            if solution_letter(solution) is None:
                out.append(None)
            else:
                out.append(1.0 if mcq_correct(text, solution) else 0.0)
        return out


class VLMR1Format(Reward):
    """The reference's format reward: 1.0 when :func:`format_ok` (its ``re.fullmatch``), else 0.0.

    Unlike ``format`` it allows no whitespace before ``<think>`` or after ``</answer>`` and lets extra tags
    inside the blocks pass (``"<think>a</think><answer>b</answer><answer>c</answer>"`` scores 1.0).
    """

    name = "vlmr1_format"

    def __call__(self, completions: Sequence[object], **kwargs: Any) -> list[float | None]:
        """Return 1.0 or 0.0 per completion."""
        return [1.0 if format_ok(text) else 0.0 for text in completion_texts(completions)]


class VLMR1Length(Reward):
    """The reference's cosine length reward (:func:`cosine_length`): the "correct" curve 1.0 → 0.5 for every
    completion (the reference forces correctness), periodic past ``max_len``; the ``solution`` is not read.

    The reference measures ``len(tokenizer.encode(text))`` with the policy's tokenizer and ``max_len=1024``;
    ``unit`` and ``tokenizer`` are as for the ``length`` reward.
    """

    name = "vlmr1_length"

    def __init__(self, *, max_len: int = 1024, unit: str = "auto", tokenizer: Any = None):
        self.max_len = check_max_len(max_len)
        self.unit = check_unit(unit, tokenizer)
        self.tokenizer = tokenizer

    def __call__(self, completions: Sequence[object], **kwargs: Any) -> list[float | None]:
        """Return one value per completion."""
        lengths = measure_lengths(completion_texts(completions), self.unit, self.tokenizer, kwargs, self.name)
        return [cosine_length(n, self.max_len) for n in lengths]


class VLMR1Repetition(Reward):
    """The reference's repetition reward: word ``ngram_size``-grams, except that a completion holding a JSON
    list of boxes is scored on its repeated ``"{bbox_2d}_{label}"`` items (:func:`json_repetition`).

    The JSON block is a ```` ```json ```` fence, else any ```` ``` ```` fence, else a bare
    ``[{… "bbox_2d" … "label" …}]`` span; an empty ```` ```json ```` fence stops the search and any other
    block that is not a JSON list is scored as plain text. Where the reference raises or repairs malformed JSON
    with ``json_repair`` (not a geor1 dependency), the completion is scored as plain text.
    """

    name = "vlmr1_repetition"

    def __init__(self, *, ngram_size: int = 6, max_penalty: float = -1.0):
        self.ngram_size = check_ngram_size(ngram_size)
        self.max_penalty = check_penalty(max_penalty)

    def __call__(self, completions: Sequence[object], **kwargs: Any) -> list[float | None]:
        """Return one penalty per completion."""
        out: list[float | None] = []
        for text in completion_texts(completions):
            boxes = json_repetition(text, self.max_penalty)
            out.append(
                boxes if boxes is not None else word_repetition(text, self.ngram_size, self.max_penalty)
            )
        return out
