"""The little vibefix needs from git: uncommitted changes, and files changed since a ref."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path


class GitError(Exception):
    """git could not answer; the message says what it printed."""


def _git(args: Sequence[str], cwd: Path) -> str | None:
    try:
        completed = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0:
        raise GitError(completed.stderr.strip() or f"git {' '.join(args)} failed")
    return completed.stdout


def toplevel(path: Path) -> Path | None:
    """The root of the git work tree holding ``path``, or None outside one."""
    folder = path if path.is_dir() else path.parent
    try:
        out = _git(["rev-parse", "--show-toplevel"], folder)
    except GitError:
        return None
    return Path(out.strip()) if out else None


def dirty(paths: Sequence[Path]) -> list[Path]:
    """Those of ``paths`` that have uncommitted changes (staged, unstaged or untracked)."""
    by_root: dict[Path, list[Path]] = {}
    for path in paths:
        root = toplevel(path.resolve())
        if root is not None:
            by_root.setdefault(root, []).append(path)
    found: list[Path] = []
    for root, members in sorted(by_root.items()):
        relative = [str(path.resolve().relative_to(root)) for path in members]
        out = _git(["status", "--porcelain", "-z", "--untracked-files=all", "--", *relative], root)
        listed = {
            (root / entry[3:]).resolve() for entry in (out or "").split("\0") if len(entry) > 3
        }
        found.extend(path for path in members if path.resolve() in listed)
    return sorted(found)


def changed_since(ref: str, start: Path) -> set[Path]:
    """Files changed between ``ref`` and the work tree, plus untracked ones."""
    root = toplevel(start.resolve())
    if root is None:
        raise GitError(f"--since {ref} needs a git work tree; {start} is not in one")
    try:
        diff = _git(["diff", "--name-only", "-z", ref, "--"], root) or ""
    except GitError as error:
        raise GitError(f"--since {ref}: {error}") from None
    untracked = _git(["ls-files", "--others", "--exclude-standard", "-z"], root) or ""
    names = [name for name in (diff + untracked).split("\0") if name]
    return {(root / name).resolve() for name in names}
