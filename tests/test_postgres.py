"""The example app against a real PostgreSQL server (started here, on loopback): its own
tests pass before vibefix, after the default recipe (psycopg2) and after ``async-db``
(asyncpg), with blockbuster catching any blocking call on the event loop."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RunVibefix
from tests.postgres import Server, postgres_server
from tests.test_e2e import _example_tests


@pytest.fixture(scope="module")
def postgres() -> Iterator[Server]:
    with postgres_server() as server:
        yield server


def _sync(url: str) -> str:
    """``url`` on psycopg 3 (the default driver is psycopg2 in SQLAlchemy 2.0, psycopg
    in 2.1)."""
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _tests_on(folder: Path, url: str, blockbuster: bool = False) -> tuple[int, str]:
    env = {"VIBESHOP_DATABASE_URL": url}
    if blockbuster:
        env["VIBESHOP_BLOCKBUSTER"] = "1"
    done = _example_tests(folder, env)
    return done.returncode, done.stdout + done.stderr


def test_vibeshop_runs_on_postgresql_before_and_after_the_default_recipe(
    vibeshop: Path, run_vibefix: RunVibefix, postgres: Server
):
    code, output = _tests_on(vibeshop, _sync(postgres.create_database("before")))
    assert code == 0, output

    applied = run_vibefix("apply", ".", cwd=vibeshop)
    assert applied.returncode == 1, applied.stderr

    code, output = _tests_on(vibeshop, _sync(postgres.create_database("after_default")))
    assert code == 0, output


def test_vibeshop_after_async_db_runs_on_asyncpg_with_nothing_blocking_the_loop(
    vibeshop: Path, run_vibefix: RunVibefix, postgres: Server
):
    applied = run_vibefix("apply", "--recipe", "async-db", "--unsafe", ".", cwd=vibeshop)
    assert applied.returncode == 1, applied.stderr

    url = postgres.create_database("after_async_db")
    code, output = _tests_on(vibeshop, url, True)

    assert code == 0, output
    assert not re.search(r"BlockingError", output), output
    # The URL names no driver: the generated `_async_url` picks asyncpg.
    driver = subprocess.run(
        [sys.executable, "-c", "from app.database import engine; print(engine.url.drivername)"],
        cwd=vibeshop,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=True,
    )
    assert driver.stdout == "postgresql+asyncpg\n"
