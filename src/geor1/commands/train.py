"""``geo-r1 sft CONFIG`` and ``geo-r1 grpo CONFIG``, each with ``--key value`` overrides of the YAML.

For several processes, launch the same entry point with accelerate, e.g.::

    accelerate launch --config_file configs/accelerate/zero3.yaml -m geor1.cli grpo configs/grpo_paper.yaml
"""

from __future__ import annotations

from pathlib import Path

import typer

_OVERRIDES = {"allow_extra_args": True, "ignore_unknown_options": True}


def _run(kind: str, config: Path, overrides: list[str]) -> None:
    from geor1.train.config import load_config

    # A ConfigError (or any geor1 error) becomes one `error:` line and exit 2 (geor1.commands.guard_app).
    mapping, (script, model_args, args) = load_config(kind, config, overrides)
    if kind == "sft":
        from geor1.train.sft import run_sft

        run_sft(script, model_args, args, mapping)
    else:
        from geor1.train.grpo import run_grpo

        run_grpo(script, model_args, args, mapping)
    typer.echo(f"{kind} run finished: {args.output_dir}")


def sft(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="YAML config (see configs/sft_*.yaml)."),
) -> None:
    """Scaffolding: supervised fine-tuning on CoT examples with TRL's SFTTrainer."""
    _run("sft", config, list(ctx.args))


def grpo(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="YAML config (see configs/grpo_*.yaml)."),
) -> None:
    """Elevating: GRPO on pairing task examples with geor1's verifiable rewards (TRL's GRPOTrainer)."""
    _run("grpo", config, list(ctx.args))


def register(app: typer.Typer) -> None:
    """Add the ``sft`` and ``grpo`` commands (extra ``--key value`` pairs override the YAML)."""
    app.command("sft", context_settings=_OVERRIDES)(sft)
    app.command("grpo", context_settings=_OVERRIDES)(grpo)
