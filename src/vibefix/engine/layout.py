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
    rb"\n(?:from[ \t]+(\.*)([A-Za-z_][\w.]*)?[ \t]+import|import[ \t]+([A-Za-z_][\w.]*))"
)
"""An import statement at module level (the first module of ``import a, b``): its dots
and its module. Only those at the start of a line, searched after a newline: a tenth of
the cost of looking at every line's indentation, and enough to tell where modules are."""

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
    for candidate in sorted(roots, key=lambda r: len(r.folder.parts)):
        # The deepest; one with a prefix wins over the project's. But a root that is a
        # package of another root (``backend/app`` under ``backend``, where one script
        # says ``import auth`` and the rest ``from app.auth import``) names its files as
        # that other root's package does.
        if candidate.folder not in path.parents:
            continue
        if (
            root.folder != project
            and not candidate.prefix
            and os.path.isfile(candidate.folder / "__init__.py")
            and _packages_between(root.folder, candidate.folder)
        ):
            continue
        root = candidate
    result = calculate_module_and_package(str(root.folder), str(path))
    name, package = result.name, result.package
    if root.prefix:
        name = ".".join(part for part in (root.prefix, name) if part)
        package = ".".join(part for part in (root.prefix, package) if part)
    return name, package


def other_names(path: Path, project: Path | None, roots: Iterable[Root] = ()) -> list[str]:
    """The names ``path`` is imported by besides ``module_name``'s: one for each other
    root that holds it, and the project's root (``utils.tg_bot`` for
    ``utils/tg_bot.py`` when ``utils/`` is a root too: the app imports it from the
    project's root, a script from its own folder)."""
    path = path.resolve()
    if project is None or project not in path.parents:
        return []
    chosen = module_name(path, project, roots)[0]
    names = []
    for root in (Root(project), *roots):
        if root.folder in path.parents:
            name = calculate_module_and_package(str(root.folder), str(path)).name
            name = ".".join(part for part in (root.prefix, name) if part)
            if name != chosen and name not in names:
                names.append(name)
    return names


def _packages_between(outer: Path, inner: Path) -> bool:
    """Whether every folder from ``outer`` (excluded) down to ``inner`` is a package."""
    folder = inner
    while folder != outer:
        if not os.path.isfile(folder / "__init__.py"):
            return False
        folder = folder.parent
    return True


def shadowed(path: Path) -> Path | None:
    """The package that hides the module ``path`` from every import (``app/utils/``
    for ``app/utils.py``: a regular package wins over a module of the same name)."""
    if path.suffix != ".py" or path.stem == "__init__":
        return None
    package = path.with_suffix("")
    return package if os.path.isfile(package / "__init__.py") else None


def source_roots(project: Path, files: Mapping[Path, bytes]) -> tuple[Root, ...]:
    """The project's source roots besides its own root (see the module docstring), from
    its configuration and from the module-level imports in ``files`` (its Python files)."""
    tree = _Tree(project, files)
    fixed = [root for root in _configured(project) if root.folder != project]
    firsts = {dotted[0] for _, dotted in tree.imports}
    if ("__init__",) in tree.modules and project.name in firsts:
        # The project's folder is itself a package, imported from the folder above.
        fixed.append(Root(project, project.name))
    if ("src",) in tree.dirs and ("src", "__init__") not in tree.modules and "src" not in firsts:
        fixed.append(Root(project / "src"))
    # A root that the project's own imports contradict (``pythonpath = ["src"]`` where
    # the code imports ``src.app``) would name its files as no import does: dropped.
    fixed = [root for root in fixed if root.prefix or tree.agrees(root.folder, project)]
    bases = [(), *(root.folder.relative_to(project).parts for root in fixed if not root.prefix)]
    folders = [project, *(project / top[0] for top in tree.dirs if len(top) == 1)]
    found = [Root(project.joinpath(*f)) for f in tree.voted(bases, _dependencies(folders))]
    return tuple(sorted(set(fixed + found)))


