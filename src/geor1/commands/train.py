"""``geo-r1 sft CONFIG`` and ``geo-r1 grpo CONFIG``, each with ``--key value`` overrides of the YAML.

For several processes, launch the same entry point with accelerate, e.g.::

    accelerate launch --config_file configs/accelerate/zero3.yaml -m geor1.cli grpo configs/grpo_paper.yaml
"""

from __future__ import annotations

from pathlib import Path

import typer

_OVERRIDES = {"allow_extra_args": True, "ignore_unknown_options": True}
_EPILOG = (
    "Any config key can be overridden after CONFIG as --key value (or --key=value), e.g. "
    "--learning_rate 1e-5 --max_steps 10 --output_dir runs/try; lists as a,b or \\[a, b]. "
    "geo-r1 {kind} --keys lists every key with its type and default (geor1's data and reward settings, "
    "TRL's ModelConfig and {trainer}); an unknown key is refused with the closest match."
)


def run_config(kind: str, config: str | Path, overrides: list[str]) -> None:
    """Load a ``sft`` or ``grpo`` config (YAML plus ``--key value`` overrides), train, save, and end the
    process group of a launched run."""
    from geor1.train.config import load_config
    from geor1.train.run import end_distributed

    # A ConfigError (or any geor1 error) becomes one `error:` line and exit 2 (geor1.commands.guard_app).
    mapping, (script, model_args, args) = load_config(kind, config, overrides)
    if kind == "sft":
        from geor1.train.sft import run_sft

        run_sft(script, model_args, args, mapping)
    else:
        from geor1.train.grpo import run_grpo

        run_grpo(script, model_args, args, mapping)
    end_distributed()
    typer.echo(f"{kind} run finished: {args.output_dir}")


def print_keys(kind: str) -> None:
    """Print every config key of a run kind: name, type, default and the dataclass it belongs to."""
    import dataclasses

    from geor1.train.config import field_hints, trainer_classes, type_name

    classes = trainer_classes(kind)
    index = field_hints(kind)
    defaults = {}
    for cls in classes:
        for f in dataclasses.fields(cls):
            if f.name in index and index[f.name][0] is cls and f.name not in defaults:
                if f.default is not dataclasses.MISSING:
                    defaults[f.name] = repr(f.default)
                elif f.default_factory is not dataclasses.MISSING:
                    defaults[f.name] = repr(f.default_factory())
                else:
                    defaults[f.name] = "(required)"
    # plain lines, never cut to the terminal width, so they can be grepped
    typer.echo(f"{kind} config keys (YAML, or --key value after CONFIG): key  type  default  [from]")
    for key, (cls, hint) in index.items():
        typer.echo(f"{key}  {type_name(hint)}  {defaults.get(key, '')}  [{cls.__name__}]")


def _command(kind: str, doc: str):  # noqa: ANN202  (a Typer command function)
    def command(
        ctx: typer.Context,
        config: Path | None = typer.Argument(
            None, help=f"YAML config (see configs/{kind}_*.yaml); --key value pairs after it override it."
        ),
        keys: bool = typer.Option(False, "--keys", help="List every config key and exit."),
    ) -> None:
        if keys:
            print_keys(kind)
            return
        if config is None:
            raise typer.BadParameter(
                "a YAML config is needed (or --keys to list the keys)", param_hint="CONFIG"
            )
        run_config(kind, config, list(ctx.args))

    command.__name__ = kind
    command.__doc__ = doc
    return command


sft = _command("sft", "Scaffolding: supervised fine-tuning on CoT examples with TRL's SFTTrainer.")
grpo = _command(
    "grpo", "Elevating: GRPO on pairing task examples with geor1's verifiable rewards (TRL's GRPOTrainer)."
)


def register(app: typer.Typer) -> None:
    """Add the ``sft`` and ``grpo`` commands (extra ``--key value`` pairs override the YAML)."""
    app.command("sft", context_settings=_OVERRIDES, epilog=_EPILOG.format(kind="sft", trainer="SFTConfig"))(
        sft
    )
    app.command(
        "grpo", context_settings=_OVERRIDES, epilog=_EPILOG.format(kind="grpo", trainer="GRPOConfig")
    )(grpo)
