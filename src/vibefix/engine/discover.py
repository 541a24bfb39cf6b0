"""Finding the Python files to look at, and the cheap text prefilter that comes next.

Walks the given paths honouring every ``.gitignore`` on the way (and ``.git/info/exclude``),
the configuration's include and exclude globs, and skipping virtual environments and build
folders. A file or folder named explicitly on the command line is always taken, as in ruff.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pathspec

from vibefix.config import Config

SKIPPED_FOLDERS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        "build",
        "dist",
        "node_modules",
        "site-packages",
        ".eggs",
    }
)


def _is_virtualenv(folder: Path) -> bool:
    return (folder / "pyvenv.cfg").is_file()


def _read_ignore(path: Path) -> pathspec.GitIgnoreSpec | None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _git_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


class _Ignores:
    """The ignore files that apply while walking: each ``.gitignore`` anchored at its folder."""

    def __init__(self, top: Path) -> None:
        self._root = _git_root(top)
        self._chain: list[tuple[Path, pathspec.GitIgnoreSpec]] = []
        if self._root is None:
            return
        exclude = _read_ignore(self._root / ".git" / "info" / "exclude")
        if exclude is not None:
            self._chain.append((self._root, exclude))
        # The .gitignore files of the folders from the repository root down to ``top``'s
        # parent apply too; ``top``'s own is added when the walk enters it.
        for folder in reversed(top.parents):
            if folder == self._root or self._root in folder.parents:
                self._add(folder)
        if self.ignored(top, is_dir=True):
            # A folder named on the command line is searched even when an ignore file
            # above it excludes it (as a named file is taken); the rules inside it hold.
            del self._chain[:]

    def _add(self, folder: Path) -> None:
        spec = _read_ignore(folder / ".gitignore")
        if spec is not None:
            self._chain.append((folder, spec))

    def enter(self, folder: Path) -> int:
        """Add ``folder``'s own ``.gitignore``; return the mark to give to ``leave``."""
        mark = len(self._chain)
        if self._root is not None:
            self._add(folder)
        return mark

    def leave(self, mark: int) -> None:
        del self._chain[mark:]

    def ignored(self, path: Path, is_dir: bool) -> bool:
        for base, spec in self._chain:
            try:
                relative = path.relative_to(base).as_posix()
            except ValueError:
                continue
            if spec.match_file(relative + "/" if is_dir else relative):
                return True
        return False


def _globs(patterns: Sequence[str]) -> pathspec.GitIgnoreSpec | None:
    return pathspec.GitIgnoreSpec.from_lines(patterns) if patterns else None


def discover(paths: Sequence[Path], config: Config) -> list[Path]:
    """Every Python file under ``paths`` that the run should consider, sorted, no repeats."""
    include = _globs(config.include)
    exclude = _globs(config.exclude)

    def wanted(path: Path, is_dir: bool) -> bool:
        try:
            relative = path.resolve().relative_to(config.root).as_posix()
        except ValueError:
            return True
        if exclude is not None and exclude.match_file(relative + "/" if is_dir else relative):
            return False
        return is_dir or include is None or include.match_file(relative)

    found: set[Path] = set()
    for given in paths:
        if given.is_file():
            found.add(given)
            continue
        found.update(_walk(given, wanted))
    # A file reached twice (through a symlink, or named twice) is processed once.
    unique: dict[Path, Path] = {}
    for path in sorted(found):
        unique.setdefault(path.resolve(), own_name(path))
    return sorted(unique.values())


def own_name(path: Path) -> Path:
    """The name of the file that ``path`` is: a symlink's target (relative to the working
    folder when ``path`` is relative), else ``path``.

    Writing a symlinked file writes its target (the link stays a link), so that is the
    name under which it is processed and reported: what the report says changed is what
    changes on disk, and a file reached both through a link and by its own name is one
    file, whichever name sorts first. The ignore files and globs judge the target too."""
    if not path.is_symlink():
        return path
    target = path.resolve()
    return Path(os.path.relpath(target)) if not path.is_absolute() else target


def _walk(top: Path, wanted: Callable[[Path, bool], bool]) -> Iterator[Path]:
    ignores = _Ignores(top.resolve())

    def walk(folder: Path) -> Iterator[Path]:
        mark = ignores.enter(folder.resolve())
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            entries = []
        for entry in entries:
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                if entry.name in SKIPPED_FOLDERS or _is_virtualenv(path):
                    continue
                if not ignores.ignored(path.resolve(), True) and wanted(path, True):
                    yield from walk(path)
            elif (
                entry.name.endswith(".py")
                and entry.is_file()
                and not ignores.ignored(path.resolve(), False)
                and wanted(path, False)
            ):
                yield path
        ignores.leave(mark)

    yield from walk(top)
