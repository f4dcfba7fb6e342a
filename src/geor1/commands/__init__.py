"""CLI command modules and the one error path every command goes through.

A command module defines ``register(app: typer.Typer)`` and is listed in ``geor1.cli.COMMANDS``;
``data_*`` modules add subcommands to the ``data`` group instead (listed in ``data.DATA_COMMANDS``).
Library code raises ``ConfigError``/``RecordError`` naming config fields and records; only this layer
turns them into an ``error:`` line, naming an option where the running command has one for the field.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Mapping
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


def command_options(func: Callable[..., Any]) -> dict[str, str]:
    """Return ``{parameter name: its long option}`` of a Typer command function (``query_view`` ->
    ``--query-view``), read from the ``typer.Option`` defaults of its signature."""
    import inspect

    from typer.models import OptionInfo

    options = {}
    for name, param in inspect.signature(func).parameters.items():
        info = param.default
        if isinstance(info, OptionInfo):
            decls = [d for d in (info.param_decls or ()) if d.startswith("--")]
            options[name] = max(decls, key=len) if decls else "--" + name.replace("_", "-")
    return options


def error_line(exc: BaseException, options: Mapping[str, str] | None = None) -> str:
    """Return the one-line message the CLI prints for an expected error: a geor1 error (a ConfigError
    whose key ``options`` maps to a command-line option is named by that option), an OS error on a
    file, or input nested too deeply to read."""
    from geor1.errors import ConfigError, GeoR1Error

    if isinstance(exc, RecursionError):
        return "input nested too deeply to read (RecursionError)"
    if isinstance(exc, ConfigError) and exc.path is None and options and exc.key in options:
        return f"option {options[exc.key]}: {exc.reason}"
    if isinstance(exc, OSError) and not isinstance(exc, GeoR1Error):
        return describe_os_error(exc)
    return str(exc)


@contextlib.contextmanager
def one_error_line(options: Mapping[str, str] | None = None) -> Iterator[None]:
    """End the block with one ``error: …`` line on stderr and exit code 2 on a geor1 error, an OS error
    on a file or a RecursionError; any other exception keeps its traceback (it is a bug).

    Set ``GEOR1_TRACEBACK=1`` to let every exception through with its traceback.
    """
    from geor1.errors import GeoR1Error

    try:
        yield
    except (GeoR1Error, OSError, RecursionError) as exc:
        if os.environ.get(TRACEBACK_ENV):
            raise
        print_error(error_line(exc, options))
        # SystemExit, not typer.Exit: the same exit works inside a click command and in the
        # ``python -m geor1.train.*`` entry points that run without click.
        raise SystemExit(2) from None


def field_options(**aliases: str) -> Callable[[F], F]:
    """Declare, on a command function, the options of config fields whose option name differs from the
    field name (``@field_options(by="--split-by")``), for the error line of a ConfigError."""

    def mark(func: F) -> F:
        func.__geor1_field_options__ = dict(aliases)  # type: ignore[attr-defined]
        return func

    return mark


def exit_on_error(func: F) -> F:
    """Wrap a command so that its expected errors end it as ``one_error_line`` says, a ConfigError
    naming the command's option for the config field: the parameter of the same name, or the one
    ``field_options`` declares."""

    options = {**command_options(func), **getattr(func, "__geor1_field_options__", {})}

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with one_error_line(options):
            return func(*args, **kwargs)

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
