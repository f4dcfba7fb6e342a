"""The consistency filter for teacher completions: keep an exemplar only if it is well-formed, right,
of a sensible length, free of hint leakage and not a near-duplicate of one already kept.

"Well-formed" and "right" are the rewards' own rules (:func:`geor1.judge.think_answer_format` and
:func:`geor1.judge.judge` with tags required), so an exemplar kept here would score as correct and
well-formatted in GRPO (coordinates within ``FilterConfig.geo_tolerance_km`` rather than the rewards' 25 km).

Near-duplicates are found with MinHash over word shingles (``datasketch``'s MinHash + LSH index), then
confirmed with the MinHash Jaccard estimate, so the check stays fast on tens of thousands of exemplars.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from datasketch import MinHash, MinHashLSH

from geor1.judge import judge, split_completion

# Rejection reasons, in the order the checks run.
REASONS = (
    "teacher_abstained",
    "malformed",
    "wrong_answer",
    "too_short",
    "too_long",
    "hint_leak",
    "near_duplicate",
)

# Phrases that reveal the teacher was handed the answer (case-insensitive regular expressions).
DEFAULT_LEAK_PATTERNS: tuple[str, ...] = (
    r"\bI (?:was|am|have been|had been) (?:told|given|informed)\b",
    r"\b(?:we|you) (?:were|are|have been) (?:told|given)\b",
    r"\banswer (?:is|was|has been) (?:given|provided|stated|supplied)\b",
    r"\bgiven (?:the )?(?:correct |final )?answer\b",
    r"\bhint(?:s|ed)?\b",
    r"\bground[- ]truth\b",
    r"\bas (?:instructed|requested|stated in the prompt)\b",
    r"\bthe (?:prompt|instructions?) (?:says|said|states|stated|tells)\b",
    r"\bwithout mentioning\b",
)
# Every default pattern contains one of these words, so the patterns only run on texts that have one.
DEFAULT_LEAK_TRIGGERS: frozenset[str] = frozenset(
    "told given informed provided stated supplied hint hints hinted ground instructed requested prompt "
    "instruction instructions mentioning".split()
)

_WORD = re.compile(r"\w+")


@dataclass
class FilterConfig:
    """Filter settings (length in words of the ``<think>`` part)."""

    min_think_words: int = 20
    max_think_words: int = 800
    near_duplicate_threshold: float = 0.85  # MinHash Jaccard over word shingles; >= 1.0 turns the check off
    shingle_words: int = 3
    num_perm: int = 64
    geo_tolerance_km: float = 1.0
    leak_patterns: tuple[str, ...] = DEFAULT_LEAK_PATTERNS
    # Lower-case words of which every leak pattern contains one (a fast pre-check); None: always search.
    leak_triggers: frozenset[str] | None = DEFAULT_LEAK_TRIGGERS

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a JSON-safe dict (for the run log)."""
        out = asdict(self)
        out["leak_patterns"] = list(self.leak_patterns)
        out["leak_triggers"] = sorted(self.leak_triggers) if self.leak_triggers is not None else None
        return out


