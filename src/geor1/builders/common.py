"""Shared pieces of every task builder: a loaded view manifest, answer letters spread evenly over
positions, image paths relative to the task file, and writing/reading task sets (JSONL and 🤗 datasets).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from geor1.errors import ConfigError, RecordError
from geor1.io import atomic_save_dir, iter_jsonl, write_jsonl
from geor1.parsing import option_letters as option_letters  # re-exported for the task builders
from geor1.records import (
    TaskExample,
    View,
    check_task_example,
    image_under_root,
    read_task_file,
    view_from_dict,
)

# View meta key listing other views of the same spot (VIGOR's semi-positive tiles): never negatives.
SAME_SPOT_KEY = "semi_positives"

# Place metadata (offline Earth keys) copied into task examples for later analysis and CoT synthesis.
PLACE_KEYS = (
    "country_code",
    "country",
    "admin1",
    "place_name",
    "continent",
    "landcover_dominant",
    "landcover_dominant_share",
    "land_share",
    "water_share",
    "coastal",
    "hemisphere_ns",
    "hemisphere_ew",
    "lat_band",
    "near_equator",
    "desert",
    "mountainous",
)


def balanced_positions(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Return ``n`` answer positions in ``[0, k)`` where every position occurs ``n // k`` or ``n // k + 1``
    times, in random order.

    Balanced rather than i.i.d.: position ``i`` is used ``ceil`` or ``floor`` of ``n / k`` times (which
    positions get the extra one is random), so a model can never gain by preferring a letter.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    base = np.tile(np.arange(k), n // k)
    extra = rng.permutation(k)[: n % k]
    return rng.permutation(np.concatenate([base, extra]).astype(np.int64))


def place_info(meta: dict[str, Any]) -> dict[str, Any]:
    """Return the place-level metadata keys (``PLACE_KEYS``) present in a view's meta."""
    return {key: meta[key] for key in PLACE_KEYS if key in meta}


@dataclass
class ViewSet:
    """A view manifest loaded in memory: the views, their manifest line numbers, and the manifest's folder
    (``root``: what image paths are relative to, unless a view names its own root)."""

    manifest: Path
    views: list[View]
    lines: list[int]
    root: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root = self.manifest.parent

    def kinds(self) -> list[str]:
        """Return the view kinds present, in first-seen order."""
        return list(dict.fromkeys(v.view for v in self.views))

    def of_kind(self, kind: str) -> list[int]:
        """Return the indices of views of ``kind`` (manifest order)."""
        return [i for i, v in enumerate(self.views) if v.view == kind]

    def first_of_kind_per_place(self, kind: str) -> dict[str, int]:
        """Return ``{place: index of its first view of kind}`` (manifest order)."""
        first: dict[str, int] = {}
        for i in self.of_kind(kind):
            first.setdefault(self.views[i].place, i)
        return first

    def require_kind(self, kind: str, key: str) -> list[int]:
        """Return ``of_kind(kind)``, or raise ConfigError naming the config field ``key`` that asked for
        ``kind`` and the kinds present."""
        idx = self.of_kind(kind)
        if not idx:
            raise ConfigError(
                key,
                f"{kind!r}: no view of that kind in {self.manifest} (kinds present: "
                f"{', '.join(self.kinds()) or 'none'})",
            )
        return idx

    def same_spot_places(self) -> dict[str, set[str]]:
        """Return ``{place: other places showing the same spot}`` from the views' ``meta.semi_positives``.

        A name in ``semi_positives`` (VIGOR lists the file names of the tiles that also cover a
        panorama) designates the views whose id, image path or, failing both, image file name equals it.
        The relation is made symmetric: a tile listed by a panorama is as unfit a negative for the
        panorama as the panorama is for that tile.
        """
        exact: dict[str, set[str]] = {}
        by_file: dict[str, set[str]] = {}
        for v in self.views:
            for name in (v.id, v.image):
                exact.setdefault(name, set()).add(v.place)
            by_file.setdefault(PurePosixPath(v.image).name, set()).add(v.place)
        related: dict[str, set[str]] = {}
        for v in self.views:
            names = v.meta.get(SAME_SPOT_KEY) or []
            for name in [names] if isinstance(names, str) else names:
                for other in exact.get(str(name)) or by_file.get(str(name), set()):
                    if other != v.place:
                        related.setdefault(v.place, set()).add(other)
                        related.setdefault(other, set()).add(v.place)
        return related

    def image_path(self, i: int) -> Path:
        """Return the absolute path of view ``i``'s image, or raise RecordError naming its manifest line if
        the file is missing or lies outside the root (through a symbolic link)."""
        view = self.views[i]
        path = image_under_root(
            view.image_root(self.root), view.image, path=self.manifest, line=self.lines[i]
        )
        if not os.path.isfile(path):
            raise RecordError(
                f"image file not found: {path}", path=self.manifest, line=self.lines[i], field="image"
            )
        return Path(path)

    def places_file(self) -> Path:
        """Return the file holding the Earth metadata of these views' places, which task sets built from
        them name (``places`` of a task line): the Earth build's places file beside the manifest when
        there is one, else the manifest itself (every view carries its place's metadata in ``meta``)."""
        from geor1.sources.earth import PLACES_NAME

        places = self.manifest.parent / PLACES_NAME
        return places if places.is_file() else self.manifest

    def image_relative_to(self, i: int, out_dir: Path) -> str:
        """Return view ``i``'s image path relative to ``out_dir`` (POSIX), checking the file exists."""
        return Path(os.path.relpath(self.image_path(i), os.path.abspath(out_dir))).as_posix()