class _Tree:
    """The project's Python files and folders, as parts relative to its root, and the
    module-level imports of each file."""

    def __init__(self, project: Path, files: Mapping[Path, bytes]) -> None:
        self.dirs: set[Parts] = set()
        self.modules: set[Parts] = set()
        self.imports: list[tuple[Parts, Parts]] = []
        """(the importing module, the module it imports), for absolute imports."""
        self.relative: set[Parts] = set()
        """The folders that a relative import needs to be packages (never roots)."""
        # Strings, not paths: pathlib costs more here than reading the imports.
        cwd, inside = os.getcwd(), os.path.join(project, "")
        for path, data in files.items():
            absolute = os.path.normpath(os.path.join(cwd, path))
            if not absolute.startswith(inside):
                absolute = str(path.resolve())
            if not absolute.startswith(inside) or not absolute.endswith(".py"):
                continue
            parts = tuple(absolute[len(inside) :].split(os.sep))
            module = (*parts[:-1], parts[-1][:-3])
            self.modules.add(module)
            self.dirs.update(parts[:end] for end in range(1, len(parts)))
            up = 0
            for dots, named, imported in _IMPORT.findall(b"\n" + data):
                if dots:
                    up = max(up, len(dots))
                elif dotted := (named or imported).decode("ascii"):
                    self.imports.append((module, tuple(dotted.split("."))))
            # Its folder and as many above as the dots of its relative imports, less one.
            self.relative.update(parts[: len(parts) - k] for k in range(1, up + 1))
        self.by_name: dict[str, set[Parts]] = {}
        """The folders that hold a package or module of each name."""
        for parts in self.dirs | self.modules:
            if parts[-1] != "__init__":
                self.by_name.setdefault(parts[-1], set()).add(parts[:-1])

    def exists(self, parts: Parts) -> bool:
        return parts in self.dirs or parts in self.modules

    def agrees(self, folder: Path, project: Path) -> bool:
        """Whether at least as many imports resolve under ``folder`` as resolve, from
        the project's root, to a file inside it."""
        base = folder.relative_to(project).parts
        under = inside = 0
        for _, dotted in self.imports:
            if self.exists(base + dotted[:1]) and not self.exists(dotted[:1]):
                under += 1
            elif dotted[: len(base)] == base and len(dotted) > len(base):
                inside += 1
        return under >= inside

    def _own_package(self, importer: Parts, folder: Parts, name: str) -> bool:
        """Whether ``import name`` in ``importer`` names the package it is part of,
        inside the regular package ``folder`` (``import mysql`` in a dialect module
        ``pkg/dialects/mysql/x.py``): the library, as ``folder`` is no root but a package."""
        package = (*folder, name)
        return importer[: len(package)] == package and (*folder, "__init__") in self.modules

    def voted(self, bases: list[Parts], libraries: frozenset[str]) -> list[Parts]:
        """The folders under which the imports that no root in ``bases`` resolves do
        resolve, whole (those of the standard library and of ``libraries`` aside): for
        each import, the nearest such folder above the importing file, else the one most
        of these imports choose. A folder becomes a root only if more imports resolve
        under it than resolve, through ``bases``, to a file inside it (a root renames
        its files), and if none of its own modules imports relatively (a module directly
        in a root has no package)."""
        pending: list[list[Parts]] = []
        resolved: list[Parts] = []
        for importer, dotted in self.imports:
            if dotted[0] in _STDLIB or dotted[0].lower() in libraries:
                continue
            itself = importer[:-1] if importer[-1] == "__init__" else importer
            # Resolved only where the whole module is (a folder named like the package
            # above it, ``app/app/db.py``, resolves ``app.db`` under ``app/`` only).
            reached = [base + dotted for base in bases if self.exists(base + dotted)]
            if reached:
                resolved.extend(reached)
                continue
            pool = [
                folder
                for folder in sorted(self.by_name.get(dotted[0], ()))
                if self.exists(folder + dotted)
                and folder + dotted != itself  # ``import mypy`` in a plugin ``mypy.py``
                and folder not in self.relative
                and not self._own_package(importer, folder, dotted[0])
            ]
            above = [folder for folder in pool if importer[: len(folder)] == folder]
            if above:
                pending.append([max(above, key=len)])
            elif pool:
                pending.append(pool)
        tally = Counter(folder for pool in pending for folder in pool)
        votes = Counter(min(pool, key=lambda f: (-tally[f], len(f), f)) for pool in pending)
        inside: Counter[Parts] = Counter()
        for target in resolved:
            inside.update(target[:end] for end in range(1, len(target)) if target[:end] in votes)
        return [folder for folder, count in sorted(votes.items()) if count > inside[folder]]


_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _dependencies(folders: Iterable[Path]) -> frozenset[str]:
    """The distributions that the ``requirements*.txt`` and ``pyproject.toml`` of
    ``folders`` declare, as import names would spell them (``python_jose`` aside)."""
    found: list[str] = []
    for folder in folders:
        for path in folder.glob("requirements*.txt"):
            with contextlib.suppress(OSError, UnicodeDecodeError):
                lines = path.read_text(encoding="utf-8").splitlines()
                found += [m.group(1) for line in lines if (m := _REQUIREMENT.match(line))]
        pyproject = _toml(folder / "pyproject.toml")
        listed = _table(pyproject, "project").get("dependencies")
        for entry in listed if isinstance(listed, list) else ():
            if isinstance(entry, str) and (m := _REQUIREMENT.match(entry)):
                found.append(m.group(1))
        found += list(_table(_table(_table(pyproject, "tool"), "poetry"), "dependencies"))
    return frozenset(re.sub(r"[-.]", "_", name).lower() for name in found)


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
    with contextlib.suppress(OSError, UnicodeDecodeError):
        setup = (project / "setup.py").read_text(encoding="utf-8")
        found += _folders(project, [a or b for a, b in _SETUP_PY.findall(setup)])
    return found


_SETUP_PY = re.compile(
    r"""package_dir\s*=\s*\{\s*(?:""|'')\s*:\s*["']([^"']+)["']"""
    r"""|find(?:_namespace)?_packages\(\s*(?:where\s*=\s*)?["']([^"']+)["']"""
)
"""``package_dir={"": "src"}`` and ``find_packages("src")`` in a ``setup.py``."""


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
