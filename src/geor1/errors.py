"""Error types that name the file, line and field at fault."""

from __future__ import annotations

from pathlib import Path


class GeoR1Error(Exception):
    """Base class of every error geor1 raises on purpose."""


class RecordError(GeoR1Error, ValueError):
    """A bad input record, located by file, line (1-based) and field."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ):
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.reason = message
        where = ""
        if self.path is not None:
            where = self.path + (f":{line}" if line is not None else "")
        if field is not None:
            where = f"{where} field '{field}'" if where else f"field '{field}'"
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(GeoR1Error, ValueError):
    """A bad configuration value, named by its key (a config field, not a command-line flag: the CLI maps
    fields to its options), and by the config file and line that set it when there is one."""

    def __init__(self, key: str, message: str, *, path: str | Path | None = None, line: int | None = None):
        self.key = key
        self.reason = message
        self.path = str(path) if path is not None else None
        self.line = line
        where = ""
        if self.path is not None:
            where = self.path + (f":{line}" if line is not None else "") + ": "
        super().__init__(f"{where}config key '{key}': {message}")

    def located(self, path: str | Path, line: int | None = None) -> ConfigError:
        """Return a copy of this error that also names the config file (and line) that set the key."""
        return ConfigError(self.key, self.reason, path=path, line=line)
