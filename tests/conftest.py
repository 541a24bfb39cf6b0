"""Shared fixtures: the real CLI in a subprocess, small projects on disk, real git repos."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

_SCRIPT = Path(sys.executable).with_name("vibefix")
VIBEFIX = (
    [str(_SCRIPT)]
    if _SCRIPT.is_file()
    else [sys.executable, "-c", "from vibefix.cli import main; main()"]
)

SLEEPY = """\
import time


async def handler():
    time.sleep(1)
    return "ok"
"""
"""A file VF100 rewrites: its one change is on line 5, column 5."""

SLEEPY_FIXED = """\
import asyncio


async def handler():
    await asyncio.sleep(1)
    return "ok"
"""

CLEAN = """\
import asyncio


async def handler():
    await asyncio.sleep(1)
    return "ok"


def blocking_is_fine_here():
    import time

    time.sleep(1)
"""
"""A file VF100 leaves alone although it sleeps (in a sync def)."""

RunVibefix = Callable[..., subprocess.CompletedProcess[str]]
Git = Callable[..., str]


@pytest.fixture
def run_vibefix(tmp_path: Path) -> RunVibefix:
    """Run the installed ``vibefix`` CLI: ``run_vibefix("diff", ".", cwd=project)``."""

    def run(
        *args: str | Path,
        cwd: Path | None = None,
        input: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
        full_env.pop("FORCE_COLOR", None)
        full_env.update(env or {})
        return subprocess.run(
            [*VIBEFIX, *map(str, args)],
            cwd=cwd or tmp_path,
            input=input,
            env=full_env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
            check=False,
        )

    return run


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A small project (not in git): ``app.py`` needs VF100, ``clean.py`` does not."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "app.py").write_text(SLEEPY)
    (root / "clean.py").write_text(CLEAN)
    return root


@pytest.fixture
def clean_project(tmp_path: Path) -> Path:
    """A project with nothing for vibefix to do."""
    root = tmp_path / "clean_project"
    root.mkdir()
    (root / "clean.py").write_text(CLEAN)
    return root


@pytest.fixture
def git() -> Git:
    """Run git in a folder: ``git("commit", "-m", "x", cwd=repo)``; returns stdout."""

    def run(*args: str, cwd: Path) -> str:
        env = {
            **os.environ,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
        }
        completed = subprocess.run(
            ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
        assert completed.returncode == 0, completed.stderr
        return completed.stdout

    return run


@pytest.fixture
def git_project(project: Path, git: Git) -> Path:
    """``project`` as a git repository with everything committed."""
    git("init", "-q", "-b", "main", cwd=project)
    git("config", "user.name", "Test", cwd=project)
    git("config", "user.email", "test@example.com", cwd=project)
    git("config", "commit.gpgsign", "false", cwd=project)
    git("add", ".", cwd=project)
    git("commit", "-q", "-m", "initial", cwd=project)
    return project


EXAMPLE = Path(__file__).parents[1] / "examples" / "vibeshop"


@pytest.fixture
def vibeshop(tmp_path: Path) -> Path:
    """A copy of the example app."""
    copy = tmp_path / "vibeshop"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return copy
