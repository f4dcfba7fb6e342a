"""GRPO, the elevating stage: TRL ``GRPOTrainer`` on pairing task examples with geor1's verifiable rewards.

The rewards come from ``geor1.rewards`` by name (``reward_funcs: [accuracy, format, length, repetition]``)
with ``reward_weights`` aligned to them; every dataset column (``solution``, ``band``, ``meta``, …) is
passed on to the reward functions. vLLM rollouts (``use_vllm``, ``vllm_mode``) and every other
``GRPOConfig`` key pass straight through to TRL.

Per step, TRL logs ``rewards/<name>/mean``, ``frac_reward_zero_std`` (share of prompt groups whose
rewards have zero variance) and ``completions/mean_length``; geor1 writes every log record to
``<output_dir>/metrics.jsonl``.

Curriculum (``curriculum: true``, off by default): the prompts of each generation batch are drawn only
from the current difficulty band (the examples' ``meta.band``), starting with the first of
``curriculum_bands``; when the mean of the last ``curriculum_window`` logged accuracies
(``rewards/<curriculum_reward>/mean``) reaches ``curriculum_threshold``, the next band starts (the
dataloader works one generation batch ahead, so the switch shows one batch later). The band is saved in
every checkpoint and restored on resume.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from geor1.errors import ConfigError
from geor1.train.config import GRPOScriptArguments


def resolve_rewards(
    script: GRPOScriptArguments,
    args: Any,
    reward_funcs: list[Callable] | None = None,
    tokenizer: Any = None,
) -> list[Callable]:
    """Return the reward callables of the run and set ``args.reward_weights`` to match them.

    ``reward_funcs`` (Python API) replaces the named rewards of the config; otherwise they are built
    with ``geor1.rewards.build_reward_funcs(script.reward_funcs, **script.reward_options)``; the length
    reward measures completions in tokens of the policy's ``tokenizer`` unless the options say otherwise.
    """
    if reward_funcs is not None:
        if args.reward_weights is not None and len(args.reward_weights) != len(reward_funcs):
            raise ConfigError("reward_weights", f"needs {len(reward_funcs)} values, one per reward function")
        return list(reward_funcs)
    from geor1.rewards import build_reward_funcs, reward_weights_for
    from geor1.rewards.registry import TOKEN_LENGTH_REWARDS

    names = list(script.reward_funcs)
    options = dict(script.reward_options)
    if tokenizer is not None and "tokenizer" not in options and set(names) & set(TOKEN_LENGTH_REWARDS):
        options["tokenizer"] = tokenizer
    funcs = build_reward_funcs(names, **options)  # ConfigError naming reward_funcs[i] / reward_options.<key>
    args.reward_weights = reward_weights_for(names, args.reward_weights)
    return funcs


def _reward_log_name(script: GRPOScriptArguments, funcs: list[Callable], name: str) -> str:
    """Return the name TRL logs a reward under (the function's ``__name__``) for a configured name."""
    names = list(script.reward_funcs)
    if name in names and len(names) == len(funcs):
        return getattr(funcs[names.index(name)], "__name__", name)
    return name


def build_grpo_trainer(
    script: GRPOScriptArguments,
    model_args: Any,
    args: Any,
    *,
    reward_funcs: list[Callable] | None = None,
    callbacks: list[Any] | None = None,
    curriculum_checkpoint: str | None = None,
):
    """Return a ready ``trl.GRPOTrainer`` (or its curriculum subclass) for the config."""
    from trl import GRPOTrainer, get_peft_config

    from geor1.models import load_processor
    from geor1.models.loading import contiguous_lm_head_input
    from geor1.train.callbacks import CurriculumCallback, CurriculumState, load_curriculum_state
    from geor1.train.data import load_examples
    from geor1.train.run import check_model_path, model_init_kwargs

    if not script.train_file:
        raise ConfigError("train_file", "required: one or more task JSONL files")
    path = check_model_path(model_args)
    # the examples (a quick read) before the processor and model: a bad train file fails first
    train = load_examples(script.train_file, "grpo", limit=script.max_train_samples)
    evaluation = load_examples(script.eval_file, "grpo") if script.eval_file else None
    args.model_init_kwargs = model_init_kwargs(model_args, args)
    processor = load_processor(
        path,
        min_pixels=script.min_pixels,
        max_pixels=script.max_pixels,
        padding_side="left",  # GRPO pairs left-padded prompts with the processor's multimodal fields
        trust_remote_code=args.trust_remote_code,
    )
    funcs = resolve_rewards(script, args, reward_funcs, tokenizer=processor.tokenizer)
    callbacks = list(callbacks or [])
    kwargs = dict(
        model=path,
        reward_funcs=funcs,
        args=args,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=processor,
        peft_config=get_peft_config(model_args),
    )
    if not script.curriculum:
        trainer = GRPOTrainer(**kwargs, callbacks=callbacks)
        contiguous_lm_head_input(trainer.model)
        return trainer

    bands = list(train["band"])
    if not set(bands) & set(script.curriculum_bands):
        raise ConfigError("curriculum_bands", f"no example has a band in {script.curriculum_bands}")
    state = CurriculumState(script.curriculum_bands, script.curriculum_threshold, script.curriculum_window)
    load_curriculum_state(curriculum_checkpoint, state)
    reward_name = _reward_log_name(script, funcs, script.curriculum_reward)
    trainer = _curriculum_trainer_class()(
        **kwargs, callbacks=[CurriculumCallback(state, reward_name), *callbacks], curriculum_state=state
    )
    contiguous_lm_head_input(trainer.model)
    return trainer


@functools.cache
def _curriculum_trainer_class() -> type:
    from trl import GRPOTrainer

    from geor1.train.callbacks import CurriculumRepeatSampler

    class CurriculumGRPOTrainer(GRPOTrainer):
        """GRPOTrainer whose sampler draws each prompt group from the curriculum's current band."""

        def __init__(self, *args: Any, curriculum_state: Any, **kwargs: Any):
            self.curriculum_state = curriculum_state
            super().__init__(*args, **kwargs)

        def _get_train_sampler(self, dataset=None):
            dataset = self.train_dataset if dataset is None else dataset
            return CurriculumRepeatSampler(
                list(dataset["band"]),
                self.curriculum_state,
                mini_repeat_count=self.num_generations,
                batch_size=self.args.generation_batch_size // self.num_generations,
                repeat_count=self.num_iterations * self.args.steps_per_generation,
                shuffle=self.shuffle_dataset,
                seed=self.args.seed,
            )

    return CurriculumGRPOTrainer


def run_grpo(
    script: GRPOScriptArguments,
    model_args: Any,
    args: Any,
    mapping: dict[str, Any] | None = None,
    *,
    reward_funcs: list[Callable] | None = None,
    callbacks: list[Any] | None = None,
    quiet: bool = False,
):
    """Train with GRPO, save the final model + processor in ``output_dir``; return the trainer.

    ``reward_funcs`` (Python API) replaces the config's named rewards; ``callbacks`` are added to every
    run's own (metrics.jsonl, rank markers); ``quiet`` drops the Trainer's printing of each log record
    (all of them are in metrics.jsonl)."""
    from geor1.train.run import (
        prepare_hf_folder_saves,
        prepare_run_folder,
        quiet_trainer,
        resolve_checkpoint,
        run_callbacks,
    )

    checkpoint = resolve_checkpoint(args.resume_from_checkpoint, args.output_dir)
    output_dir = Path(args.output_dir)
    trainer = build_grpo_trainer(
        script,
        model_args,
        args,
        reward_funcs=reward_funcs,
        callbacks=run_callbacks(output_dir) + list(callbacks or []),
        curriculum_checkpoint=checkpoint,
    )
    if quiet:
        quiet_trainer(trainer)
    # written only once the config has proved valid (building the trainer checks it): a rejected
    # config leaves no run folder behind
    prepare_hf_folder_saves(trainer)
    prepare_run_folder("grpo", args, mapping, (script, model_args, args))
    trainer.train(resume_from_checkpoint=checkpoint)
    trainer.save_model(str(output_dir))
    if trainer.args.process_index == 0:
        from geor1.io import apply_umask

        apply_umask(output_dir)  # save_pretrained writes weights 0600; checkpoints too
    return trainer


def main(argv: list[str] | None = None) -> None:
    """``python -m geor1.train.grpo CONFIG [--key value …]`` (also what ``accelerate launch`` runs)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        raise SystemExit("usage: python -m geor1.train.grpo CONFIG [--key value ...]")
    from geor1.commands import one_error_line
    from geor1.commands.train import run_config

    with one_error_line():  # the error path of the geo-r1 command: one error line, exit code 2
        run_config("grpo", argv[0], argv[1:])


if __name__ == "__main__":
    main()
