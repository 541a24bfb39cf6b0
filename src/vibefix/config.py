"""``[tool.vibefix]`` in the target project's ``pyproject.toml``.

The configuration is found like ruff's: from the paths given, upward, the first
``pyproject.toml`` with a ``[tool.vibefix]`` table. Unknown keys are an error naming the
file, never silently ignored.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vibefix.known.blocking import BlockingTable, TableError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


class ConfigError(Exception):
    """A configuration file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class Config:
    """The settings of one run. ``root`` anchors the include and exclude globs."""

    root: Path
    source: Path | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    recipe: str | None = None
    unsafe: bool = False
    jobs: int | None = None
    format: str | None = None
    target_version: tuple[int, int] | None = None
    """The oldest Python the project runs on (``target-version = "py311"``); else the
    lower bound of its ``requires-python``, else the Python that runs vibefix."""
    options: dict[str, Any] = field(default_factory=dict)
    """Per-codemod settings: ``[tool.vibefix.<codemod-name>]`` tables, by name."""


_LISTS = ("include", "exclude", "select", "ignore")
_REQUIRES_PYTHON = re.compile(r"(?m)^\s*requires-python\s*=\s*[\"'][^\"']*?>=?\s*3\.(\d+)")


def declared_python(root: Path, declared: tuple[int, int] | None = None) -> tuple[int, int] | None:
    """The oldest Python the project says it runs on: ``declared`` (``target-version``),
    else the lower bound of ``requires-python`` in the ``pyproject.toml`` at ``root``;
    None when it says nothing."""
    if declared is not None:
        return declared
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    found = _REQUIRES_PYTHON.search(text)
    return (3, int(found.group(1))) if found else None


def find_config_file(paths: Sequence[Path]) -> Path | None:
    """The nearest ``pyproject.toml`` with a ``[tool.vibefix]`` table above ``paths``."""
    if not paths:
        return None
    start = Path(_common_parent([path.resolve() for path in paths]))
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and "vibefix" in _read_toml(candidate).get("tool", {}):
            return candidate
    return None


def _common_parent(paths: Sequence[Path]) -> Path:
    folders = [path if path.is_dir() else path.parent for path in paths]
    common = folders[0]
    for folder in folders[1:]:
        while common not in (folder, *folder.parents):
            common = common.parent
    return common


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
            return data
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None


def load_config(paths: Sequence[Path], explicit: Path | None = None) -> Config:
    """The configuration for a run over ``paths``; defaults when there is none."""
    source = explicit if explicit is not None else find_config_file(paths)
    if source is None:
        root = _common_parent([path.resolve() for path in paths]) if paths else Path.cwd()
        return Config(root=root)
    table = _read_toml(source).get("tool", {}).get("vibefix", {})
    return parse_table(table, source)


def parse_table(table: dict[str, Any], source: Path) -> Config:
    """Validate a ``[tool.vibefix]`` table read from ``source``."""
    values: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if isinstance(value, dict):
            options[key] = value
        elif name in _LISTS:
            if not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
                raise ConfigError(f"{source}: [tool.vibefix] {key} must be a list of strings")
            values[name] = tuple(value)
        elif name in ("recipe", "format"):
            if not isinstance(value, str):
                raise ConfigError(f"{source}: [tool.vibefix] {key} must be a string")
            values[name] = value
        elif name == "unsafe":
            if not isinstance(value, bool):
                raise ConfigError(f"{source}: [tool.vibefix] {key} must be true or false")
            values[name] = value
        elif name == "target_version":
            found = re.fullmatch(r"(?:py3|3\.)(\d+)", value) if isinstance(value, str) else None
            if found is None:
                raise ConfigError(
                    f"{source}: [tool.vibefix] {key} must be a Python version such as"
                    f' "py311" or "3.11", not {value!r}'
                )
            values[name] = (3, int(found.group(1)))
        elif name == "jobs":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{source}: [tool.vibefix] {key} must be a positive integer")
            values[name] = value
        else:
            known = ", ".join(
                sorted({*_LISTS, "recipe", "format", "unsafe", "jobs", "target-version"})
            )
            raise ConfigError(f"{source}: unknown key {key!r} in [tool.vibefix] (known: {known})")
    if "blocking" in options:
        try:
            BlockingTable.from_mapping(options["blocking"])
        except TableError as error:
            raise ConfigError(f"{source}: [tool.vibefix.blocking] {error}") from None
    pool = options.get("engine-pool")
    if pool is not None:
        for key, value in pool.items():
            if key == "pool-pre-ping":
                if not isinstance(value, bool):
                    raise ConfigError(
                        f"{source}: [tool.vibefix.engine-pool] {key} must be true or false"
                    )
            elif key in ("pool-size", "max-overflow", "pool-recycle"):
                if not isinstance(value, int) or isinstance(value, bool) or value < -1:
                    raise ConfigError(
                        f"{source}: [tool.vibefix.engine-pool] {key} must be an integer"
                        " (-1 or more)"
                    )
            else:
                raise ConfigError(
                    f"{source}: unknown key {key!r} in [tool.vibefix.engine-pool] (known:"
                    " max-overflow, pool-pre-ping, pool-recycle, pool-size)"
                )
    http = options.get("requests-to-httpx")
    if http is not None:
        unknown = sorted(set(http) - {"backend"})
        if unknown:
            raise ConfigError(
                f"{source}: unknown key {unknown[0]!r} in [tool.vibefix.requests-to-httpx]"
                " (known: backend)"
            )
        backends = ("aiohttp", "httpx2", "httpx", "httpx-aiohttp")
        if "backend" in http and http["backend"] not in backends:
            raise ConfigError(
                f"{source}: [tool.vibefix.requests-to-httpx] backend must be one of"
                f" {', '.join(backends)}, not {http.get('backend')!r}"
            )
    return Config(root=source.parent.resolve(), source=source, options=options, **values)
