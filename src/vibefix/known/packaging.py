"""Where a Python project declares the Python it runs on and its dependencies."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path

DECLARATIONS = ("pyproject.toml", "setup.cfg", "setup.py", "requirements.txt")
"""The files a project declares its ``requires-python`` and its dependencies in."""


def declarations(folders: Iterable[Path]) -> dict[Path, bytes]:
    """The declaration files of ``folders`` and of every folder above them, by path."""
    seen: set[Path] = set()
    found: dict[Path, bytes] = {}
    for start in folders:
        for folder in (start, *start.parents):
            if folder in seen:
                break  # its parents are seen too
            seen.add(folder)
            for name in DECLARATIONS:
                path = folder / name
                with contextlib.suppress(OSError):
                    found[path] = path.read_bytes()
    return found
