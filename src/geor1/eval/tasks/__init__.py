"""Evaluation task registry: every module in this package defines one task class decorated with
``@register_task``; adding a task is adding one file.

A task turns a data source into ``EvalExample``s (``load``) and scores completions (``score``). Data
sources are given per task as ``--data TASK=PATH`` or as a folder the task searches (``find_data``).
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from geor1.errors import ConfigError, GeoR1Error
from geor1.eval.types import EvalExample, TaskResult

_REGISTRY: dict[str, type[EvalTask]] = {}


class EvalTask(ABC):
    """One evaluation task."""

    name: ClassVar[str]
    description: ClassVar[str]
    # Glob patterns tried (in order, recursively) when the task is given a folder instead of a file.
    data_patterns: ClassVar[tuple[str, ...]] = ()
    max_new_tokens: ClassVar[int | None] = None  # a task-specific default (e.g. long JSON answers)

    @abstractmethod
    def load(self, source: Path, *, limit: int | None = None, seed: int = 0) -> list[EvalExample]:
        """Return the task's examples from ``source`` (at most ``limit``, chosen deterministically)."""

    @abstractmethod
    def score(self, examples: Sequence[EvalExample], completions: Sequence[str]) -> TaskResult:
        """Return the task's metrics for ``completions`` (one per example, same order)."""

    def find_data(self, folder: Path) -> Path:
        """Return the data file for this task inside ``folder`` (first match of ``data_patterns``)."""
        for pattern in self.data_patterns:
            hits = sorted(p for p in folder.rglob(pattern) if p.is_file())
            if hits:
                return hits[0]
        raise ConfigError(
            "data",
            f"task '{self.name}': no data in {folder} (looked for {', '.join(self.data_patterns)}); "
            f"give it as {self.name}=PATH",
        )


def register_task(cls: type[EvalTask]) -> type[EvalTask]:
    """Class decorator adding a task to the registry under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"task name '{cls.name}' is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _discover() -> None:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def available_tasks() -> dict[str, str]:
    """Return ``{task name: description}`` of every registered task."""
    _discover()
    return {name: cls.description for name, cls in sorted(_REGISTRY.items())}


def get_task(name: str) -> EvalTask:
    """Return a new instance of the task called ``name``; GeoR1Error lists the known names otherwise."""
    _discover()
    if name not in _REGISTRY:
        raise GeoR1Error(f"unknown eval task '{name}'; known tasks: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]()


def limit_examples(examples: list[EvalExample], limit: int | None, seed: int) -> list[EvalExample]:
    """Return at most ``limit`` examples: a seeded random subset kept in the original order."""
    if limit is None or limit >= len(examples):
        return examples
    import numpy as np

    keep = np.sort(np.random.default_rng(seed).choice(len(examples), size=limit, replace=False))
    return [examples[i] for i in keep.tolist()]
