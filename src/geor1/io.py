"""File I/O that never leaves a half-written file: atomic writes, JSONL with line-numbered errors."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from geor1.errors import GeoR1Error, RecordError

# What a JSON value nested deeper than Python's parser can follow is reported as (a bad line, not a crash).
NESTED_TOO_DEEPLY = "invalid JSON (nested too deeply to read)"


def _os_reason(exc: OSError) -> str:
    """Return an OS error's reason and the path it names (``a file is in the way: a/b``)."""
    if isinstance(exc, FileExistsError | NotADirectoryError):
        return f"a file is in the way where a folder is needed: {exc.filename}"
    reason = exc.strerror or type(exc).__name__
    return f"{reason}: {exc.filename}" if exc.filename is not None else reason


def current_umask() -> int:
    """Return the process umask without changing it (Linux: /proc; elsewhere set and restore it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _default_mode(directory: bool = False) -> int:
    """The mode ``open()``/``mkdir()`` would give a new file/folder: 0666/0777 less the umask.

    ``tempfile`` creates 0600 files and 0700 folders (private by design); an output renamed into place
    from one must get the ordinary mode, or another account or a web server cannot read the results.
    """
    return (0o777 if directory else 0o666) & ~current_umask()


def apply_umask(folder: str | Path) -> Path:
    """Give every file and folder under ``folder`` (and itself) the mode the umask gives new ones.

    For folders written by libraries that save through private temporary files (transformers'
    ``save_pretrained`` leaves ``model.safetensors`` at 0600); symlinks are left alone. Returns ``folder``.
    """
    folder = Path(folder)
    file_mode, dir_mode = _default_mode(), _default_mode(directory=True)
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            continue
        wanted = dir_mode if path.is_dir() else file_mode
        if path.stat().st_mode & 0o777 != wanted:
            os.chmod(path, wanted)
    return folder


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Yield a temporary file beside ``path``; it replaces ``path`` only if the block ends without error."""
    path = Path(path)
    if path.is_dir():
        raise GeoR1Error(f"{path}: is a folder; an output file path is needed here")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise GeoR1Error(f"{path}: cannot write here ({_os_reason(exc)})") from None
    binary = "b" in mode
    try:
        os.fchmod(fd, _default_mode())
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_open(path, "w") as handle:
        handle.write(text)
    return Path(path)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_open(path, "wb", encoding=None) as handle:
        handle.write(data)
    return Path(path)


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write ``rows`` as JSON Lines atomically; return the number of rows written."""
    count = 0
    with atomic_open(path, "w") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def write_json(path: str | Path, obj: Any) -> Path:
    """Write one JSON document (indented) atomically and return the path."""
    return atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line; a bad line raises RecordError naming it."""
    path = Path(path)
    if not path.exists():
        raise RecordError("file not found", path=path)
    with path.open("r", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RecordError(f"invalid JSON ({exc.msg})", path=path, line=number) from None
            except RecursionError:
                raise RecordError(NESTED_TOO_DEEPLY, path=path, line=number) from None
            if not isinstance(obj, dict):
                raise RecordError("expected a JSON object", path=path, line=number)
            yield number, obj


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Return every object of a JSON Lines file (see ``iter_jsonl`` for errors)."""
    return [obj for _, obj in iter_jsonl(path)]


class JsonlAppender:
    """Append-only JSONL writer that flushes every record, for resumable long jobs."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        self._handle = self.path.open("a", encoding="utf-8")

    def _repair_tail(self) -> None:
        # A process killed mid-write can leave a partial last line: drop it so the file stays valid JSONL.
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with self.path.open("rb+") as handle:
            data = handle.read()
            if data.endswith(b"\n"):
                return
            cut = data.rfind(b"\n") + 1
            handle.seek(cut)
            handle.truncate()

    def write(self, row: dict[str, Any]) -> None:
        """Append one record and flush it to the OS."""
        self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        """Close the file."""
        self._handle.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def atomic_save_dir(out_dir: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_dir)`` on a fresh folder beside ``out_dir`` and move it into place only once it
    returns, so ``out_dir`` is either the old complete copy or the new one; return ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        os.chmod(tmp, _default_mode(directory=True))
        write(tmp)
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
            os.replace(out_dir, old / "data")
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
