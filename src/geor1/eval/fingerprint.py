"""Fingerprints that key the generation cache to what actually produced an answer.

An example id says nothing about its content: rebuilding a test set keeps the ids while prompts, image
order or images change, so the cache key carries ``example_fingerprint`` (the prompt and the bytes of
every image, in order — what the model is shown). A model folder's path says nothing about its weights:
training again into the same folder keeps the path, so a local model's id carries ``model_fingerprint``
(names, sizes and modification times of the files loading reads; stat only, no weight hashing).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from geor1.eval.types import EvalExample, SamplingConfig

# Top-level files of a saved model that loading reads: configs, weights, tokenizer, processor, template.
MODEL_FILE_SUFFIXES = frozenset(
    {".json", ".safetensors", ".bin", ".pt", ".pth", ".model", ".jinja", ".txt", ".tiktoken"}
)
_DIGEST_CHARS = 16


def _digest(parts: Iterable[bytes]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()[:_DIGEST_CHARS]


@lru_cache(maxsize=65_536)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    # keyed by (size, mtime) so a file rewritten during a long-lived process is read again
    return _digest([Path(path).read_bytes()])


def image_digest(image: Any) -> str:
    """Return a digest of an image's content: a file's bytes, or an in-memory PIL image's mode, size and
    pixels; "missing:<path>" for a file that cannot be read (the backend reports that error)."""
    if isinstance(image, (str, Path)):
        try:
            stat = Path(image).stat()
            return _file_digest(str(image), stat.st_size, stat.st_mtime_ns)
        except OSError:
            return f"missing:{image}"
    return _digest([f"{image.mode}:{image.size}".encode(), image.tobytes()])


def example_fingerprint(example: EvalExample) -> str:
    """Return a short hash of what the model is shown for ``example``: its prompt and its images' content
    in order (not the image paths, so moving a data set keeps its cache; not the solution, which never
    reaches the model)."""
    prompt = json.dumps(example.prompt, sort_keys=True, ensure_ascii=False, default=str).encode()
    return _digest([prompt, *(image_digest(p).encode() for p in example.images)])


def sampling_seed(sampling: SamplingConfig, example: EvalExample) -> int:
    """Return the seed of ``example``'s own sampling stream: the run seed mixed with the example's
    fingerprint. Different inputs (so different batches) get different streams; the same input under the
    same seed gets the same sample whatever its id, batch or batch size (also ``geo-r1 serve``'s one-off
    requests, whose ids are random)."""
    return sampling.stream_seed(example_fingerprint(example))


def model_fingerprint(folder: Path) -> str:
    """Return a short hash of the name, size and modification time of every top-level file of a model
    folder with a suffix loading reads (``MODEL_FILE_SUFFIXES``); retraining into the folder changes it."""
    entries = []
    for path in sorted(folder.iterdir()):
        if path.suffix in MODEL_FILE_SUFFIXES and path.is_file():
            stat = path.stat()
            entries.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return _digest(entries)


def local_model_id(model: str) -> str:
    """Return the cache id of a model: "<resolved folder>#<model_fingerprint>" for a local folder, else
    ``model`` unchanged (a hub id)."""
    path = Path(model)
    if not path.is_dir():
        return model
    return f"{path.resolve()}#{model_fingerprint(path)}"
