"""Where a Python project declares the Python it runs on and its dependencies."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

DECLARATIONS = ("pyproject.toml", "setup.cfg", "setup.py", "requirements.txt")
"""The files a project declares its ``requires-python`` and its dependencies in."""


def pin(name: str, versions: str) -> re.Pattern[bytes]:
    """A declaration that holds distribution ``name`` to ``versions`` (a regular
    expression whose first group is what the message quotes): a requirement line or
    string (``fastapi==0.68.1``, ``"fastapi>=0.68,<0.69"`` in a PEP 621 list), or a
    Poetry table entry (``fastapi = "^0.68.1"``, ``fastapi = {version = "~0.68"}``)."""
    spelled = name.replace("_", "[-_]")
    versions += r"(?:\.[0-9a-z*]+)*"  # the rest of the version, as quoted
    return re.compile(
        rf"(?i)(?<![\w.-]){spelled}(?![\w.-])\s*(?:\[[^\]]*\])?"
        rf"(?:[^\n#\"']*?(?:==|~=|<=?)\s*{versions}"
        rf"|\s*=\s*(?:\{{[^}}\n]*?version\s*=\s*)?[\"']\s*(?:\^|~=?|==?|<=?)?\s*{versions})".encode()
    )


def pinned_version(found: re.Match[bytes]) -> str:
    """What a ``pin`` match holds the distribution to (its requirement's group, or its
    Poetry entry's)."""
    return next(group for group in found.groups() if group is not None).decode()


def pin_spelled(found: re.Match[bytes]) -> str:
    """A ``pin`` match as a message quotes it (``fastapi = ^0.68``)."""
    return re.sub(r"[\"'{]|version\s*=\s*", "", found.group(0).decode()).strip()


def declarations(folders: Iterable[Path]) -> dict[Path, bytes]:
    """The declaration files of ``folders`` and of every folder above them (symbolic
    links resolved, as ``Declarations.read`` does), by path."""
    seen: set[Path] = set()
    found: dict[Path, bytes] = {}
    for given in folders:
        start = given.resolve()
        for folder in (start, *start.parents):
            if folder in seen:
                break  # its parents are seen too
            seen.add(folder)
            for name in DECLARATIONS:
                path = folder / name
                with contextlib.suppress(OSError):
                    found[path] = path.read_bytes()
        if not any(path.parent in (start, *start.parents) for path in found):
            for path in _elsewhere(start):
                with contextlib.suppress(OSError):
                    found[path] = path.read_bytes()
    return found


SKIPPED = frozenset({"node_modules", "venv", "env", "site-packages", "__pycache__"})


def _elsewhere(start: Path, depth: int = 3) -> list[Path]:
    """The declaration files of the repository ``start`` is in (the nearest folder
    above with ``.git``) that are in none of its folders at or above ``start``: a
    project that keeps its ``requirements.txt`` beside its image (``docker/``,
    ``kubernetes/image/``), at most ``depth`` folders down. None outside a repository."""
    root = next((place for place in (start, *start.parents) if (place / ".git").exists()), None)
    if root is None:
        return []
    found: list[Path] = []
    pending = [(root, 0)]
    while pending:
        folder, level = pending.pop(0)
        with contextlib.suppress(OSError):
            for entry in sorted(folder.iterdir()):
                if entry.name in DECLARATIONS and entry.is_file():
                    found.append(entry)
                elif (
                    level < depth
                    and entry.is_dir()
                    and not entry.is_symlink()
                    and not entry.name.startswith(".")
                    and entry.name not in SKIPPED
                ):
                    pending.append((entry, level + 1))
    return found


@dataclass(frozen=True)
class Declarations:
    """What the project declares, read by the engine for the plan, which reads no file."""

    python: tuple[int, int] | None = None
    """The oldest Python the project says it runs on (``vibefix.config.declared_python``);
    None when it says nothing."""
    projects: Mapping[Path, Mapping[str, bytes]] = field(default_factory=dict)
    """For each folder of the index (spelled as the index spells it), the declaration
    files of the project it belongs to, by name: those of the nearest folder at or above
    it that has any."""

    @classmethod
    def read(cls, folders: Iterable[Path], python: tuple[int, int] | None) -> Declarations:
        """The declarations of the projects ``folders`` belong to (symbolic links
        resolved), and the ``python`` the project declares."""
        contents: dict[Path, dict[str, bytes]] = {}
        projects: dict[Path, dict[str, bytes]] = {}
        for folder in folders:
            start = folder.resolve()
            places = (start, *start.parents)
            projects[folder] = next(
                (files for place in places if (files := _files_in(place, contents))), {}
            ) or {
                path.relative_to(start.anchor).as_posix(): _utf8(data)
                for path in _elsewhere(start)
                for data in _read(path)
            }
        return cls(python, projects)

    @property
    def target(self) -> tuple[int, int]:
        """The oldest Python the project runs on: ``python``, else the Python that runs
        vibefix."""
        return self.python or (sys.version_info.major, sys.version_info.minor)

    def declares(self, folder: Path, dependency: re.Pattern[bytes]) -> bool:
        """Whether the project ``folder`` belongs to names ``dependency`` in a file that
        declares its dependencies."""
        return any(dependency.search(text) for text in self.projects.get(folder, {}).values())


def _files_in(folder: Path, contents: dict[Path, dict[str, bytes]]) -> dict[str, bytes]:
    """The declaration files of ``folder`` by name, read once (``contents``)."""
    if folder not in contents:
        found: dict[str, bytes] = {}
        for name in DECLARATIONS:
            with contextlib.suppress(OSError):
                found[name] = _utf8((folder / name).read_bytes())
        contents[folder] = found
    return contents[folder]


def _read(path: Path) -> list[bytes]:
    """What ``path`` holds; nothing when it cannot be read."""
    with contextlib.suppress(OSError):
        return [path.read_bytes()]
    return []


def _utf8(data: bytes) -> bytes:
    """``data`` as UTF-8: a file saved as UTF-16 (with its byte order mark, as Windows
    tools write ``requirements.txt``) is read as what it says."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        with contextlib.suppress(UnicodeDecodeError):
            return data.decode("utf-16").encode("utf-8")
    return data.removeprefix(b"\xef\xbb\xbf")
