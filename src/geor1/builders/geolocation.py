"""Geolocation: one view, answer its coordinates as ``(lat, lon)`` with 4 decimals (about 11 m)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geor1.builders.common import ViewSet, place_info
from geor1.errors import ConfigError
from geor1.records import user_prompt

QUESTION = (
    "Where was this image taken? Answer with the coordinates as (latitude, longitude) in decimal degrees."
)


def format_coordinates(lat: float, lon: float) -> str:
    """Return the solution string ``"(lat, lon)"`` with 4 decimals, e.g. ``"(48.8566, 2.3522)"``."""
    return f"({lat:.4f}, {lon:.4f})"


@dataclass
class GeolocationConfig:
    """Which views become questions: the view kinds, a cap on the count, and the seed for the cap."""

    views: Sequence[str] = field(default_factory=lambda: ["satellite"])
    seed: int = 0
    limit: int | None = None

    def __post_init__(self) -> None:
        if not self.views:
            raise ConfigError("views", "needs at least one view kind")
        if self.limit is not None and self.limit < 0:
            raise ConfigError("limit", f"must be >= 0, got {self.limit}")


def build_geolocation(
    views: ViewSet,
    config: GeolocationConfig,
    out_dir: str | Path,
    *,
    places: set[str] | None = None,
    split: str = "all",
    progress: Callable[[Any], Any] | None = None,
) -> list[dict[str, Any]]:
    """Return geolocation examples (one per view of the chosen kinds, in manifest order) whose image
    paths are relative to ``out_dir``; ``places`` restricts them to a split."""
    for kind in config.views:
        views.require_kind(kind, "views")
    kinds = set(config.views)
    chosen = [
        i for i, v in enumerate(views.views) if v.view in kinds and (places is None or v.place in places)
    ]
    if config.limit is not None and len(chosen) > config.limit:
        rng = np.random.default_rng(config.seed)
        chosen = sorted(rng.permutation(chosen)[: config.limit].tolist())
    out_dir = Path(out_dir)
    examples = []
    for i in progress(chosen) if progress else chosen:
        v = views.views[i]
        examples.append(
            {
                "id": f"geolocation-{v.id}",
                "task": "geolocation",
                "images": [views.image_relative_to(i, out_dir)],
                "prompt": user_prompt(QUESTION, 1),
                "solution": format_coordinates(v.lat, v.lon),
                "meta": {
                    "place": v.place,
                    "lat": v.lat,
                    "lon": v.lon,
                    "view_id": v.id,
                    "view": v.view,
                    "split": split,
                    **place_info(v.meta),
                },
            }
        )
    return examples
