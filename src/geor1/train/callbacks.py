"""Trainer callbacks of geor1 runs: metrics.jsonl, per-rank completion markers, the difficulty curriculum.

What GRPO logs each step (all of it also lands in ``metrics.jsonl``) comes from TRL 1.16 itself:
``rewards/<name>/mean`` and ``/std`` for every reward function, ``reward`` (the weighted sum),
``frac_reward_zero_std`` (the share of prompt groups whose rewards have zero variance, i.e. no
learning signal), ``completions/mean_length`` (plus min/max/clipped ratio), ``kl``, ``entropy``.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback
from trl.trainer.utils import RepeatSampler

from geor1.io import JsonlAppender, atomic_write_text, read_jsonl, write_json, write_jsonl

METRICS_FILE = "metrics.jsonl"
CURRICULUM_FILE = "curriculum.json"


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        value = value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsJsonlCallback(TrainerCallback):
    """Append every ``on_log`` record (training and eval) to ``<output_dir>/metrics.jsonl`` on the main
    process, one JSON object a line with ``step`` and ``epoch``. On resume, records logged after the
    checkpoint's step (by the interrupted run) are dropped so the file follows the resumed history."""

    def __init__(self, output_dir: str | Path):
        self.path = Path(output_dir) / METRICS_FILE
        self._writer: JsonlAppender | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        if self.path.exists():
            JsonlAppender(self.path).close()  # repair a partial last line left by a killed run
            kept = [r for r in read_jsonl(self.path) if int(r.get("step", 0)) <= state.global_step]
            write_jsonl(self.path, kept)
        self._writer = JsonlAppender(self.path)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        if self._writer is None:
            self._writer = JsonlAppender(self.path)
        record = {"step": state.global_step, "epoch": state.epoch, "time": round(time.time(), 3)}
        record.update({k: _jsonable(v) for k, v in logs.items()})
        self._writer.write(record)

    def on_train_end(self, args, state, control, **kwargs):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def peak_rss_mib() -> float | None:
    """Return this process's peak resident memory in MiB (None where the platform does not report it)."""
    try:
        import resource
    except ImportError:  # Windows has no resource module
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_bytes = peak if sys.platform == "darwin" else peak * 1024  # KiB on Linux, bytes on macOS
    return round(peak_bytes / 2**20, 1)


class RankDoneCallback(TrainerCallback):
    """Write ``<output_dir>/ranks/rank-<i>.json`` when training ends on process ``i`` (every rank),
    so a launcher can check that all processes finished; it records the process's peak memory too
    (what ZeRO sharding saves shows per process)."""

    def __init__(self, output_dir: str | Path):
        self.folder = Path(output_dir) / "ranks"

    def on_train_end(self, args, state, control, **kwargs):
        rank = args.process_index
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        write_json(
            self.folder / f"rank-{rank}.json",
            {
                "process_index": rank,
                "world_size": args.world_size,
                "backend": torch.distributed.get_backend() if distributed else None,
                "device": str(args.device),
                "global_step": state.global_step,
                "peak_rss_mib": peak_rss_mib(),
                "finished_at": time.time(),
            },
        )


