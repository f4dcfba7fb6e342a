"""Generic view manifest (CSV, JSONL or Parquet) and the row checking every view source shares.

A manifest lists one geotagged image a row, with the columns ``id, image, lat, lon, view`` and optionally
``place`` (views of one location share it; defaults to the id), ``meta`` (JSONL: an object; CSV/Parquet:
a JSON object as text) and ``root``. Every other column goes into ``meta``. ``image`` is relative to the
root, which is the manifest's folder unless ``root=`` is given, and may not leave it (absolute paths,
``..`` and symbolic links leading out fail). A row's own ``root`` (absolute, or relative to the
manifest's folder; what ``write_manifest`` records when it writes outside the images' folder) replaces
the default root for that row, so a written view manifest reads back unchanged; it must lie inside the
image root too (read a manifest written elsewhere with a ``root=`` that holds its rows' roots).

Bad rows are located by file and position: CSV by physical line (the header is line 1, so data row 1 is
line 2), JSONL by line, Parquet by 0-based row index ("row N", as ``pandas.read_parquet(f).iloc[N]``).
A missing required column is fatal. Any other bad row -- empty value, non-numeric, out-of-range or NaN
coordinate, missing image file, image path escaping the root (as text, or through a symbolic link
whose target lies outside the root), duplicate id, and with
``verify_images=True`` a corrupt or truncated image -- raises at once with ``strict=True`` and is
otherwise skipped and counted per reason (``ViewsResult.counts``), the first ones kept as messages.

``ViewCollector`` holds those rules for the real cross-view dataset readers as well: a reader feeds it
one *row* at a time (the views one line of a dataset file describes, e.g. a panorama and its satellite
tile), and a row is kept only if every one of its views is good, so pairs are never half-kept.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from tqdm.auto import tqdm

from geor1.errors import GeoR1Error, RecordError
from geor1.images import check_image
from geor1.io import NESTED_TOO_DEEPLY
from geor1.records import View, image_under_root, view_from_dict, write_views

REQUIRED_COLUMNS = ("id", "image", "lat", "lon", "view")
KNOWN_COLUMNS = (*REQUIRED_COLUMNS, "place", "meta", "root")
MANIFEST_SUFFIXES = (".csv", ".jsonl", ".parquet")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"})
# Bad-row messages kept in full; counts per reason are always complete.
KEEP_PROBLEMS = 1000


class LayoutError(GeoR1Error):
    """A dataset folder that lacks a file or folder its layout requires (the message names both)."""


class RowError(RecordError):
    """A bad row of a columnar file (Parquet), located by its 0-based row index instead of a line."""

    def __init__(self, message: str, *, path: str | Path, row: int, field: str | None = None):
        super().__init__(message, path=f"{path} row {row}", field=field)
        self.path = str(path)
        self.row = row


@dataclass(frozen=True)
class Where:
    """The position of a row in its file: a line number, a 0-based row index (Parquet), or neither."""

    path: Path
    line: int | None = None
    row: int | None = None

    def error(self, message: str, field: str | None = None) -> RecordError:
        """Return a RecordError for ``message`` located at this position."""
        if self.row is not None:
            return RowError(message, path=self.path, row=self.row, field=field)
        return RecordError(message, path=self.path, line=self.line, field=field)

    def __str__(self) -> str:
        if self.row is not None:
            return f"{self.path} row {self.row}"
        return f"{self.path}:{self.line}" if self.line is not None else str(self.path)


@dataclass
class ViewsResult:
    """Views read from a source, with what was skipped and why."""

    views: list[View]
    root: Path
    counts: dict[str, int] = field(default_factory=dict)  # reason -> number of bad rows skipped
    problems: list[RecordError] = field(default_factory=list)  # the first KEEP_PROBLEMS bad rows
    rows: int = 0  # rows read, good and bad
    notes: list[str] = field(default_factory=list)  # what the reader did not find but went on without

    @property
    def skipped(self) -> int:
        """Return the number of bad rows skipped."""
        return sum(self.counts.values())

    def kinds(self) -> dict[str, int]:
        """Return the number of views per view kind, most common first."""
        return dict(Counter(v.view for v in self.views).most_common())

    def summary(self, limit: int = 10) -> str:
        """Return a human-readable account of the reader's notes and the skipped rows (counts per reason
        and the first messages)."""
        notes = [f"note: {n}" for n in self.notes]
        if not self.counts:
            return "\n".join([*notes, "no bad rows"])
        reasons = ", ".join(
            f"{reason}: {n}" for reason, n in sorted(self.counts.items(), key=lambda kv: -kv[1])
        )
        lines = [f"skipped {self.skipped} bad row(s) of {self.rows} ({reasons})"]
        lines += [f"  {p}" for p in self.problems[:limit]]
        if self.skipped > limit:
            lines.append(f"  … and {self.skipped - min(limit, len(self.problems))} more")
        return "\n".join(notes + lines)


class ProblemLog:
    """Bad rows: raised at once when strict, else counted per reason with the first messages kept."""

    def __init__(self, strict: bool = False, keep: int = KEEP_PROBLEMS):
        self.strict = strict
        self.keep = keep
        self.counts: Counter[str] = Counter()
        self.problems: list[RecordError] = []

    def add(self, reason: str, error: RecordError) -> None:
        """Record one bad row (``reason`` is the short category it is counted under); raise it if strict."""
        if self.strict:
            raise error
        self.counts[reason] += 1
        if len(self.problems) < self.keep:
            self.problems.append(error)


class BadRow(Exception):
    """Internal: a row failed one check (carries the count reason and the located error)."""

    def __init__(self, reason: str, error: RecordError):
        super().__init__(str(error))
        self.reason = reason
        self.error = error


def classify(error: RecordError, obj: dict[str, Any]) -> str:
    """Return the count reason for an error raised by ``geor1.records.view_from_dict`` on ``obj``."""
    message = error.reason
    if message.startswith("missing required field") or message.startswith("image path must be"):
        return "missing value"
    if message.startswith("not a number"):
        return "non-numeric coordinate"
    if message.startswith("out of range"):
        try:
            finite = math.isfinite(float(obj.get(error.field or "", 0.0)))
        except (TypeError, ValueError):
            finite = True
        return "coordinate out of range" if finite else "NaN or infinite coordinate"
    if "escapes the root" in message:
        return "image path escapes root"
    return f"bad {error.field}" if error.field else "bad row"


def coordinate_problem(lat: Any, lon: Any, where: Where) -> tuple[str, RecordError] | None:
    """Return ``(reason, located error)`` if ``lat``/``lon`` fail the view checks, else None.

    For readers whose coordinates live in a different file than the image paths (a GPS table), so the
    error names the line that holds the bad number.
    """
    obj = {"id": "-", "image": "-", "lat": lat, "lon": lon, "view": "-"}
    try:
        view_from_dict(obj)
    except RecordError as exc:
        return classify(exc, obj), where.error(exc.reason, exc.field)
    return None


class ViewCollector:
    """Checks candidate views row by row against a root folder and keeps the rows whose views are all good.

    Checks per view: the fields (``view_from_dict``), the image path staying inside ``root``, the image
    file existing, and with ``verify_images`` the image decoding fully (each file checked once). With
    ``allow_repeats`` a view id seen before with the same image and coordinates is accepted silently
    (dataset rows that share a satellite tile); otherwise a repeated id is a bad row.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        strict: bool = False,
        verify_images: bool = False,
        allow_repeats: bool = False,
        total: int | None = None,
        desc: str = "reading views",
    ):
        self.root = Path(root)
        self.verify_images = verify_images
        self.allow_repeats = allow_repeats
        self.log = ProblemLog(strict)
        self.rows = 0
        self._views: dict[str, View] = {}
        self._first_seen: dict[str, Where] = {}
        self._image_checked: dict[tuple[str, str], tuple[str, str] | None] = {}
        # Always show a bar while verifying (the slow part); otherwise only on a terminal.
        self._bar = tqdm(total=total, desc=desc, unit="row", disable=False if verify_images else None)

    def reject(self, reason: str, error: RecordError) -> None:
        """Count a bad row that failed before it became candidate views (raises if strict)."""
        self.rows += 1
        self._bar.update(1)
        self._log(reason, error)

    def _log(self, reason: str, error: RecordError) -> None:
        try:
            self.log.add(reason, error)
        except RecordError:
            self._bar.close()  # strict: the error is the last thing printed, not a dangling bar
            raise

    def add_row(self, candidates: Iterable[dict[str, Any]], where: Where) -> list[View] | None:
        """Check a row's candidate view dicts; keep and return its views, or count it and return None."""
        self.rows += 1
        self._bar.update(1)
        try:
            views = [self._check(obj, where) for obj in candidates]
            fresh = self._check_ids(views, where)
        except BadRow as bad:
            self._log(bad.reason, bad.error)
            return None
        for view in fresh:
            self._views[view.id] = view
            self._first_seen[view.id] = where
        return views

    def _check(self, obj: dict[str, Any], where: Where) -> View:
        try:
            view = view_from_dict(obj)
        except RecordError as exc:
            raise BadRow(classify(exc, obj), where.error(exc.reason, exc.field)) from None
        failure = self._check_image(view)
        if failure is not None:
            reason, message = failure
            raise BadRow(reason, where.error(message, "image"))
        return view

    def _check_image(self, view: View) -> tuple[str, str] | None:
        root, image = view.image_root(self.root), view.image
        key = (str(root), image)
        if key not in self._image_checked:
            self._image_checked[key] = self._image_failure(root, image)
        return self._image_checked[key]

    def _image_failure(self, root: Path, image: str) -> tuple[str, str] | None:
        """Return ``(reason, message)`` if ``image`` under ``root`` is outside it, missing or unreadable."""
        try:
            path = image_under_root(root, image)
        except RecordError as exc:
            return "image path escapes root", exc.reason
        if not path.is_file():
            return "image file not found", f"image file not found: {image} (under {root})"
        if self.verify_images:
            try:
                check_image(path)
            except RecordError as exc:
                return "unreadable image", f"{image}: {exc.reason}"
        return None

    def _check_ids(self, views: list[View], where: Where) -> list[View]:
        fresh = []
        for view in views:
            seen = self._views.get(view.id)
            if seen is None:
                fresh.append(view)
                continue
            same = (seen.root, seen.image, seen.lat, seen.lon, seen.view) == (
                view.root,
                view.image,
                view.lat,
                view.lon,
                view.view,
            )
            if not (self.allow_repeats and same):
                raise BadRow(
                    "duplicate id",
                    where.error(f"duplicate id {view.id!r} (first at {self._first_seen[view.id]})", "id"),
                )
        return fresh

    def result(self) -> ViewsResult:
        """Close the progress bar and return the kept views (in first-seen order) with the bad-row account."""
        self._bar.close()
        return ViewsResult(
            views=list(self._views.values()),
            root=self.root,
            counts=dict(self.log.counts),
            problems=list(self.log.problems),
            rows=self.rows,
        )