@dataclass
class Verdict:
    """The filter's decision on one completion."""

    keep: bool
    reason: str | None = None
    answer: str | None = None
    think_words: int = 0
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the verdict as a JSON-safe dict."""
        return {
            "keep": self.keep,
            "reason": self.reason,
            "answer": self.answer,
            "think_words": self.think_words,
            "detail": self.detail,
        }


def shingles(text: str, size: int) -> set[bytes]:
    """Return the set of ``size``-word shingles of ``text`` (lower-cased words), as bytes."""
    return word_shingles(_WORD.findall(text.lower()), size)


def word_shingles(words: list[str], size: int) -> set[bytes]:
    """Return the set of ``size``-word shingles of a word list, as bytes."""
    if len(words) <= size:
        return {" ".join(words).encode()}
    return {" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1)}


class CotFilter:
    """Judges completions and remembers the kept ones for the near-duplicate check."""

    def __init__(self, config: FilterConfig | None = None):
        self.config = config or FilterConfig()
        # One alternation scans the text once instead of once per pattern.
        self._leak = re.compile("|".join(f"(?:{p})" for p in self.config.leak_patterns), re.IGNORECASE)
        self._dedup = self.config.near_duplicate_threshold < 1.0
        # crc32 is a fast, stable 32-bit hash; the permutations are built once and shared.
        self._proto = MinHash(num_perm=self.config.num_perm, hashfunc=zlib.crc32)
        self._lsh = (
            # Banding tuned against false negatives (a missed duplicate is kept for good); false positives
            # cost nothing because every candidate is confirmed with its Jaccard estimate.
            MinHashLSH(
                threshold=self.config.near_duplicate_threshold,
                num_perm=self.config.num_perm,
                weights=(0.05, 0.95),
            )
            if self._dedup
            else None
        )
        self._kept: dict[str, MinHash] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def _minhash(self, words: list[str]) -> MinHash:
        m = MinHash(
            num_perm=self.config.num_perm,
            hashfunc=zlib.crc32,
            permutations=self._proto.permutations,
            scheme=self._proto.scheme,
        )
        m.update_batch(list(word_shingles(words, self.config.shingle_words)))
        return m

    def check(self, text: str | None, solution: str) -> Verdict:
        """Return the verdict on one completion without remembering it (``None`` text is malformed)."""
        return self._check(text, solution)[0]

    def _check(self, text: str | None, solution: str) -> tuple[Verdict, MinHash | None]:
        parts = split_completion(text) if isinstance(text, str) else None
        if parts is None:
            return Verdict(False, "malformed", detail="not <think>…</think><answer>…</answer>"), None
        think, answer = parts
        words = _WORD.findall(think.lower())
        n_words = len(words)
        # The rewards' judge, strict (the format check above already required the tags).
        if not judge(text, solution, require_tags=True, within_km=self.config.geo_tolerance_km).correct:
            return Verdict(False, "wrong_answer", answer, n_words, detail=f"expected {solution!r}"), None
        if n_words < self.config.min_think_words:
            return Verdict(False, "too_short", answer, n_words), None
        if n_words > self.config.max_think_words:
            return Verdict(False, "too_long", answer, n_words), None
        triggers = self.config.leak_triggers
        if (
            triggers is None
            or not triggers.isdisjoint(words)
            or not triggers.isdisjoint(_WORD.findall(answer.lower()))
        ):
            found = self._leak.search(text or "")
            if found:
                return Verdict(False, "hint_leak", answer, n_words, detail=found.group(0)), None
        m = None
        if self._lsh is not None:
            m = self._minhash(words)
            for key in self._lsh.query(m):
                similarity = m.jaccard(self._kept[key])
                if similarity >= self.config.near_duplicate_threshold:
                    verdict = Verdict(
                        False, "near_duplicate", answer, n_words, detail=f"{key} ({similarity:.2f})"
                    )
                    return verdict, None
        return Verdict(True, None, answer, n_words), m

    def remember(self, key: str, text: str, minhash: MinHash | None = None) -> None:
        """Add a kept completion to the near-duplicate index (ignored if already there or malformed)."""
        if self._lsh is None or key in self._kept:
            return
        if minhash is None:
            parts = split_completion(text)
            if parts is None:
                return
            minhash = self._minhash(_WORD.findall(parts[0].lower()))
        self._lsh.insert(key, minhash)
        self._kept[key] = minhash

    def judge(self, key: str, text: str | None, solution: str) -> Verdict:
        """Return the verdict on one completion and remember it if kept."""
        verdict, minhash = self._check(text, solution)
        if verdict.keep and text is not None:
            self.remember(key, text, minhash)
        return verdict

    def seed(self, kept: Iterable[tuple[str, str]]) -> None:
        """Remember completions kept by an earlier run, as (key, text) pairs."""
        for key, text in kept:
            self.remember(key, text)
