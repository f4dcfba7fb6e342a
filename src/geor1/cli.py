"""The ``geo-r1`` command line.

``COMMANDS`` lists the command modules; each defines ``register(app)``. A new stage is a new module in
``geor1.commands`` and one entry here. Heavy libraries (torch, transformers, trl) are imported inside
the commands that need them, so ``geo-r1 --help`` and the data commands start fast.
"""

from __future__ import annotations

import typer

from geor1.commands import cot, data, demo, guard_app, model, predict, serve, train
from geor1.commands import eval as eval_

# Explicit, so a command is found by reading this list rather than by scanning the package.
COMMANDS = (cot, data, demo, eval_, model, predict, serve, train)


def _print_version(value: bool) -> None:
    if value:
        from geor1 import __version__

        typer.echo(f"geo-r1 {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """Return the Typer app with every module of ``COMMANDS`` registered and every command guarded."""
    app = typer.Typer(
        help="geor1: teach vision-language models to reason about places (Geo-R1).",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
    )

    @app.callback()
    def root(
        version: bool = typer.Option(
            False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ) -> None:
        """geor1: teach vision-language models to reason about places (Geo-R1)."""

    for module in COMMANDS:
        module.register(app)
    # One path for errors: every geor1 error of every command is one `error:` line and exit code 2.
    guard_app(app)
    return app


def main() -> None:
    """Console-script entry point."""
    build_app()()


if __name__ == "__main__":
    main()
