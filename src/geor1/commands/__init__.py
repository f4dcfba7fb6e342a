"""CLI command modules. A module here that defines ``register(app: typer.Typer)`` is picked up by
``geor1.cli``; ``data_*`` modules add subcommands to the ``data`` group instead (see ``data.py``)."""