def load_view_set(path: str | Path) -> ViewSet:
    """Read a JSONL view manifest strictly; bad lines and duplicate ids raise RecordError naming file:line."""
    path = Path(path)
    views: list[View] = []
    lines: list[int] = []
    seen: dict[str, int] = {}
    for number, obj in iter_jsonl(path):
        view = view_from_dict(obj, path=path, line=number)
        if view.id in seen:
            raise RecordError(
                f"duplicate view id {view.id!r} (first on line {seen[view.id]})",
                path=path,
                line=number,
                field="id",
            )
        seen[view.id] = number
        views.append(view)
        lines.append(number)
    if not views:
        raise RecordError("view manifest holds no views", path=path)
    return ViewSet(manifest=path, views=views, lines=lines)


def write_task_set(
    path: str | Path,
    examples: Sequence[dict[str, Any]],
    hf_dataset: str | Path | None = None,
    places: str | Path | None = None,
) -> int:
    """Validate and write task examples as JSONL atomically (and, if ``hf_dataset`` is given, as a 🤗
    dataset saved there, from the file just written); return the number written. ``places`` (e.g.
    ``ViewSet.places_file()``) is named in every line, relative to the file's folder."""
    path = Path(path)
    if places is not None:
        rel = Path(os.path.relpath(os.path.abspath(places), os.path.abspath(path.parent))).as_posix()
        examples = [{**example, "places": rel} for example in examples]
    seen: set[str] = set()
    for n, example in enumerate(examples, start=1):
        check_task_example(example, path=path, line=n)
        if example["id"] in seen:
            raise RecordError(f"duplicate example id {example['id']!r}", path=path, line=n, field="id")
        seen.add(example["id"])
    count = write_jsonl(path, examples)
    if hf_dataset is not None:
        save_hf_dataset(read_task_file(path), hf_dataset)
    return count


def to_hf_dataset(examples: Sequence[TaskExample]) -> Any:
    """Return a ``datasets.Dataset`` of the examples in TRL's vision layout: ``images`` a list of
    ``Image()`` features (decoded to PIL on access), ``prompt`` conversational, ``meta`` a JSON string
    (its keys differ between tasks, which Arrow structs cannot hold)."""
    from datasets import Dataset, Image, List

    rows = [
        {
            "id": example.id,
            "task": example.task,
            "images": list(example.images),
            "prompt": example.prompt,
            "solution": example.solution,
            "meta": json.dumps(example.meta, ensure_ascii=False, sort_keys=True),
        }
        for example in examples
    ]
    dataset = Dataset.from_list(rows)
    return dataset.cast_column("images", List(Image()))


def save_hf_dataset(examples: Sequence[TaskExample], out_dir: str | Path) -> Path:
    """Save the examples (read by ``read_task_file``) as a 🤗 dataset in ``out_dir`` (image bytes
    embedded), replacing it only once the new copy is complete; return ``out_dir``."""
    dataset = to_hf_dataset(examples)
    return atomic_save_dir(out_dir, lambda tmp: dataset.save_to_disk(str(tmp)))


def count_by(examples: Iterable[dict[str, Any]], key: str) -> dict[str, int]:
    """Return ``{value: count}`` of ``meta[key]`` over the examples (missing values counted as '-')."""
    counts: dict[str, int] = {}
    for example in examples:
        value = str(example.get("meta", {}).get(key, "-"))
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))