class CurriculumState:
    """Which difficulty band the curriculum is on, and the running accuracy that moves it on.

    The band advances (easy → medium → hard) when the mean of the last ``window`` accuracies reaches
    ``threshold``; the window then restarts. It never goes back.
    """

    def __init__(self, bands: Sequence[str], threshold: float, window: int, index: int = 0):
        if not bands:
            raise ValueError("curriculum_bands must name at least one band")
        if window < 1:
            raise ValueError("curriculum_window must be ≥ 1")
        self.bands = list(bands)
        self.threshold = float(threshold)
        self.window = int(window)
        self.index = min(max(int(index), 0), len(self.bands) - 1)
        self.recent: deque[float] = deque(maxlen=self.window)

    @property
    def band(self) -> str:
        """Return the current band's name."""
        return self.bands[self.index]

    def running_accuracy(self) -> float | None:
        """Return the mean accuracy over the window, or None before the window is full."""
        if len(self.recent) < self.window:
            return None
        return sum(self.recent) / len(self.recent)

    def update(self, accuracy: float) -> bool:
        """Record one step's accuracy; return True if the band advanced."""
        if not math.isfinite(accuracy):
            return False
        self.recent.append(float(accuracy))
        running = self.running_accuracy()
        if running is not None and running >= self.threshold and self.index < len(self.bands) - 1:
            self.index += 1
            self.recent.clear()
            return True
        return False

    def to_dict(self) -> dict[str, Any]:
        """Return the state as plain JSON data."""
        return {
            "bands": self.bands,
            "index": self.index,
            "threshold": self.threshold,
            "recent": list(self.recent),
        }

    def load_dict(self, data: dict[str, Any]) -> None:
        """Restore ``index`` and the window from ``to_dict`` data (the bands must match)."""
        if list(data.get("bands", [])) == self.bands:
            self.index = min(int(data.get("index", 0)), len(self.bands) - 1)
            self.recent = deque(data.get("recent", []), maxlen=self.window)


class CurriculumRepeatSampler(RepeatSampler):
    """TRL's ``RepeatSampler`` (prompt groups repeated for GRPO) that draws each group of prompts only
    from the curriculum's current band. Examples whose band is not in the curriculum are never drawn
    while it runs; a band without examples falls back to the whole dataset. Every process draws the same
    sequence: same seed, and the band only moves on logged (process-averaged) accuracy."""

    def __init__(self, bands_of_rows: Sequence[str], state: CurriculumState, **kwargs: Any):
        super().__init__(data_source=bands_of_rows, **kwargs)
        self.state = state
        self.pools = {
            b: [i for i, row_band in enumerate(bands_of_rows) if row_band == b] for b in state.bands
        }
        self.rng = torch.Generator().manual_seed(self.seed if self.seed is not None else 0)
        self._queues: dict[str, list[int]] = {}

    def _next(self, band: str) -> int:
        pool = self.pools.get(band) or list(range(self.num_samples))
        queue = self._queues.get(band)
        if not queue:
            order = (
                torch.randperm(len(pool), generator=self.rng).tolist() if self.shuffle else range(len(pool))
            )
            queue = self._queues[band] = [pool[i] for i in order]
        return queue.pop(0)

    def __iter__(self):
        for _ in range(self.num_samples // self.batch_size):
            # Read per prompt group. The dataloader fetches one generation batch ahead, so a band switch
            # logged at step t shapes the batch of step t + 2.
            band = self.state.band
            chunk = [self._next(band) for _ in range(self.batch_size)]
            for _ in range(self.repeat_count):
                for index in chunk:
                    for _ in range(self.mini_repeat_count):
                        yield index


class CurriculumCallback(TrainerCallback):
    """Feed each logged training accuracy (``rewards/<reward>/mean``) to the curriculum state, add
    ``curriculum/band_index`` and ``curriculum/running_accuracy`` to the logs, and save the state in
    every checkpoint (``curriculum.json``) so a resumed run continues on the same band."""

    def __init__(self, state: CurriculumState, reward_name: str = "accuracy"):
        self.state = state
        self.key = f"rewards/{reward_name}/mean"

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or self.key not in logs:
            return
        value = _jsonable(logs[self.key])
        if value is not None and self.state.update(float(value)):
            logs["curriculum/advanced_to"] = self.state.band
        logs["curriculum/band_index"] = self.state.index
        logs["curriculum/running_accuracy"] = self.state.running_accuracy()

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                atomic_write_text(folder / CURRICULUM_FILE, json.dumps(self.state.to_dict()))


def load_curriculum_state(checkpoint: str | Path | None, state: CurriculumState) -> None:
    """Restore ``state`` from a checkpoint's ``curriculum.json`` if there is one."""
    if checkpoint is None:
        return
    path = Path(checkpoint) / CURRICULUM_FILE
    if path.exists():
        state.load_dict(json.loads(path.read_text(encoding="utf-8")))
