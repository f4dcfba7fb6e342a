"""CLI command modules. A module here that defines ``register(app: typer.Typer)`` is picked up by
``geor1.cli``; ``data_*`` modules add subcommands to the ``data`` group instead (see ``data.py``)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# Set to 1 to see the traceback of an error the CLI would otherwise print as one line (for debugging).
TRACEBACK_ENV = "GEOR1_TRACEBACK"


def print_error(exc: BaseException | str) -> None:
    """Print ``error: <exc>`` on stderr as one unwrapped line and return nothing.

    Rich would otherwise wrap a long message at the terminal width, splitting a ``file:line`` location
    over two lines, and read brackets in it as markup.
    """
    from rich.console import Console
    from rich.markup import escape

    text = " ".join(str(exc).split("\n"))
    Console(stderr=True).print(f"[red]error:[/red] {escape(text)}", highlight=False, soft_wrap=True)


def describe_os_error(exc: OSError) -> str:
    """Return ``PATH: reason`` for an OS error (the file it names, then the system's reason)."""
    from pathlib import Path

    if isinstance(exc, FileExistsError) and exc.filename is not None and Path(exc.filename).is_file():
        return f"{exc.filename}: a file is in the way where a folder is needed"
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is not None:
        target = f"{exc.filename} -> {exc.filename2}" if exc.filename2 is not None else str(exc.filename)
        return f"{target}: {reason}"
    return reason


def exit_on_error(func: F) -> F:
    """Wrap a command so that every geor1 error (and an OS error on a file) ends it with one
    ``error: …`` line on stderr and exit code 2 instead of a traceback.

    Set ``GEOR1_TRACEBACK=1`` to let the exception through with its traceback.
    """
    import typer

    from geor1.errors import GeoR1Error

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (GeoR1Error, OSError, RecursionError) as exc:
            if os.environ.get(TRACEBACK_ENV):
                raise
            if isinstance(exc, RecursionError):
                print_error("input nested too deeply to read (RecursionError)")
            elif isinstance(exc, OSError) and not isinstance(exc, GeoR1Error):
                print_error(describe_os_error(exc))
            else:
                print_error(exc)
            raise typer.Exit(2) from None

    wrapper.__geor1_guarded__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def guard_app(app: Any) -> None:
    """Wrap every command and group callback of a Typer app (recursively) with ``exit_on_error``."""
    for command in app.registered_commands:
        if command.callback is not None and not getattr(command.callback, "__geor1_guarded__", False):
            command.callback = exit_on_error(command.callback)
    callback = app.registered_callback
    if callback is not None and callback.callback is not None:
        if not getattr(callback.callback, "__geor1_guarded__", False):
            callback.callback = exit_on_error(callback.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            guard_app(group.typer_instance)
