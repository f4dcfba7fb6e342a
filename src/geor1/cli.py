"""The ``geo-r1`` command line. Each stage lives in its own module under ``geor1.commands``.

Heavy libraries (torch, transformers, trl) are imported inside the commands that need them, so
``geo-r1 --help`` and the data commands start fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    help="geor1: teach vision-language models to reason about places (Geo-R1).", no_args_is_help=True
)

# Modules that define commands; each exposes ``register(app)``.
COMMAND_MODULES = ("geor1.commands.data",)


def build_app() -> typer.Typer:
    """Return the Typer app with every command group registered."""
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    return app


def main() -> None:
    """Console-script entry point."""
    build_app()()


if __name__ == "__main__":
    main()
