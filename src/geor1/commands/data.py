"""``geo-r1 data …``: build views, proxy tasks, exports and previews.

Each subcommand is defined in a small module of its own (``geor1.commands.data_*``) and registered here.
"""

from __future__ import annotations

import importlib

import typer

data_app = typer.Typer(help="Build geotagged views and proxy/evaluation tasks.", no_args_is_help=True)

# Each module defines commands on ``data_app`` when imported.
DATA_COMMAND_MODULES: tuple[str, ...] = ()


def register(app: typer.Typer) -> None:
    """Attach the ``data`` group to the main app."""
    for name in DATA_COMMAND_MODULES:
        importlib.import_module(name)
    app.add_typer(data_app, name="data")