def iter_csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(physical line number where the row starts, fields)`` for every non-blank row of a CSV file."""
    for start, _, fields in iter_csv_spans(path):
        yield start, fields


def iter_csv_spans(path: Path) -> Iterator[tuple[int, int, list[str]]]:
    """Yield ``(first line, last line, fields)`` for every non-blank row of a CSV file (physical lines; a
    quoted cell holding line breaks makes a row span several)."""
    decoded = 0

    def lines(handle: Any) -> Iterator[str]:
        # Decode line by line (not in buffered chunks) so a bad byte is reported at its own line.
        nonlocal decoded
        for raw in handle:
            text = raw.decode("utf-8-sig" if decoded == 0 else "utf-8")
            decoded += 1
            yield text

    with path.open("rb") as handle:
        reader = csv.reader(lines(handle))
        start = 1
        try:
            for fields in reader:
                line, start = start, reader.line_num + 1
                if not fields or all(not f.strip() for f in fields):
                    continue
                yield line, reader.line_num, fields
        except UnicodeDecodeError as exc:
            raise RecordError(f"not UTF-8 text ({exc.reason})", path=path, line=decoded + 1) from None
        except csv.Error as exc:
            raise RecordError(f"not a readable CSV file ({exc})", path=path, line=reader.line_num) from None


def list_images(folder: Path) -> list[Path]:
    """Return the image files (by extension, see IMAGE_SUFFIXES) directly inside ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def count_lines(path: Path) -> int:
    """Return the number of newline-terminated lines in a file (cheap: for progress-bar totals)."""
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def _meta_from_text(value: Any, where: Where) -> dict[str, Any]:
    """Return a ``meta`` cell as a dict: an object already, or JSON text of an object (CSV/Parquet)."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except RecursionError:
            raise BadRow("bad meta", where.error(f"meta: {NESTED_TOO_DEEPLY}", "meta")) from None
        except json.JSONDecodeError as exc:
            raise BadRow("bad meta", where.error(f"meta is not valid JSON ({exc.msg})", "meta")) from None
        if isinstance(parsed, dict):
            return parsed
    raise BadRow("bad meta", where.error("meta must be a JSON object", "meta"))


def _inside(folder: Path, root: Path) -> bool:
    """Return True if ``folder``'s real location (links followed) is ``root``'s or lies under it."""
    real, real_root = os.path.realpath(folder), os.path.realpath(root)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _view_dict(record: dict[str, Any], where: Where, confine: Path | None = None) -> dict[str, Any]:
    """Return a manifest record as a ``view_from_dict`` input: extra columns are merged into ``meta``.

    A row's own ``root`` must lie inside ``confine`` (the image root), as every image path must: a row
    may not widen what the manifest can reach (``root: /etc``, ``root: ../outside``)."""
    meta = _meta_from_text(record.get("meta"), where)
    extras = {
        k: v
        for k, v in record.items()
        if k not in KNOWN_COLUMNS
        and v is not None
        and v != ""
        and not (isinstance(v, float) and math.isnan(v))
    }
    obj = {k: record.get(k) for k in KNOWN_COLUMNS if k not in ("meta", "root")}
    obj["meta"] = {**extras, **meta}
    root = record.get("root")
    if isinstance(root, str) and root.strip():
        # relative to the manifest's folder; absolute from here on, so it survives being written elsewhere
        obj["root"] = str(Path(where.path).absolute().parent / root)
        if confine is not None and not _inside(Path(obj["root"]), confine):
            raise BadRow(
                "root escapes image root",
                where.error(
                    f"row root {root!r} lies outside the image root {confine} (pass --root with a folder "
                    "that holds it)",
                    "root",
                ),
            )
    elif root not in (None, "") and not (isinstance(root, float) and math.isnan(root)):
        raise BadRow("bad root", where.error("root must be a folder path", "root"))
    return obj


def _missing_columns(columns: Iterable[str], path: Path, line: int | None) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in set(columns)]
    if missing:
        raise RecordError(
            f"missing required column(s) {', '.join(missing)}; the manifest needs "
            f"{', '.join(REQUIRED_COLUMNS)} (found: {', '.join(columns) or 'none'})",
            path=path,
            line=line,
            field=missing[0],
        )


def _unclosed_quote(
    path: Path, header: list[str], start: int, end: int, fields: list[str], collector: ViewCollector
) -> bool:
    """Reject (and count, line by line) a row whose quote swallowed the lines after it; return True if so.

    A quoted cell may hold line breaks, but a multi-line row whose field count does not match the header
    is an unclosed quote: the rows it swallowed must be counted and the cause named, not "missing lat"."""
    if end == start or len(fields) == len(header) or not any("\n" in f for f in fields):
        return False
    index = next(i for i, f in enumerate(fields) if "\n" in f)
    column = header[index] if index < len(header) else f"#{index + 1}"
    collector.reject(
        "unclosed quote",
        RecordError(
            f"unclosed quote: the quoted cell opened here runs on to line {end}, swallowing "
            f"{end - start} line(s)",
            path=path,
            line=start,
            field=column,
        ),
    )
    for line in range(start + 1, end + 1):
        collector.reject(
            "unclosed quote",
            RecordError(f"inside the unclosed quote opened on line {start}", path=path, line=line),
        )
    return True


def _csv_records(path: Path, collector: ViewCollector) -> Iterator[tuple[dict[str, Any], Where]]:
    rows = iter_csv_spans(path)
    first = next(rows, None)
    if first is None:
        _missing_columns([], path, 1)
        return
    header_line, _, header = first
    header = [h.strip() for h in header]
    _missing_columns(header, path, header_line)
    for line, end, fields in rows:
        if _unclosed_quote(path, header, line, end, fields, collector):
            continue
        where = Where(path, line=line)
        if len(fields) > len(header):
            collector.reject(
                "malformed row",
                where.error(f"row has {len(fields)} fields but the header has {len(header)}"),
            )
            continue
        values = [f.strip() for f in fields] + [""] * (len(header) - len(fields))
        yield dict(zip(header, values, strict=True)), where


def _jsonl_records(path: Path, collector: ViewCollector) -> Iterator[tuple[dict[str, Any], Where]]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = Where(path, line=number)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                collector.reject("invalid JSON", where.error(f"not UTF-8 text ({exc.reason})"))
                continue
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                collector.reject("invalid JSON", where.error(f"invalid JSON ({exc.msg})"))
                continue
            except RecursionError:
                collector.reject("invalid JSON", where.error(NESTED_TOO_DEEPLY))
                continue
            if not isinstance(obj, dict):
                collector.reject("invalid JSON", where.error("expected a JSON object"))
                continue
            yield obj, where


def _open_parquet(path: Path) -> Any:
    """Return a ``pyarrow.parquet.ParquetFile``, or raise RecordError if the file is not readable Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise RecordError(f"not a readable Parquet file ({exc})", path=path) from None


