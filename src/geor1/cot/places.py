"""Earth metadata of places, looked up by place id, for teachers that reason from metadata.

Task examples name their places (``meta.place``, ``meta.candidate_places``); the per-place Earth metadata
(land cover, water, coast, relief, latitude band, …) lives in the Earth builder's ``places.jsonl`` or in
every view's ``meta`` in ``views.jsonl``. Either file works here; the task builders name the one a task
file was built from in its lines (``places``), so it is never searched for.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from geor1.errors import RecordError
from geor1.io import iter_jsonl

# Keys that mark a dict as carrying Earth metadata (any one of them is enough).
EARTH_META_KEYS = ("landcover_dominant", "landcover_shares", "lat_band", "coastal", "continent")


def has_earth_meta(meta: Mapping[str, Any] | None) -> bool:
    """Return True if ``meta`` carries at least one Earth metadata key."""
    return bool(meta) and any(key in meta for key in EARTH_META_KEYS)


class PlaceLookup:
    """Earth metadata by place id."""

    def __init__(self, metas: Mapping[str, Mapping[str, Any]] | None = None):
        self._metas: dict[str, Mapping[str, Any]] = dict(metas or {})

    @classmethod
    def from_jsonl(cls, path: str | Path) -> PlaceLookup:
        """Return a lookup read from a places file or a view manifest (the first line of a place wins).

        A line names its place by ``place`` (view manifests) or else ``id``; its metadata is ``meta`` if
        that is an object, else the line itself.
        """
        metas: dict[str, Mapping[str, Any]] = {}
        for number, obj in iter_jsonl(path):
            place = obj.get("place") or obj.get("id")
            if not isinstance(place, str) or not place:
                raise RecordError("missing place id ('place' or 'id')", path=path, line=number, field="place")
            meta = obj["meta"] if isinstance(obj.get("meta"), dict) else obj
            metas.setdefault(place, meta)
        return cls(metas)

    def get(self, place: str | None) -> Mapping[str, Any] | None:
        """Return the metadata of ``place``, or None if unknown."""
        return self._metas.get(place) if place is not None else None

    def __len__(self) -> int:
        return len(self._metas)

    def __contains__(self, place: object) -> bool:
        return place in self._metas


def named_places_file(task_file: str | Path) -> Path | None:
    """Return the places file a task file names (``places`` of its first example, written by the task
    builders: the Earth build's ``places.jsonl`` or the view manifest), or None if it names none."""
    from geor1.records import read_task_file

    first = read_task_file(task_file, check_images=False, limit=1)
    return Path(first[0].places) if first and first[0].places is not None else None
