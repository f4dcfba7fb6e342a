"""Whitespace-word statistics for a batch of texts, vectorised with numpy.

``word_counts`` gives ``len(text.split())`` and ``ngram_counts`` gives, in addition, the number of distinct
n-grams of ``text.lower().split()``, for every text of a batch, the two quantities the cosine length and the
repetition rewards need. ASCII texts (the usual case) are processed together as one byte array: whitespace is
found with a lookup table (the exact set ``str.split`` uses on ASCII), each word gets a 64-bit hash (a polynomial
over its bytes, then a splitmix64 finaliser with its length), and each n-gram a 64-bit hash of its word hashes;
distinct n-grams are counted with one sort per batch instead of one Python tuple per n-gram. Texts with non-ASCII
characters take the exact Python path (``str.lower().split()`` and a set of word tuples), so Unicode whitespace
and case folding behave exactly as ``str`` defines them.

Hashing makes the count exact unless two different n-grams of one text share a 56-bit key (probability about
``k² / 2⁵⁷`` for a text with ``k`` n-grams, i.e. about 3·10⁻¹¹ for 2,000 n-grams); such a collision would
count the two as one, changing the repetition penalty by ``1/k``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

_BASE = 0x9E3779B97F4A7C15  # odd multiplier of the polynomial word hash (mod 2**64)
_BASE_INV = pow(_BASE, -1, 2**64)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_LEN_SALT = np.uint64(0xD6E8FEB86659FD93)
# One odd multiplier per position inside an n-gram (fixed seed: results are reproducible run to run).
_POSITION_SALTS = np.random.default_rng(20251001).integers(1, 2**62, size=64, dtype=np.uint64) * np.uint64(
    2
) + np.uint64(1)
_CHUNK_CHARS = 1_000_000  # bound on the bytes handled in one numpy pass (keeps temporaries small)
_CHUNK_TEXTS = 128  # texts per pass: the text index (plus a dummy) lives in the top 8 bits of a sort key
_HASH_BITS = 56

_powers = np.ones(1, dtype=np.uint64)
_inverse_powers = np.ones(1, dtype=np.uint64)


def _power_tables(length: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(BASE**k, BASE**-k)`` mod 2**64 for ``k < length`` (grown and cached on demand)."""
    global _powers, _inverse_powers
    if _powers.size < length:
        size = max(length, 2 * _powers.size)
        tables = []
        for base in (_BASE, _BASE_INV):
            table = np.empty(size, dtype=np.uint64)
            table[0] = 1
            table[1:] = np.cumprod(np.full(size - 1, base, dtype=np.uint64))
            tables.append(table)
        _powers, _inverse_powers = tables
    return _powers, _inverse_powers


def _word_bytes(buffer: np.ndarray) -> np.ndarray:
    """Mask of the bytes that are not ``str.split`` whitespace (tab..CR, 0x1C..0x1F, space), by comparisons."""
    word = buffer > 32
    if buffer.size and buffer.min() < 32:  # control characters: only 9..13 and 28..31 are whitespace
        word |= (buffer < 9) | ((buffer > 13) & (buffer < 28))
    return word


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place: spreads every input bit over the whole 64-bit word."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def _ascii_groups(texts: Sequence[str]) -> tuple[list[tuple[list[int], tuple[str, ...]]], list[int]]:
    """Split ``texts`` into numpy passes: ``([(indices, ascii texts), ...], indices of non-ASCII texts)``.

    A pass holds at most ``_CHUNK_TEXTS`` texts and about ``_CHUNK_CHARS`` characters. A GRPO batch is
    usually one pass (checked without a Python loop over the texts).
    """
    n = len(texts)
    if n <= _CHUNK_TEXTS and all(map(str.isascii, texts)) and sum(map(len, texts)) <= _CHUNK_CHARS:
        return ([(list(range(n)), tuple(texts))] if n else []), []
    groups: list[tuple[list[int], tuple[str, ...]]] = []
    others: list[int] = []
    indices: list[int] = []
    size = 0
    for i, text in enumerate(texts):
        if not text.isascii():
            others.append(i)
            continue
        if indices and (size + len(text) > _CHUNK_CHARS or len(indices) >= _CHUNK_TEXTS):
            groups.append((indices, tuple(texts[j] for j in indices)))
            indices, size = [], 0
        indices.append(i)
        size += len(text) + 1
    if indices:
        groups.append((indices, tuple(texts[j] for j in indices)))
    return groups, others


class _Scan:
    """One numpy pass over ASCII texts joined by spaces: word spans and the text each word belongs to."""

    def __init__(self, texts: Sequence[str]):
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        self.starts = np.zeros(len(texts), dtype=np.int64)
        np.cumsum(lengths[:-1] + 1, out=self.starts[1:])
        self.n_texts = len(texts)
        self.raw = " ".join(texts).encode("ascii")
        self.buffer = np.frombuffer(self.raw, dtype=np.uint8)
        word = _word_bytes(self.buffer)
        edges = np.empty(self.buffer.size + 1, dtype=bool)  # word starts and word ends, as transitions
        edges[0] = word[0] if word.size else False
        edges[-1] = word[-1] if word.size else False
        np.not_equal(word[1:], word[:-1], out=edges[1:-1])
        bounds = np.flatnonzero(edges)
        self.word_starts = bounds[0::2]
        self.word_ends = bounds[1::2]
        first_word = np.searchsorted(self.word_starts, self.starts)  # index of each text's first word
        self.n_words = np.diff(np.append(first_word, self.word_starts.size))
        self._hashes: np.ndarray | None = None

    def text_of_word(self) -> np.ndarray:
        """Index of the text each word belongs to."""
        return np.repeat(np.arange(self.n_texts), self.n_words)

    def word_hashes(self) -> np.ndarray:
        """64-bit hash of each lower-cased word: polynomial over its bytes, salted by its length, mixed."""
        if self._hashes is None:
            self._hashes = self._compute_hashes()
        return self._hashes

    def _compute_hashes(self) -> np.ndarray:
        powers, inverse = _power_tables(self.buffer.size + 1)
        lower = np.frombuffer(self.raw.lower(), dtype=np.uint8)
        prefix = np.zeros(lower.size + 1, dtype=np.uint64)
        np.cumsum(lower * powers[: lower.size], out=prefix[1:])
        hashes = (prefix[self.word_ends] - prefix[self.word_starts]) * inverse[self.word_starts]
        hashes ^= (self.word_ends - self.word_starts).astype(np.uint64) * _LEN_SALT
        return _mix(hashes)


