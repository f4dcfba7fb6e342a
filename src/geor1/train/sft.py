"""SFT, the scaffolding stage: TRL ``SFTTrainer`` on CoT examples (prompt + ``<think>…</think><answer>…</answer>``).

Images go through the model's processor; the loss covers the assistant completion only (TRL's
``completion_only_loss`` on prompt/completion data). Full fine-tuning or LoRA (``use_peft``), resumable
(``resume_from_checkpoint: latest`` or a folder), metrics in ``<output_dir>/metrics.jsonl`` and wherever
``report_to`` points.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from geor1.train.config import SFTScriptArguments


def build_sft_trainer(
    script: SFTScriptArguments, model_args: Any, args: Any, *, callbacks: list[Any] | None = None
):
    """Return a ready ``trl.SFTTrainer`` for the config (the model is loaded from its path by TRL)."""
    from trl import SFTTrainer, get_peft_config

    import geor1.models  # noqa: F401  (registers the image-only processors with AutoProcessor)
    from geor1.errors import ConfigError
    from geor1.models import load_processor
    from geor1.train.data import load_examples
    from geor1.train.run import check_model_path, model_init_kwargs

    if not script.train_file:
        raise ConfigError("train_file", "required: one or more CoT JSONL files")
    if args.completion_only_loss is False:
        raise ConfigError(
            "completion_only_loss", "SFT trains on the assistant part only; leave it unset or true"
        )
    path = check_model_path(model_args)
    # the examples (a quick read) before the processor and model: a bad train file fails first
    train = load_examples(script.train_file, "sft", limit=script.max_train_samples)
    evaluation = load_examples(script.eval_file, "sft") if script.eval_file else None
    args.model_init_kwargs = model_init_kwargs(model_args, args)
    processor = load_processor(
        path,
        min_pixels=script.min_pixels,
        max_pixels=script.max_pixels,
        trust_remote_code=args.trust_remote_code,
    )
    return SFTTrainer(
        model=path,
        args=args,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=processor,
        peft_config=get_peft_config(model_args),
        callbacks=callbacks,
    )


def run_sft(
    script: SFTScriptArguments,
    model_args: Any,
    args: Any,
    mapping: dict[str, Any] | None = None,
    *,
    callbacks: list[Any] | None = None,
    quiet: bool = False,
):
    """Train with SFT, save the final model + processor in ``output_dir``; return the trainer.

    ``callbacks`` are added to every run's own (metrics.jsonl, rank markers); ``quiet`` drops the
    Trainer's printing of each log record (all of them are in metrics.jsonl)."""
    from geor1.train.run import (
        prepare_hf_folder_saves,
        prepare_run_folder,
        quiet_trainer,
        resolve_checkpoint,
        run_callbacks,
    )

    checkpoint = resolve_checkpoint(args.resume_from_checkpoint, args.output_dir)
    output_dir = Path(args.output_dir)
    trainer = build_sft_trainer(
        script, model_args, args, callbacks=run_callbacks(output_dir) + list(callbacks or [])
    )
    if quiet:
        quiet_trainer(trainer)
    # written only once the config has proved valid (building the trainer checks it): a rejected
    # config leaves no run folder behind
    prepare_hf_folder_saves(trainer)
    prepare_run_folder("sft", args, mapping, (script, model_args, args))
    trainer.train(resume_from_checkpoint=checkpoint)
    trainer.save_model(str(output_dir))
    if trainer.args.process_index == 0:
        from geor1.io import apply_umask

        apply_umask(output_dir)  # save_pretrained writes weights 0600; checkpoints too
    return trainer


def main(argv: list[str] | None = None) -> None:
    """``python -m geor1.train.sft CONFIG [--key value …]`` (also what ``accelerate launch`` runs)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        raise SystemExit("usage: python -m geor1.train.sft CONFIG [--key value ...]")
    from geor1.commands import one_error_line
    from geor1.commands.train import run_config

    with one_error_line():  # the error path of the geo-r1 command: one error line, exit code 2
        run_config("sft", argv[0], argv[1:])


if __name__ == "__main__":
    main()
