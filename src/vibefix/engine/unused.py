"""Modules of an application that nothing runs: neither imported nor started.

An application's code runs from its entry points (the module that makes the ``FastAPI``
app, scripts, tests, migrations) and from what they import. A module that no other file
of the project names, that makes no app and runs nothing at import (only imports,
definitions and assignments: a library module), is never loaded: a stale copy
(``_base_router.py`` beside the ``base_router/`` package the routers import), an
abandoned draft. Its blocking calls block nothing, so reporting them is noise, and
rewriting them is a diff nobody needs.

The judgement is conservative, because a live module taken for dead is a miss:

- only in an *application*: some file of the project makes a ``FastAPI`` app at module
  level. A library's modules are imported by its users, whatever it imports itself;
- a module is *named* when its stem is a word of another file of the project, Python or
  not (the root's and its subfolders' ``Dockerfile``, ``Procfile``, TOML, YAML, INI,
  shell and JSON files, and ``.github/workflows``): an import, a string
  (``"app.workers.jobs:main"``, ``uvicorn.run("server:app")``), even a comment;
- nothing is judged when the project imports modules by computed names
  (``importlib.import_module(name)``, ``pkgutil.iter_modules``, ``runpy``): any module may
  be loaded that way;
- packages' ``__init__``, ``__main__``, tests, ``conftest``, migrations and the files
  tools load by name are entry points, never dead; so is a module given by name on the
  command line.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

_APP = re.compile(
    rb"^(?:[A-Za-z_]\w*\s*(?::[^=\n]*)?=|[ \t]+return)\s*(?:[A-Za-z_][\w.]*\.)?FastAPI\(", re.M
)
"""A FastAPI app made at module level (``app = FastAPI(``, ``app: FastAPI =
fastapi.FastAPI(``) or returned by a factory (``return FastAPI(``)."""

_DYNAMIC = re.compile(
    rb"import_module\(\s*[^\s'\")]|__import__\(\s*[^\s'\")]"
    rb"|\b(?:iter_modules|walk_packages|spec_from_file_location|run_path|run_module"
    rb"|load_source|load_module|autodiscover_tasks)\("
)
"""An import by a computed name: any module may be loaded that way."""

_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")

_ENTRY_FILES = frozenset(
    {
        "__init__",
        "__main__",
        "conftest",
        "setup",
        "manage",
        "noxfile",
        "fabfile",
        "tasks",
        "env",
        "wsgi",
        "asgi",
    }
)
"""Stems of files a tool or the interpreter loads by path or by convention."""

_ENTRY_FOLDERS = frozenset({"tests", "test", "migrations", "alembic", "versions"})

_CONFIG_NAMES = frozenset({"dockerfile", "procfile", "makefile", "justfile"})
_CONFIG_SUFFIXES = frozenset(
    {".toml", ".cfg", ".ini", ".yml", ".yaml", ".json", ".sh", ".env", ".conf", ".service"}
)

REASON = (
    "dead code: no file of the project names this module and it is no entry point (it"
    " makes no app and has no `__main__` block), so nothing runs it and its blocking calls"
    " block nothing: not analysed for them"
)


def unimported(
    texts: Mapping[Path, bytes], project: Path, explicit: Iterable[Path] = ()
) -> dict[Path, str]:
    """The modules of ``texts`` (every Python file of the project, by path) that nothing
    runs (see the module docstring), each with why; ``explicit``: files given by name,
    never dead."""
    if not any(_APP.search(data) for data in texts.values()):
        return {}
    if any(_DYNAMIC.search(data) for data in texts.values()):
        return {}
    words: dict[Path, frozenset[bytes]] = {}
    files_with: Counter[bytes] = Counter()
    for path, data in texts.items():
        found = frozenset(_WORD.findall(data))
        words[path] = found
        files_with.update(found)
    for data in _configuration(project):
        files_with.update(frozenset(_WORD.findall(data)))
    given = {path.resolve() for path in explicit}
    dead: dict[Path, str] = {}
    for path, data in texts.items():
        stem = path.stem.encode()
        if files_with[stem] - (stem in words[path]) > 0 or _entry(path):
            continue
        if path.resolve() in given or not _library(data):
            continue
        dead[path] = REASON
    return dead


def _entry(path: Path) -> bool:
    stem = path.stem
    return (
        path.suffix != ".py"
        or stem in _ENTRY_FILES
        or stem.startswith("test_")
        or stem.endswith(("_test", "_tests", ".conf", "_conf", "config"))
        or any(part in _ENTRY_FOLDERS for part in path.parent.parts)
    )


def _library(data: bytes) -> bool:
    """Whether the module only defines (imports, functions, classes, assignments and
    docstrings at its top level; no app made, no ``__main__`` block): loading it runs
    nothing but its definitions. A file Python cannot parse is not judged."""
    try:
        module = ast.parse(data)
    except (SyntaxError, ValueError):
        return False
    return all(_defines(statement) for statement in module.body)


def _defines(statement: ast.stmt) -> bool:
    if isinstance(
        statement,
        ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
    ):
        return True
    if isinstance(statement, ast.Expr):
        return isinstance(statement.value, ast.Constant)
    if isinstance(statement, ast.Assign | ast.AnnAssign):
        return statement.value is None or not _makes_app(statement.value)
    if isinstance(statement, ast.If):
        # ``if TYPE_CHECKING:`` and version checks; ``if __name__ == "__main__":`` runs.
        test = ast.unparse(statement.test)
        return "__name__" not in test and all(
            _defines(inner) for inner in [*statement.body, *statement.orelse]
        )
    if isinstance(statement, ast.Try):
        return all(
            _defines(inner)
            for inner in [
                *statement.body,
                *statement.orelse,
                *statement.finalbody,
                *(line for handler in statement.handlers for line in handler.body),
            ]
        )
    return isinstance(statement, ast.Pass)


def _makes_app(value: ast.expr) -> bool:
    return any(
        isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == "FastAPI")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "FastAPI")
        )
        for node in ast.walk(value)
    )


def _configuration(project: Path) -> list[bytes]:
    """The text of the project's non-Python files that may name a module: those of the
    root and of its direct subfolders, and the CI workflows."""
    folders = [project]
    try:
        folders += [
            path
            for path in project.iterdir()
            if path.is_dir() and not path.name.startswith(".") and path.name != "node_modules"
        ]
    except OSError:
        return []
    folders.append(project / ".github" / "workflows")
    found: list[bytes] = []
    for folder in folders:
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for path in entries:
            name = path.name.lower()
            if not (
                name.split(".")[0] in _CONFIG_NAMES
                or path.suffix.lower() in _CONFIG_SUFFIXES
                or name.startswith(("dockerfile", "docker-compose", ".env"))
            ):
                continue
            try:
                if path.is_file() and path.stat().st_size <= 1_000_000:
                    found.append(path.read_bytes())
            except OSError:
                continue
    return found
