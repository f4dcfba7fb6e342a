"""``geo-r1 data …``: build views, proxy tasks, exports and previews.

Every module ``geor1.commands.data_*`` defines its subcommands on ``data_app`` when imported.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

import geor1.commands

data_app = typer.Typer(help="Build geotagged views and proxy/evaluation tasks.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Import every ``data_*`` command module and attach the ``data`` group to the main app."""
    for info in sorted(pkgutil.iter_modules(geor1.commands.__path__), key=lambda m: m.name):
        if info.name.startswith("data_"):
            importlib.import_module(f"geor1.commands.{info.name}")
    app.add_typer(data_app, name="data")
