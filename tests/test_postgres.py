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


PG_PROJECT = {
    "app/__init__.py": "",
    "app/database.py": (
        "import os\n\nfrom sqlalchemy import create_engine\n"
        "from sqlalchemy.orm import declarative_base, sessionmaker\n\n"
        'engine = create_engine(os.environ["DATABASE_URL"])\n'
        "SessionLocal = sessionmaker(bind=engine)\nBase = declarative_base()\n\n\n"
        "def get_db():\n    db = SessionLocal()\n    try:\n        yield db\n"
        "    finally:\n        db.close()\n"
    ),
    "app/models.py": (
        "from sqlalchemy import Column, Integer, String\n\nfrom app.database import Base\n\n\n"
        'class Item(Base):\n    __tablename__ = "items"\n'
        "    id = Column(Integer, primary_key=True)\n    name = Column(String)\n"
    ),
    "app/main.py": (
        "from fastapi import Depends, FastAPI\nfrom sqlalchemy.orm import Session\n\n"
        "from app.database import get_db\nfrom app.models import Item\n\napp = FastAPI()\n\n\n"
        '@app.post("/items")\ndef create_item(name: str, db: Session = Depends(get_db)):\n'
        "    db.add(Item(name=name))\n    db.commit()\n    return {'ok': True}\n\n\n"
        '@app.get("/items")\ndef list_items(db: Session = Depends(get_db)):\n'
        "    return [i.name for i in db.query(Item).all()]\n"
    ),
    "tests/__init__.py": "",
    "tests/conftest.py": (
        "import os\n\nimport pytest\nfrom fastapi.testclient import TestClient\n"
        "from sqlalchemy import create_engine\nfrom sqlalchemy.orm import sessionmaker\n\n"
        "from app.database import Base, get_db\nfrom app.main import app\n\n"
        'engine = create_engine(os.environ["TEST_DATABASE_URL"])\n'
        "TestingSession = sessionmaker(engine)\n\n\n"
        "@pytest.fixture\ndef setup_db():\n    Base.metadata.create_all(bind=engine)\n"
        "    yield\n    Base.metadata.drop_all(bind=engine)\n\n\n"
        "@pytest.fixture\ndef client(setup_db):\n    def override_get_db():\n"
        "        with TestingSession() as session:\n            yield session\n\n"
        "    app.dependency_overrides[get_db] = override_get_db\n"
        "    with TestClient(app) as c:\n        yield c\n    app.dependency_overrides.clear()\n"
    ),
    "tests/test_items.py": (
        "def test_create_and_list(client):\n"
        '    assert client.post("/items", params={"name": "a"}).status_code == 200\n'
        '    assert client.get("/items").json() == ["a"]\n\n\n'
        "def test_list_empty(client):\n"
        '    assert client.get("/items").json() == []\n'
    ),
}


@pytest.mark.parametrize("entered", [True, False], ids=["with-client", "bare-client"])
def test_a_test_suite_on_its_own_postgresql_engine_runs_after_the_move(
    tmp_path: Path, run_vibefix: RunVibefix, postgres: Server, entered: bool
):
    # held-out round 10 (auth_service, sona, cost): the fixture's `create_all` ran on
    # an event loop of its own (`_run_sync`), and its pooled asyncpg connection was used
    # after from TestClient's loop ("attached to a different loop"); a TestClient no
    # `with` enters runs each request on a loop of its own. The suite's engine on a
    # server gets `NullPool`.
    files = dict(PG_PROJECT)
    if not entered:
        files["tests/conftest.py"] = files["tests/conftest.py"].replace(
            "    with TestClient(app) as c:\n        yield c\n", "    yield TestClient(app)\n"
        )
        assert files["tests/conftest.py"] != PG_PROJECT["tests/conftest.py"]
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "DATABASE_URL": _sync(postgres.create_database(f"pool_app_{entered}")),
        "TEST_DATABASE_URL": _sync(postgres.create_database(f"pool_tests_{entered}")),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    before = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert "2 passed" in before.stdout, before.stdout + before.stderr

    run_vibefix("apply", "--recipe", "async-db", "--unsafe", ".", cwd=tmp_path)

    conftest = (tmp_path / "tests" / "conftest.py").read_text(encoding="utf-8")
    assert "poolclass=NullPool)" in conftest, conftest
    after = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert "2 passed" in after.stdout, after.stdout + after.stderr


def test_a_bare_test_client_on_the_apps_postgresql_engine_runs_after_the_move(
    tmp_path: Path, run_vibefix: RunVibefix, postgres: Server
):
    # held-out round 11 (blog): the app's pooled asyncpg engine, tables made at the
    # test module's import, and a `TestClient` no `with` enters: each request ran on an
    # event loop of its own ("attached to a different loop"). The client is entered.
    files = {name: text for name, text in PG_PROJECT.items() if name != "tests/conftest.py"}
    files["tests/test_items.py"] = (
        "from fastapi.testclient import TestClient\n\n"
        "from app.database import Base, engine\nfrom app.main import app\n\n"
        "Base.metadata.drop_all(bind=engine)\nBase.metadata.create_all(bind=engine)\n\n"
        "client = TestClient(app)\n\n\n"
        "def test_create_and_list():\n"
        '    assert client.post("/items", params={"name": "a"}).status_code == 200\n'
        '    assert client.post("/items", params={"name": "b"}).status_code == 200\n'
        '    assert client.get("/items").json() == ["a", "b"]\n'
    )
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "DATABASE_URL": _sync(postgres.create_database("bare_client")),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    before = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert "1 passed" in before.stdout, before.stdout + before.stderr

    run_vibefix("apply", "--recipe", "async-db", "--unsafe", ".", cwd=tmp_path)

    tests = (tmp_path / "tests" / "test_items.py").read_text(encoding="utf-8")
    assert "    with client:\n        yield\n" in tests, tests
    after = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert "1 passed" in after.stdout, after.stdout + after.stderr
