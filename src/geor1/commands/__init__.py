"""CLI command modules. A module here that defines ``register(app: typer.Typer)`` is picked up by
``geor1.cli``; ``data_*`` modules add subcommands to the ``data`` group instead (see ``data.py``)."""


def print_error(exc: BaseException) -> None:
    """Print ``error: <exc>`` on stderr as one unwrapped line and return nothing.

    Rich would otherwise wrap a long message at the terminal width, splitting a ``file:line`` location
    over two lines, and read brackets in it as markup.
    """
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
