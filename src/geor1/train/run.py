"""What SFT and GRPO runs share: checkpoint resolution, model init kwargs, the run folder, callbacks."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from geor1.errors import ConfigError
from geor1.train.callbacks import MetricsJsonlCallback, RankDoneCallback
from geor1.train.config import save_run_config

logger = logging.getLogger(__name__)

LATEST = {"true", "latest", "last", "yes"}
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


def last_complete_checkpoint(output_dir: str | Path) -> str | None:
    """Return the newest ``checkpoint-<step>`` folder whose ``trainer_state.json`` was written (the
    Trainer writes it last, so a run killed mid-save leaves a folder without it), or None."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    steps = []
    for child in folder.iterdir():
        match = _CHECKPOINT.fullmatch(child.name)
        if match and child.is_dir() and (child / "trainer_state.json").is_file():
            steps.append((int(match.group(1)), child))
    return str(max(steps)[1]) if steps else None


def resolve_checkpoint(value: str | bool | None, output_dir: str | Path) -> str | None:
    """Return the checkpoint folder to resume from: None, the newest complete ``checkpoint-*`` of
    ``output_dir`` for ``true``/``latest``, or the given folder (ConfigError if it does not exist)."""
    if (
        value is None
        or value is False
        or (isinstance(value, str) and value.lower() in {"", "false", "no", "none"})
    ):
        return None
    if value is True or str(value).lower() in LATEST:
        last = last_complete_checkpoint(output_dir)
        if last is None:
            raise ConfigError("resume_from_checkpoint", f"no complete checkpoint-* folder in {output_dir}")
        return last
    if not (Path(value) / "trainer_state.json").is_file():
        raise ConfigError("resume_from_checkpoint", f"not a complete checkpoint folder: {value}")
    return str(value)


def model_init_kwargs(model_args: Any, trainer_args: Any) -> dict[str, Any]:
    """Return the ``from_pretrained`` kwargs TRL uses when it loads the model from its path."""
    kwargs = dict(trainer_args.model_init_kwargs or {})
    kwargs.setdefault("dtype", model_args.dtype)
    if model_args.attn_implementation is not None:
        kwargs.setdefault("attn_implementation", model_args.attn_implementation)
    if model_args.model_revision not in (None, "main"):
        kwargs.setdefault("revision", model_args.model_revision)
    return kwargs


def check_model_path(model_args: Any) -> str:
    """Return the model path or hub id; ConfigError (``model_name_or_path``) at once if it is missing or
    names no model (a missing folder, a folder without config.json, an uncached hub id while offline)."""
    from geor1.models.loading import check_model_source

    if not model_args.model_name_or_path:
        raise ConfigError("model_name_or_path", "required: a model folder or hub id")
    revision = model_args.model_revision if model_args.model_revision not in (None, "main") else None
    check_model_source(model_args.model_name_or_path, what="model_name_or_path", revision=revision)
    return str(model_args.model_name_or_path)


def prepare_run_folder(kind: str, trainer_args: Any, mapping: dict[str, Any] | None, configs: tuple) -> Path:
    """Create the run folder and (on the main process) write the config used; return the folder."""
    output_dir = Path(trainer_args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if trainer_args.process_index == 0 and mapping is not None:
        save_run_config(output_dir, kind, mapping, configs)
    return output_dir


def run_callbacks(output_dir: Path) -> list[Any]:
    """Return the callbacks every geor1 run gets: metrics.jsonl and per-rank completion markers."""
    return [MetricsJsonlCallback(output_dir), RankDoneCallback(output_dir)]


def quiet_trainer(trainer: Any) -> None:
    """Drop the Trainer's printing of each log record (with ``disable_tqdm`` it prints every log dict;
    every record is in metrics.jsonl)."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)


def prepare_hf_folder_saves(trainer: Any) -> None:
    """Make every save of a DeepSpeed ZeRO-3 run (checkpoints and the final model) an ordinary HF folder.

    ZeRO-3 shards each weight over the processes, so a save holds full weights only when DeepSpeed gathers
    them (``stage3_gather_16bit_weights_on_model_save``); without it transformers writes no weights file
    at all, only DeepSpeed's shards, which eval, predict and serve cannot load. The flag is switched on
    here (it must be set before ``deepspeed.initialize``, which ``train()`` runs). The model also gets the
    key mapping of an ordinary load: under ZeRO-3, transformers keeps its whole *loading* mapping (legacy
    renames and a prefix change) on the model, and reversing that on save writes keys like
    ``model.model.layers.0…`` that other loaders (vLLM, older transformers) do not know. Other backends
    need nothing and are left alone."""
    plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
    if plugin is None or plugin.zero_stage != 3:
        return
    zero = plugin.deepspeed_config.setdefault("zero_optimization", {})
    if zero.get("stage3_gather_16bit_weights_on_model_save") is not True:
        logger.warning(
            "ZeRO-3: turning on zero3_save_16bit_model (stage3_gather_16bit_weights_on_model_save) so that "
            "checkpoints and the final model are HF folders eval, predict and serve can load"
        )
        zero["stage3_gather_16bit_weights_on_model_save"] = True
        plugin.zero3_save_16bit_model = True
    # None: transformers derives the mapping from the model class on save, as for a model it did not
    # load itself, which gives the names a non-ZeRO save writes.
    trainer.model._weight_conversions = None


def end_distributed() -> None:
    """Wait for every process, then destroy the default process group.

    A launched worker that exits with the group still alive can abort in the C++ destructor of a
    communication thread (``terminate called without an active exception``) after its work is done,
    which fails the whole launch. A no-op in a single process.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
