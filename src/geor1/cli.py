"""The ``geo-r1`` command line.

Every module in ``geor1.commands`` that defines ``register(app)`` adds its commands; a new stage is a
new module there. Heavy libraries (torch, transformers, trl) are imported inside the commands that
need them, so ``geo-r1 --help`` and the data commands start fast.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

import geor1.commands


def _print_version(value: bool) -> None:
    if value:
        from geor1 import __version__

        typer.echo(f"geo-r1 {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """Return the Typer app with every command module under ``geor1.commands`` registered."""
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

    for info in sorted(pkgutil.iter_modules(geor1.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"geor1.commands.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(app)
    # One path for errors: every geor1 error of every command is one `error:` line and exit code 2.
    geor1.commands.guard_app(app)
    return app


def main() -> None:
    """Console-script entry point."""
    build_app()()


if __name__ == "__main__":
    main()