_scans: OrderedDict[tuple[str, ...], _Scan] = OrderedDict()
_scans_lock = threading.Lock()
_SCANS_KEPT = 2


def _scan(texts: tuple[str, ...]) -> _Scan:
    """Return the scan of ``texts``, reusing a recent one: within a GRPO step the length and the repetition
    rewards read the same completions, so the second one skips the byte pass."""
    with _scans_lock:
        scan = _scans.get(texts)
        if scan is not None:
            _scans.move_to_end(texts)
            return scan
    scan = _Scan(texts)
    with _scans_lock:
        _scans[texts] = scan
        while len(_scans) > _SCANS_KEPT:
            _scans.popitem(last=False)
    return scan


def word_counts(texts: Sequence[str]) -> list[int]:
    """Return ``len(text.split())`` for every text (numpy for ASCII texts, ``str.split`` otherwise)."""
    groups, others = _ascii_groups(texts)
    if len(groups) == 1 and not others:
        return _scan(groups[0][1]).n_words.tolist()
    out = [0] * len(texts)
    for i in others:
        out[i] = len(texts[i].split())
    for indices, group in groups:
        for i, count in zip(indices, _scan(group).n_words.tolist(), strict=True):
            out[i] = count
    return out


def _python_ngram_counts(text: str, n: int) -> tuple[int, int]:
    """Exact ``(words, distinct n-grams)`` of ``text.lower().split()``."""
    words = text.lower().split()
    if len(words) < n:
        return len(words), 0
    return len(words), len(set(zip(*(words[i:] for i in range(n)), strict=False)))


def _window_keys(hashes: np.ndarray, n: int) -> np.ndarray:
    """Return a 64-bit key per window of ``n`` consecutive word hashes (``len(hashes) - n + 1`` keys).

    Spans double (1, 2, 4, … words: ``span2[i] = span1[i] * salt + span1[i + 1]``) and the binary digits of ``n``
    are joined left to right, so a 6-gram costs 6 array operations instead of 11. The result is a linear form in
    the six word hashes with fixed odd multipliers, then mixed by the caller.
    """
    spans = {1: hashes}
    length = 1
    while 2 * length <= n:
        half = spans[length]
        spans[2 * length] = half[:-length] * _POSITION_SALTS[length.bit_length()] + half[length:]
        length *= 2
    total = hashes.size
    key = None
    covered = 0
    for size in sorted(spans, reverse=True):
        if covered + size > n:
            continue
        part = spans[size]
        if key is None:
            key = part
        else:
            count = total - covered - size + 1
            key = key[:count] * _POSITION_SALTS[0] + part[covered : covered + count]
        covered += size
    return key.copy() if key is hashes else key  # type: ignore[union-attr]  # the caller mixes it in place


def _numpy_ngram_counts(texts: tuple[str, ...], n: int) -> tuple[list[int], list[int]]:
    """``(words, distinct n-grams)`` per ASCII text (at most ``_CHUNK_TEXTS`` texts), in one numpy pass."""
    scan = _scan(texts)
    n_words = scan.n_words
    n_windows = scan.word_starts.size - n + 1
    if n_windows <= 0:
        return n_words.tolist(), [0] * len(texts)
    keys = _window_keys(scan.word_hashes(), n)
    # Windows that run into the next text are counted under a dummy text index (len(texts)) and dropped.
    text_of_word = scan.text_of_word()
    text_of_window = text_of_word[:n_windows].astype(np.uint64)
    text_of_window[text_of_window != text_of_word[n - 1 :]] = len(texts)
    keys = _mix(keys) >> np.uint64(64 - _HASH_BITS)
    keys |= text_of_window << np.uint64(_HASH_BITS)  # sort by text, then by n-gram hash
    keys.sort()
    first = np.ones(keys.size, dtype=bool)
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    distinct = np.bincount((keys[first] >> np.uint64(_HASH_BITS)).astype(np.int64), minlength=len(texts) + 1)
    distinct = distinct[: len(texts)]
    return n_words.tolist(), distinct.tolist()


def ngram_counts(texts: Sequence[str], n: int) -> list[tuple[int, int]]:
    """Return ``(len(words), number of distinct n-grams of words)`` per text, ``words = text.lower().split()``.

    The distinct count is 0 when a text has fewer than ``n`` words. ``n`` must be ≥ 1.
    """
    if n < 1:
        raise ValueError(f"n-gram size must be >= 1, got {n}")
    groups, others = _ascii_groups(texts)
    if len(groups) == 1 and not others:
        return list(zip(*_numpy_ngram_counts(groups[0][1], n), strict=True))
    out: list[tuple[int, int]] = [(0, 0)] * len(texts)
    for i in others:
        out[i] = _python_ngram_counts(texts[i], n)
    for indices, group in groups:
        for i, w, d in zip(indices, *_numpy_ngram_counts(group, n), strict=True):
            out[i] = (w, d)
    return out
