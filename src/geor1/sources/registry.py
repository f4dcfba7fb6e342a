"""View sources by name: the generic manifest and the real cross-view dataset readers.

Every reader takes the dataset root first and the keyword options ``strict`` and ``verify_images``, and
returns a ``ViewsResult`` (views with image paths relative to ``result.root``, plus skipped-row counts).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from geor1.errors import ConfigError
from geor1.sources.cvcities import load_cvcities
from geor1.sources.cvusa import load_cvusa
from geor1.sources.folder import ViewsResult, load_manifest
from geor1.sources.university1652 import load_university1652
from geor1.sources.vigor import load_vigor


def load_manifest_source(
    root: str | Path | None = None,
    *,
    manifest: str | Path | None = None,
    strict: bool = False,
    verify_images: bool = False,
) -> ViewsResult:
    """Return the views of a manifest file (``manifest``); ``root`` defaults to the manifest's folder."""
    if manifest is None:
        raise ConfigError("manifest", "source 'manifest' needs the manifest file (CSV, JSONL or Parquet)")
    return load_manifest(manifest, root, strict=strict, verify_images=verify_images)


SOURCES: dict[str, Callable[..., ViewsResult]] = {
    "manifest": load_manifest_source,
    "vigor": load_vigor,
    "cvusa": load_cvusa,
    "cvcities": load_cvcities,
    "university1652": load_university1652,
}


def source_options(source: str) -> list[str]:
    """Return the keyword options a source's reader accepts."""
    reader = SOURCES[source]
    return [
        name
        for name, p in inspect.signature(reader).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]


def load_views(source: str, root: str | Path | None, **options: Any) -> ViewsResult:
    """Return the views of ``source`` (a key of SOURCES) under ``root``, read with the reader's ``options``.

    Raises ConfigError for an unknown source or an option the source does not take.
    """
    if source not in SOURCES:
        raise ConfigError("source", f"unknown view source {source!r}; choose one of {', '.join(SOURCES)}")
    accepted = source_options(source)
    for name in options:
        if name not in accepted:
            raise ConfigError(
                name, f"source {source!r} does not take this option (it takes: {', '.join(accepted)})"
            )
    if root is None and source != "manifest":
        raise ConfigError("root", f"source {source!r} needs the dataset root folder")
    return SOURCES[source](root, **options)
