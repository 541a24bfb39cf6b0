"""Where the project's module names start, as Python finds its modules.

A file's dotted name is the one the project's own imports use: it is computed against
the nearest *source root* that holds the file (a folder on ``sys.path`` when the app
runs), and every folder between that root and the file is a package, regular or
namespace. The roots are the project's root; the folders its configuration puts on the
path (setuptools' ``where`` and ``package-dir``, pytest's ``pythonpath``, mypy's
``mypy_path``, Poetry's and Hatch's packages); ``src/`` by convention, unless the
project imports ``src.x``; and the folders under which its own absolute imports resolve
(``from routers import users`` in an app run as ``uvicorn main:app`` from ``app/``:
``app/`` is a root). The engine finds them once a run, from the import lines alone.

A module beside a package of the same name (``app/utils.py`` and
``app/utils/__init__.py``) is never imported: Python takes the package (``shadowed``).
"""

from __future__ import annotations

import configparser
import contextlib
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from libcst.helpers import calculate_module_and_package

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}
_IMPORT = re.compile(
    rb"(?m)^[ \t]*(?:from[ \t]+([A-Za-z_][\w.]*)[ \t]+import|import[ \t]+([A-Za-z_][\w.]*))"
)
"""The module of an absolute import statement that starts a line (the first one of
``import a, b``); relative imports name no root."""

Parts = tuple[str, ...]


@dataclass(frozen=True, order=True)
class Root:
    """A folder on ``sys.path``, or one that is the package ``prefix``
    (``package-dir = {"vibefix.codemods" = "codemods"}``)."""

    folder: Path
    prefix: str = ""


def module_name(
    path: Path, project: Path | None = None, roots: Iterable[Root] = ()
) -> tuple[str, str]:
    """The dotted module name and package of ``path``. Inside ``project``: from the
    nearest of ``roots`` (or the project's root) that holds it. Outside: from its
    folders up to the first one without an ``__init__.py`` (a loose script, a package)."""
    path = path.resolve()
    if project is None or project not in path.parents:
        top = path.parent
        while (top / "__init__.py").is_file() and top.parent != top:
            top = top.parent
        result = calculate_module_and_package(str(top), str(path))
        return result.name, result.package
    root = Root(project)
    for candidate in roots:
        if candidate.folder in path.parents and len(candidate.folder.parts) > len(
            root.folder.parts
        ):
            root = candidate
    result = calculate_module_and_package(str(root.folder), str(path))
    name, package = result.name, result.package
    if root.prefix:
        name = ".".join(part for part in (root.prefix, name) if part)
        package = ".".join(part for part in (root.prefix, package) if part)
    return name, package


def shadowed(path: Path) -> Path | None:
    """The package that hides the module ``path`` from every import (``app/utils/``
    for ``app/utils.py``: a regular package wins over a module of the same name)."""
    if path.suffix != ".py" or path.stem == "__init__":
        return None
    package = path.with_suffix("")
    return package if os.path.isfile(package / "__init__.py") else None


def source_roots(project: Path, files: Mapping[Path, bytes]) -> tuple[Root, ...]:
    """The project's source roots besides its own root (see the module docstring), from
    its configuration and from the absolute imports in ``files`` (its Python files)."""
    configured = [root for root in _configured(project) if root.folder != project]
    tree = _Tree(project, files)
    imports = [
        (importer, tuple(dotted.decode("ascii").split(".")))
        for importer, data in tree.texts.items()
        for match in _IMPORT.finditer(data)
        if (dotted := match.group(1) or match.group(2))
    ]
    fixed = [*configured, Root(project)]
    if (
        ("src",) in tree.dirs
        and ("src", "__init__") not in tree.modules
        and not any(parts[0] == "src" for _, parts in imports)
    ):
        fixed.append(Root(project / "src"))
    found = tree.voted(imports, [root for root in fixed if not root.prefix])
    return tuple(sorted(set(fixed + found) - {Root(project)}))


