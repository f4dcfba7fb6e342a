"""``geo-r1 data …``: build views, proxy tasks, exports and previews.

Every module ``geor1.commands.data_*`` defines its subcommands on ``data_app`` when imported;
``register`` imports the ones listed in ``DATA_COMMANDS``.
"""

from __future__ import annotations

import importlib

import typer

# Explicit, in the order of the pipeline (views -> tasks -> export/inspect), not found by scanning.
DATA_COMMANDS = ("data_earth", "data_views", "data_tasks", "data_export", "data_inspect")

data_app = typer.Typer(help="Build geotagged views and proxy/evaluation tasks.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Import the ``DATA_COMMANDS`` modules (which add themselves to ``data_app``) and attach the
    ``data`` group to the main app."""
    for name in DATA_COMMANDS:
        importlib.import_module(f"geor1.commands.{name}")
    app.add_typer(data_app, name="data")
