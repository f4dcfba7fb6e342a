"""Generation cache: one JSONL line per completion, keyed by (model id, task, example id, example
fingerprint, sampling hash).

The model id of a local folder carries a fingerprint of its files and the example fingerprint hashes the
prompt and the images (``geor1.eval.fingerprint``), so a rebuilt test set or a retrained model is
generated again while an unchanged one is not. A re-run, or a run resumed after a crash or a kill, reads
the file, skips every key already there and appends only new completions (``geor1.io.JsonlAppender``
flushes each line and drops a torn last line), so nothing is generated twice and no key is written twice.
Lines without an example fingerprint (written before it existed) are ignored: nothing proves their
example is unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from geor1.io import JsonlAppender, iter_jsonl


class CacheKey(NamedTuple):
    """What a cached completion depends on."""

    model: str
    task: str
    id: str
    input: str  # geor1.eval.fingerprint.example_fingerprint
    sampling: str


class GenerationCache:
    """Completions on disk for resumable evaluation."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._appender = JsonlAppender(self.path)  # repairs a partial last line before we read
        self._rows: dict[CacheKey, str] = {}
        if self.path.stat().st_size:
            for _, row in iter_jsonl(self.path):
                if "input" in row:
                    key = CacheKey(row["model"], row["task"], row["id"], row["input"], row["sampling"])
                    self._rows[key] = row["completion"]

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: CacheKey) -> str | None:
        """Return the cached completion for ``key``, or None."""
        return self._rows.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def put(self, key: CacheKey, completion: str) -> None:
        """Store a completion (appended and flushed at once); a key already present is left as it is."""
        if key in self._rows:
            return
        self._appender.write({**key._asdict(), "completion": completion})
        self._rows[key] = completion

    def close(self) -> None:
        """Close the file."""
        self._appender.close()

    def __enter__(self) -> GenerationCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