class _Tree:
    """The project's Python files and folders, as parts relative to its root."""

    def __init__(self, project: Path, files: Mapping[Path, bytes]) -> None:
        self.project = project
        self.texts: dict[Parts, bytes] = {}
        self.dirs: set[Parts] = set()
        self.modules: set[Parts] = set()
        self.by_name: dict[str, set[Parts]] = {}
        """The folders that hold a package or module of each name."""
        for path, data in files.items():
            absolute = Path(os.path.abspath(path))
            with contextlib.suppress(ValueError):
                parts = absolute.relative_to(project).parts
                if not parts or not parts[-1].endswith(".py"):
                    continue
                self.texts[parts] = data
                self.modules.add((*parts[:-1], parts[-1][:-3]))
                self.dirs.update(parts[:end] for end in range(1, len(parts)))
        for parts in self.dirs | self.modules:
            if parts[-1] != "__init__":
                self.by_name.setdefault(parts[-1], set()).add(parts[:-1])

    def exists(self, parts: Parts) -> bool:
        return parts in self.dirs or parts in self.modules

    def voted(self, imports: list[tuple[Parts, Parts]], fixed: list[Root]) -> list[Root]:
        """The folders under which the imports that no fixed root resolves do resolve:
        for each, the nearest such folder above the importing file, else the one most of
        these imports choose. A folder becomes a root only if more imports resolve under
        it than resolve, through the fixed roots, to a file inside it (a root renames
        its files)."""
        bases = [root.folder.relative_to(self.project).parts for root in fixed]
        pending: list[tuple[Parts, list[Parts]]] = []
        inside: Counter[Parts] = Counter()
        resolved: list[Parts] = []
        for importer, dotted in imports:
            if dotted[0] in _STDLIB:
                continue
            reached = [base + dotted for base in bases if self.exists(base + dotted[:1])]
            if reached:
                resolved.extend(reached)
                continue
            candidates = sorted(self.by_name.get(dotted[0], ()))
            if not candidates:
                continue
            full = [c for c in candidates if self.exists(c + dotted)]
            pool = full or candidates
            above = [c for c in pool if importer[: len(c)] == c]
            pending.append((importer, [max(above, key=len)] if above else pool))
        tally = Counter(c for _, pool in pending for c in pool)
        votes: Counter[Parts] = Counter(
            min(pool, key=lambda c: (-tally[c], len(c), c)) for _, pool in pending
        )
        for target in resolved:
            for end in range(1, len(target)):
                if target[:end] in votes:
                    inside[target[:end]] += 1
        return [
            Root(self.project.joinpath(*folder))
            for folder, count in sorted(votes.items())
            if count > inside[folder]
        ]


def _configured(project: Path) -> list[Root]:
    """The source roots that the project's configuration files name."""
    found: list[Root] = []
    pyproject = _toml(project / "pyproject.toml")
    tool = _table(pyproject, "tool")
    setuptools = _table(tool, "setuptools")
    found += _folders(project, _table(_table(setuptools, "packages"), "find").get("where"))
    package_dir = setuptools.get("package-dir")
    if isinstance(package_dir, dict):
        found += _package_dir(project, package_dir.items())
    found += _folders(project, _table(_table(tool, "pytest"), "ini_options").get("pythonpath"))
    found += _folders(project, _paths(_table(tool, "mypy").get("mypy_path")))
    packages = _table(tool, "poetry").get("packages")
    for entry in packages if isinstance(packages, list) else ():
        if isinstance(entry, dict) and isinstance(entry.get("from"), str):
            found += _folders(project, entry["from"])
    hatch = _table(_table(tool, "hatch"), "build")
    for table in (hatch, _table(_table(hatch, "targets"), "wheel")):
        listed = table.get("packages")
        for entry in listed if isinstance(listed, list) else ():
            if isinstance(entry, str):
                found += _folders(project, os.path.dirname(entry.rstrip("/")) or ".")
    ini: dict[str, configparser.ConfigParser] = {}
    for name, section, key in (
        ("setup.cfg", "options.packages.find", "where"),
        ("setup.cfg", "tool:pytest", "pythonpath"),
        ("setup.cfg", "mypy", "mypy_path"),
        ("pytest.ini", "pytest", "pythonpath"),
        ("tox.ini", "pytest", "pythonpath"),
        ("mypy.ini", "mypy", "mypy_path"),
    ):
        value = _ini(ini, project / name, section, key)
        if value is not None:
            found += _folders(project, _paths(value))
    package_dirs = _ini(ini, project / "setup.cfg", "options", "package_dir")
    if package_dirs is not None:
        pairs = (line.partition("=") for line in package_dirs.splitlines() if "=" in line)
        found += _package_dir(project, ((name.strip(), where.strip()) for name, _, where in pairs))
    return found


def _package_dir(project: Path, items: Iterable[tuple[Any, Any]]) -> list[Root]:
    return [
        Root(folder, str(name))
        for name, where in items
        if isinstance(name, str) and isinstance(where, str)
        for folder in _existing(project, where)
    ]


def _folders(project: Path, value: object) -> list[Root]:
    listed = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [
        Root(folder)
        for entry in listed
        if isinstance(entry, str)
        for part in entry.split()
        for folder in _existing(project, part)
    ]


def _existing(project: Path, where: str) -> list[Path]:
    where = where.replace("$MYPY_CONFIG_FILE_DIR", ".").strip()
    folder = Path(os.path.normpath(project / where))
    inside = folder == project or project in folder.parents
    return [folder] if inside and folder.is_dir() else []


def _paths(value: object) -> object:
    """mypy's path list: one string, separated by commas or colons."""
    return re.split(r"[,:]\s*", value) if isinstance(value, str) else value


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _ini(
    read: dict[str, configparser.ConfigParser], path: Path, section: str, key: str
) -> str | None:
    """``key`` of ``section`` in the INI file ``path`` (each file read once: ``read``)."""
    parser = read.get(path.name)
    if parser is None:
        parser = read[path.name] = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            parser.clear()
    return parser.get(section, key, fallback=None)
