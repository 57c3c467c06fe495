"""`[tool.fixsessions]` in pyproject.toml, found by walking up from the first path (as ruff
finds its own section). Command-line flags win over the file."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

KEYS = {"select", "ignore", "exclude", "unsafe-fixes"}


class ConfigError(Exception):
    """A configuration problem, worded for the person who wrote the file."""


@dataclass(frozen=True)
class FileConfig:
    path: Path | None = None
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None
    unsafe_fixes: bool | None = None


def find(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.fixsessions] table, from ``start`` upwards."""
    directory = start.resolve()
    if not directory.is_dir():
        directory = directory.parent
    for candidate in (directory, *directory.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            try:
                if "fixsessions" in _read(path).get("tool", {}):
                    return path
            except ConfigError:
                return path  # report the broken file rather than skip past it
    return None


def _read(path: Path) -> dict:
    # Imported here: a file in a folder with no pyproject.toml (/tmp) does without it.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def load(start: Path) -> FileConfig:
    path = find(start)
    if path is None:
        return FileConfig()
    table = _read(path).get("tool", {}).get("fixsessions", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.fixsessions] must be a table")
    unknown = sorted(set(table) - KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) in [tool.fixsessions]: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(KEYS))})"
        )

    def codes(key: str) -> tuple[str, ...] | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: `{key}` must be a list of strings")
        return tuple(value)

    unsafe = table.get("unsafe-fixes")
    if unsafe is not None and not isinstance(unsafe, bool):
        raise ConfigError(f"{path}: `unsafe-fixes` must be true or false")
    return FileConfig(path, codes("select"), codes("ignore"), codes("exclude"), unsafe)