def _parquet_records(path: Path) -> Iterator[tuple[dict[str, Any], Where]]:
    parquet = _open_parquet(path)
    _missing_columns(parquet.schema_arrow.names, path, None)
    row = 0
    for batch in parquet.iter_batches(batch_size=65536):
        for record in batch.to_pylist():
            yield record, Where(path, row=row)
            row += 1


def load_manifest(
    path: str | Path,
    root: str | Path | None = None,
    *,
    strict: bool = False,
    verify_images: bool = False,
) -> ViewsResult:
    """Return the good views of a CSV/JSONL/Parquet manifest (format by extension) and the skipped rows.

    Raises RecordError for a missing required column (always) or the first bad row (``strict``), and
    LayoutError if the file or root does not exist or the extension is not one of .csv, .jsonl, .parquet.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MANIFEST_SUFFIXES:
        raise LayoutError(f"{path}: unknown manifest format {suffix!r}; expected one of {MANIFEST_SUFFIXES}")
    if not path.is_file():
        raise LayoutError(f"{path}: manifest file not found")
    root = Path(root) if root is not None else path.parent
    if not root.is_dir():
        raise LayoutError(f"{root}: image root folder not found")
    if suffix == ".parquet":
        total = _open_parquet(path).metadata.num_rows
    else:
        total = count_lines(path) - (1 if suffix == ".csv" else 0)
    collector = ViewCollector(
        root, strict=strict, verify_images=verify_images, total=total, desc=f"reading {path.name}"
    )
    if suffix == ".csv":
        records = _csv_records(path, collector)
    elif suffix == ".jsonl":
        records = _jsonl_records(path, collector)
    else:
        records = _parquet_records(path)
    for record, where in records:
        try:
            obj = _view_dict(record, where, confine=root)
        except BadRow as bad:
            collector.reject(bad.reason, bad.error)
            continue
        collector.add_row([obj], where)
    return collector.result()


def manifest_prefix(manifest: str | Path, root: str | Path) -> PurePosixPath | None:
    """Return the path of ``root`` relative to the folder of ``manifest`` (``.`` when they are the same), or
    None when ``root`` is not that folder or inside it (no relative path without ``..`` leads there)."""
    out_dir = Path(manifest).absolute().parent.resolve()
    try:
        relative = Path(root).resolve().relative_to(out_dir)
    except ValueError:
        return None
    return PurePosixPath(*relative.parts)


def relocate(view: View, manifest: str | Path, root: str | Path) -> View:
    """Return ``view`` (image relative to its own root, else to ``root``) as a line of ``manifest``.

    A root inside the manifest's folder becomes a prefix of the image path (the manifest's folder is the
    root, as for any hand-written manifest); any other root is recorded in the view as an absolute path,
    the image path staying relative to it, so datasets can live in read-only folders away from outputs.
    """
    own_root = view.image_root(root)
    prefix = manifest_prefix(manifest, own_root)
    if prefix is None:
        return replace(view, root=os.path.abspath(own_root))
    return replace(view, image=str(prefix / view.image) if prefix.parts else view.image, root=None)


def write_manifest(path: str | Path, views: Iterable[View], root: str | Path) -> int:
    """Write ``views`` (image paths relative to their own ``root``, else to ``root``) as a normalized JSONL
    view manifest, atomically (paths rewritten by ``relocate``); return the number of views written."""
    return write_views(path, (relocate(v, path, root) for v in views))
