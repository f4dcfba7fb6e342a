"""Whitespace-word statistics for a batch of texts, vectorised with numpy.

``word_counts`` gives ``len(text.split())`` and ``ngram_counts`` gives, in addition, the number of distinct
n-grams of ``text.lower().split()``, for every text of a batch, the two quantities the cosine length and the
repetition rewards need. ASCII texts (the usual case) are processed together as one byte string, translated once
so that upper case becomes lower case and the control bytes that are not whitespace move above 127: then a byte
is ``str.split`` whitespace exactly when it is <= 32. Word starts come from one comparison pass; each word's hash
is built from its bytes read as 8-byte little-endian chunks straight out of the buffer (the word's end found inside
each chunk with a SWAR test) and mixed by the splitmix64 finaliser. An n-gram's key is a linear form of its word hashes, and distinct n-grams are counted with
one sort per batch instead of one Python tuple per n-gram. Texts with non-ASCII characters take the exact Python
path (``str.lower().split()`` and a set of word tuples), so Unicode whitespace and case folding behave exactly as
``str`` defines them.

Temporaries live in per-thread scratch arrays reused from call to call (``out=`` everywhere): on a VM a freshly
allocated array costs page faults on first touch, which made up a third of the time of a GRPO-sized batch in a
loop of calls (measured on the 2-core development VM).

Hashing makes the count exact unless two different n-grams of one text share a 56-bit key (probability about
``k² / 2⁵⁷`` for a text with ``k`` n-grams, i.e. about 3·10⁻¹¹ for 2,000 n-grams); such a collision would
count the two as one, changing the repetition penalty by ``1/k``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from geor1.rewards.base import RecentBatches

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
# One odd multiplier per position inside an n-gram (fixed seed: results are reproducible run to run).
_POSITION_SALTS = np.random.default_rng(20251001).integers(1, 2**62, size=64, dtype=np.uint64) * np.uint64(
    2
) + np.uint64(1)
_CHUNK_CHARS = 1_000_000  # bound on the bytes handled in one numpy pass (keeps temporaries small)
_CHUNK_TEXTS = 128  # texts per pass: the text index (plus a dummy) lives in the top 8 bits of a sort key
_HASH_BITS = 56
_KEY_MASK = np.uint64(2**_HASH_BITS - 1)
_TEXT_TAG = np.uint64(1 << _HASH_BITS)
_TEXT_TAGS = np.arange(_CHUNK_TEXTS + 1, dtype=np.uint64) << np.uint64(_HASH_BITS)

# Byte translation applied to the joined texts: A-Z to a-z (the n-grams are of lower-cased words), and the
# control bytes that str.split does NOT treat as whitespace (0-8, 14-27) to 128 + byte, so that afterwards
# "whitespace" is exactly "byte <= 32" and no word byte is 0. (ASCII texts have no bytes >= 128 to collide with.)
_TRANSLATION = bytearray(range(256))
for _byte in range(ord("A"), ord("Z") + 1):
    _TRANSLATION[_byte] = _byte + 32
for _byte in (*range(0, 9), *range(14, 28)):
    _TRANSLATION[_byte] = 128 + _byte
_TRANSLATION = bytes(_TRANSLATION)
_PAD = " " * 8  # trailing whitespace: an 8-byte chunk can be read at any word start
_BELOW_33 = np.uint64(0x2121212121212121)
_HIGH_BITS = np.uint64(0x8080808080808080)
# Scratch arrays up to this many elements are kept for the next call (a GRPO batch of 64 completions of 2,048
# tokens is ~0.5 M bytes and ~100 k words); bigger ones are allocated per call. At most ~40 MB per thread.
_SCRATCH_KEPT = 1 << 19


class _Scratch(threading.local):
    """Per-thread scratch arrays by name, grown on demand and reused (views of the first ``size`` elements)."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def __call__(self, name: str, size: int, dtype: type) -> np.ndarray:
        array = self.arrays.get(name)
        if array is None or array.size < size:
            if size > _SCRATCH_KEPT:
                return np.empty(size, dtype=dtype)
            capacity = min(max(size + size // 2, 4096), _SCRATCH_KEPT)
            array = self.arrays[name] = np.empty(capacity, dtype=dtype)
        return array[:size]


_scratch = _Scratch()


def _mix(x: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser of ``x``, in place (``tmp``: scratch of the same size): spreads every bit over all 64."""
    for shift, multiplier in ((30, _M1), (27, _M2), (31, None)):
        np.right_shift(x, np.uint64(shift), out=tmp)
        x ^= tmp
        if multiplier is not None:
            x *= multiplier
    return x


def _cut_at_space(chunks: np.ndarray, flags: np.ndarray, tmp: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """Zero, in place, each 8-byte chunk from its first whitespace byte (<= 32) on; return ``whole``, set where a
    chunk had none (the word goes on). ``flags``/``tmp``/``whole`` are scratch arrays of the chunks' size.

    SWAR test: ``(x - 0x21…) & ~x & 0x80…`` flags the bytes below 0x21 (bytes >= 128 never flag); borrows can
    flag bytes above a flagged one but never below, so the lowest flag is exact. ``low - 1`` with ``low`` the
    lowest flag moved down to bit 0 of its byte masks the bytes before it.
    """
    np.subtract(chunks, _BELOW_33, out=flags)
    np.invert(chunks, out=tmp)
    flags &= tmp
    flags &= _HIGH_BITS
    np.equal(flags, 0, out=whole)
    np.negative(flags, out=tmp)
    flags &= tmp  # the lowest flag alone (0 when there is none: the mask below is then all ones)
    flags >>= np.uint64(7)
    flags -= np.uint64(1)
    chunks &= flags
    return whole


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
    """One numpy pass over ASCII texts joined by spaces: word starts and words per text; n-gram counts on demand."""

    def __init__(self, texts: Sequence[str]):
        self.n_texts = len(texts)
        # " " + texts joined by " " + padding: text i starts at offset 1 + sum(len(texts[:i]) + 1).
        text_starts = np.empty(self.n_texts, dtype=np.int64)
        text_starts[0:1] = 1
        np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=self.n_texts)[:-1], out=text_starts[1:])
        text_starts[1:] += np.arange(2, self.n_texts + 1)
        self.raw = " ".join(("", *texts, _PAD)).encode("ascii").translate(_TRANSLATION)
        size = len(self.raw)
        word = np.greater(np.frombuffer(self.raw, dtype=np.uint8), 32, out=_scratch("word", size, np.bool_))
        starts = np.greater(word[1:], word[:-1], out=_scratch("starts", size - 1, np.bool_))  # byte before
        self.word_starts = np.flatnonzero(starts)
        self.word_starts += 1
        self.first_word = np.searchsorted(self.word_starts, text_starts)  # index of each text's first word
        self.n_words = np.empty(self.n_texts, dtype=np.int64)
        np.subtract(self.first_word[1:], self.first_word[:-1], out=self.n_words[:-1])
        self.n_words[-1] = self.word_starts.size - self.first_word[-1]
        self._distinct: dict[int, np.ndarray] = {}

    def distinct_ngrams(self, n: int) -> np.ndarray:
        """Number of distinct word n-grams per text (0 for texts with fewer than ``n`` words)."""
        if n not in self._distinct:
            self._distinct[n] = self._count_distinct(n)
        return self._distinct[n]

    def _word_hashes(self) -> np.ndarray:
        """64-bit hash of each word (lower-cased), in a scratch array.

        ``mix(c0 + sum(mix(c_k + k * salt) for further chunks k >= 1))`` where ``c0`` is the word's first 8 bytes
        and ``c_k`` its k-th further 8-byte chunk (zero-padded past the word's end): distinct words give distinct
        chunk sequences, as no word byte is 0.
        """
        starts = self.word_starts
        n_words = starts.size
        # The buffer read as a little-endian uint64 at EVERY byte offset (an unaligned view, no copy).
        at = np.ndarray((len(self.raw) - 7,), dtype="<u8", buffer=self.raw, strides=(1,))
        hashes = np.take(at, starts, out=_scratch("hashes", n_words, np.uint64), mode="clip")
        tmp = _scratch("tmp", n_words, np.uint64)
        flags = _scratch("flags", n_words, np.uint64)
        whole = _cut_at_space(hashes, flags, tmp, _scratch("whole", n_words, bool))
        longer = np.flatnonzero(whole)  # words that go on past their first 8 bytes (few)
        if longer.size:
            hashes[longer] += self._further_chunks(longer, at)
        return _mix(hashes, tmp)

    def _further_chunks(self, longer: np.ndarray, at: np.ndarray) -> np.ndarray:
        """For each word in ``longer`` (indices of words of 8 bytes or more), ``sum(mix(c_k + k * salt))`` over its
        chunks after the first, all words in one vectorised pass."""
        starts = self.word_starts
        first = starts[longer] + 8
        # Chunks are read up to the next word's start (or the padding after the last word): those past the word's
        # end hold whitespace only, so they are zero after _cut_at_space, and are left out of the sum.
        limit = np.take(starts, longer + 1, mode="clip")
        if longer[-1] == starts.size - 1:
            limit[-1] = len(self.raw) - len(_PAD)
        n_chunks = (limit - first + 7) >> 3  # >= 1: at least the byte after an 8-byte word is whitespace
        ends = np.cumsum(n_chunks)
        offsets = ends - n_chunks  # where each word's chunks begin in the flat arrays
        position = np.arange(ends[-1]) - np.repeat(offsets, n_chunks)  # chunk number inside its word, from 0
        chunks = at[np.repeat(first, n_chunks) + 8 * position]
        terms = np.empty_like(chunks)
        _cut_at_space(chunks, terms, np.empty_like(chunks), np.empty(chunks.size, dtype=bool))
        present = chunks != 0  # a chunk inside a word has no zero byte (the translation moved 0 away)
        position += 1
        np.multiply(position.view(np.uint64), _M2, out=terms)
        terms += chunks
        _mix(terms, chunks)
        terms *= present
        return np.add.reduceat(terms, offsets)

    def _count_distinct(self, n: int) -> np.ndarray:
        n_texts, total = self.n_texts, self.word_starts.size
        n_windows = total - n + 1
        if n_windows <= 0:
            return np.zeros(n_texts, dtype=np.int64)
        keys = _window_keys(self._word_hashes(), n)
        keys &= _KEY_MASK
        # Sort key: the text index in the top bits, the n-gram hash below. Built as a running sum of one tag step
        # at each text's first window. Windows that run from one text into the next (those starting in the last
        # n - 1 words before a text boundary) get the dummy index n_texts (above every real one).
        tags = _scratch("tags", n_windows, np.uint64)
        tags.fill(0)
        first = self.first_word[1:]
        np.add.at(tags, first[first < n_windows], _TEXT_TAG)
        np.cumsum(tags, out=tags)
        if n > 1 and n_texts > 1:
            crossing = (first[:, None] - np.arange(1, n)).ravel()
            tags[crossing[(crossing >= 0) & (crossing < n_windows)]] = _TEXT_TAGS[n_texts]
        keys |= tags
        keys.sort()
        # Distinct keys in text t's run [lo, hi) of the sorted keys: its length minus the equal neighbours inside.
        bounds = np.searchsorted(keys, _TEXT_TAGS[: n_texts + 1])
        # equal_before[i]: the equal neighbours (j, j + 1) with j < i, for i in 0..len(keys).
        equal_before = _scratch("equal", keys.size + 1, np.int64)
        equal_before[0] = 0
        same = np.equal(keys[1:], keys[:-1], out=_scratch("same", keys.size - 1, bool))
        np.cumsum(same, out=equal_before[1:-1])
        equal_before[-1] = equal_before[-2]
        lo, hi = bounds[:-1], bounds[1:]
        distinct = (hi - lo) - (equal_before[np.maximum(hi - 1, lo)] - equal_before[lo])
        return distinct


def _window_keys(hashes: np.ndarray, n: int) -> np.ndarray:
    """Return a 64-bit key per window of ``n`` consecutive word hashes (``len(hashes) - n + 1`` keys, a scratch
    array distinct from ``hashes``).

    Spans double (1, 2, 4, … words: ``span2[i] = span1[i] * salt + span1[i + 1]``) and the binary digits of ``n``
    are joined left to right, so a 6-gram costs 6 array operations instead of 11. The result is a linear form in
    the ``n`` word hashes with odd multipliers: as the word hashes are mixed, two different n-grams differ by a
    uniformly spread amount, so the low bits of their keys collide with probability 2⁻⁵⁶.
    """
    total = hashes.size
    spans = {1: hashes}
    length = 1
    while 2 * length <= n:
        half = spans[length]
        out = _scratch(f"span{2 * length}", total - 2 * length + 1, np.uint64)
        span = np.multiply(half[:-length], _POSITION_SALTS[length.bit_length()], out=out)
        span += half[length:]
        spans[2 * length] = span
        length *= 2
    # Only the first total - n + 1 entries of each partial sum are needed: entry i depends on entry i alone.
    key = _scratch("key", total - n + 1, np.uint64)
    covered = 0
    for size in sorted(spans, reverse=True):
        if covered + size > n:
            continue
        part = spans[size][covered : covered + key.size]
        if covered == 0:
            key[:] = part
        else:
            key *= _POSITION_SALTS[0]
            key += part
        covered += size
    return key


_scans = RecentBatches()


def _scan(texts: tuple[str, ...]) -> _Scan:
    """Return the scan of ``texts``, reusing a recent one: within a GRPO step the length and the repetition
    rewards read the same completions, so the second one skips the byte pass."""
    scan = _scans.get(texts, None)
    if scan is None:
        scan = _Scan(texts)
        _scans.put(texts, None, scan)
    return scan  # type: ignore[return-value]


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


def ngram_counts(texts: Sequence[str], n: int) -> list[tuple[int, int]]:
    """Return ``(len(words), number of distinct n-grams of words)`` per text, ``words = text.lower().split()``.

    The distinct count is 0 when a text has fewer than ``n`` words. ``n`` must be ≥ 1.
    """
    if n < 1:
        raise ValueError(f"n-gram size must be >= 1, got {n}")
    groups, others = _ascii_groups(texts)
    out: list[tuple[int, int]] = [(0, 0)] * len(texts)
    for i in others:
        out[i] = _python_ngram_counts(texts[i], n)
    for indices, group in groups:
        scan = _scan(group)
        pairs = zip(scan.n_words.tolist(), scan.distinct_ngrams(n).tolist(), strict=True)
        if len(groups) == 1 and not others:
            return list(pairs)
        for i, pair in zip(indices, pairs, strict=True):
            out[i] = pair
    return out
