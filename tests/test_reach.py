"""Whole-program reach (issue 15): every module async code reaches is read, whatever words
it holds, and every blocking call is reported at its own line with the way to it: in
JSON (``blocking``), SARIF (``codeFlows``) and text (``via ...``). Real projects on disk,
the real engine and, for the formats, the real command line."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.conftest import RunVibefix
from tests.test_async_project import DEFAULT, changed, run, write
from vibefix.config import Config
from vibefix.engine import run as engine
from vibefix.results import Status

# Three hops from the route to the file read, and no module but the last says `open`:
# no trigger word anywhere on the way.
LAYERED = {
    "pyproject.toml": "[project]\nname = 'shop'\n",
    "shop/__init__.py": "",
    "shop/routes.py": """\
        from fastapi import APIRouter

        from shop.services import Catalogue

        router = APIRouter()


        @router.get("/items")
        async def items():
            return Catalogue().listing()
        """,
    "shop/services.py": """\
        from shop import repo


        class Catalogue:
            def listing(self):
                return self.load()

            def load(self):
                return repo.read_items()
        """,
    "shop/repo.py": """\
        import json


        def read_items():
            with open("items.json") as f:
                return json.load(f)


        def unused():
            return open("other.json").read()
        """,
}


def test_a_blocking_call_three_modules_down_is_offloaded_where_async_code_makes_it(tmp_path):
    write(tmp_path, LAYERED)

    result = run(tmp_path, ".")

    files = changed(result, tmp_path)
    assert sorted(files) == ["shop/routes.py"]
    assert "return await run_in_threadpool(Catalogue().listing)" in files["shop/routes.py"]
    (edit,) = [e for f in result.files for e in f.edits if not e.import_only]
    assert edit.blocking is not None
    assert edit.blocking.call == "builtins.open"
    assert edit.blocking.kind == "file"
    assert [(s.path.name, s.line, s.function) for s in edit.blocking.chain] == [
        ("routes.py", 10, "items"),
        ("services.py", 6, "Catalogue.listing"),
        ("services.py", 9, "Catalogue.load"),
        ("repo.py", 5, "read_items"),
    ]


def test_code_no_async_function_reaches_is_left_alone(tmp_path):
    files = dict(LAYERED)
    files["shop/routes.py"] = files["shop/routes.py"].replace("async def", "def")
    write(tmp_path, files)

    result = run(tmp_path, ".")

    # A sync handler runs in FastAPI's thread pool: nothing to do, nothing to say.
    assert changed(result, tmp_path) == {}
    assert result.findings == []


def test_what_a_route_module_reaches_is_read_even_when_the_route_module_says_nothing(tmp_path):
    # Before issue 15 a module with no trigger word was never read: the same call was
    # rewritten or not depending on an unrelated import.
    with_import = dict(LAYERED)
    routes = textwrap.dedent(LAYERED["shop/routes.py"])
    with_import["shop/routes.py"] = "import subprocess  # unused\n" + routes
    plain, other = tmp_path / "plain", tmp_path / "other"
    write(plain, LAYERED)
    write(other, with_import)

    plain_text = changed(run(plain, "."), plain)["shop/routes.py"]
    imported = changed(run(other, "."), other)["shop/routes.py"]

    assert imported == "import subprocess  # unused\n" + plain_text


def test_each_blocking_call_of_an_async_def_is_reported_at_its_own_line_once(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "app.py": """\
                import sqlite3

                from fastapi import FastAPI

                app = FastAPI()


                @app.get("/count")
                async def count(conn: sqlite3.Connection):
                    cursor = conn.cursor()
                    cursor.execute("select count(*) from users")
                    row = cursor.fetchone()
                    conn.execute("select 1").fetchone()
                    return row
                """,
        },
    )

    result = run(tmp_path, ".")

    lines = [(f.position.line, f.blocking.call if f.blocking else "") for f in result.findings]
    # The cursor is made without I/O; a chain of calls on one line is one problem.
    assert lines == [
        (11, "sqlite3.Connection().cursor().execute"),
        (12, "sqlite3.Connection().cursor().fetchone"),
        (13, "sqlite3.Connection().execute().fetchone"),
    ]
    assert {f.blocking.kind for f in result.findings if f.blocking} == {"db"}


def test_a_blocking_call_reached_from_async_code_outside_the_paths_is_reported_once(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "routes.py": """\
                from fastapi import FastAPI

                from helpers import load, load_twice

                app = FastAPI()


                @app.get("/a")
                async def a():
                    return load(), load_twice()
                """,
            "helpers.py": """\
                import subprocess


                def load():
                    return subprocess.check_output(["ls"])


                def load_twice():
                    return load() + load()
                """,
        },
    )

    result = run(tmp_path, "helpers.py")

    # routes.py is outside the paths given: nothing is rewritten, and the helper's call
    # is reported where it is, once, by the shortest way.
    assert changed(result, tmp_path) == {}
    (finding,) = result.findings
    assert (finding.path.name, finding.position.line) == ("helpers.py", 5)
    assert finding.blocking is not None
    assert [s.function for s in finding.blocking.chain] == ["a", "load"]


def test_a_blocking_call_whose_codemod_is_ignored_is_not_reported(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "app.py": """\
                import time


                async def handler():
                    time.sleep(1)
                """,
        },
    )
    sleepless = tuple(codemod for codemod in DEFAULT if codemod.code != "VF100")
    ignored = engine.Options(Config(root=tmp_path, ignore=("VF100",)), sleepless, 1)
    unselected = engine.Options(Config(root=tmp_path), sleepless, 1)

    assert engine.run([tmp_path], ignored).findings == []
    (finding,) = engine.run([tmp_path], unselected).findings
    assert "VF100 rewrites it to its async twin when it is selected" in finding.message


def test_a_query_only_built_is_not_reported_but_what_runs_it_is(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "app.py": """\
                from fastapi import Depends, FastAPI
                from sqlalchemy.orm import Session

                app = FastAPI()


                @app.get("/a")
                async def a(db: Session = Depends()):
                    query = db.query(int)
                    query = query.filter(1 == 1)
                    return query.all()
                """,
        },
    )

    result = run(tmp_path, ".")

    assert [f.position.line for f in result.findings] == [11]


def test_a_response_s_status_and_decoded_body_are_not_blocking(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "app.py": """\
                import urllib.request


                async def fetch(url):
                    response = urllib.request.urlopen(url)
                    if response.getcode() == 200:
                        body = response.read()
                        return body.decode("utf-8")
                """,
        },
    )

    result = run(tmp_path, ".")

    # The request, whose response blocks in turn, and reading the body from the socket
    # are reported; its status and decoding the bytes read are not.
    assert [f.position.line for f in result.findings] == [5, 7]
    assert all(f.status is not Status.FAILED for f in result.files)


@pytest.mark.once
def test_json_sarif_and_text_carry_the_chain(tmp_path, run_vibefix: RunVibefix):
    write(tmp_path, LAYERED)

    text = run_vibefix("check", ".", "--no-cache", cwd=tmp_path)
    as_json = json.loads(
        run_vibefix("check", ".", "--no-cache", "--output-format", "json", cwd=tmp_path).stdout
    )
    sarif = json.loads(
        run_vibefix("check", ".", "--no-cache", "--output-format", "sarif", cwd=tmp_path).stdout
    )

    assert (
        "shop/routes.py:10:12: VF102 a blocking call in async code: run it in a thread (via"
        " items() -> Catalogue.listing() -> Catalogue.load() -> read_items(): `open` at"
        " shop/repo.py:5)"
    ) in text.stderr
    (edit,) = [e for f in as_json["files"] for e in f["edits"] if "blocking" in e]
    assert edit["blocking"]["call"] == "builtins.open"
    assert edit["blocking"]["kind"] == "file"
    assert [(s["path"], s["line"], s["function"]) for s in edit["blocking"]["chain"]] == [
        ("shop/routes.py", 10, "items"),
        ("shop/services.py", 6, "Catalogue.listing"),
        ("shop/services.py", 9, "Catalogue.load"),
        ("shop/repo.py", 5, "read_items"),
    ]
    (result,) = [r for r in sarif["runs"][0]["results"] if "codeFlows" in r]
    steps = result["codeFlows"][0]["threadFlows"][0]["locations"]
    where = [
        (
            s["location"]["physicalLocation"]["artifactLocation"]["uri"],
            s["location"]["physicalLocation"]["region"]["startLine"],
        )
        for s in steps
    ]
    assert where == [
        ("shop/routes.py", 10),
        ("shop/services.py", 6),
        ("shop/services.py", 9),
        ("shop/repo.py", 5),
    ]
    assert steps[-1]["location"]["message"]["text"] == "`builtins.open` blocks (file)"


def test_a_folder_with_no_project_marker_is_the_project(tmp_path):
    # An exported tree (no .git, no pyproject.toml): `backend/` is found as the source
    # root from the project's own imports, so `app.services` is this project's module.
    files = {
        "backend/app/__init__.py": "",
        "backend/app/api.py": """\
            from fastapi import FastAPI

            from app.services import slow

            app = FastAPI()


            @app.get("/")
            async def home():
                return slow()
            """,
        "backend/app/services.py": """\
            import subprocess


            def slow():
                return subprocess.check_output(["ls"])
            """,
    }
    write(tmp_path, files)

    result = run(tmp_path, ".")

    assert "await run_in_threadpool(slow)" in changed(result, tmp_path)["backend/app/api.py"]


def test_a_package_that_one_script_imports_as_a_root_keeps_its_package_name(tmp_path):
    # `backend/` is the source root (`from app.services import`); one script inside
    # `backend/app/` says `import auth`, which makes `backend/app` a root too. The
    # package's files keep the name the rest of the project imports them by.
    files = {
        "backend/requirements.txt": "fastapi\n",
        "backend/app/__init__.py": "",
        "backend/app/auth/__init__.py": "",
        "backend/app/make_user.py": "import auth\n",
        "backend/app/main.py": """\
            from fastapi import FastAPI

            from app.services import slow

            app = FastAPI()


            @app.get("/")
            async def home():
                return slow()
            """,
        "backend/app/services.py": """\
            import subprocess


            def slow():
                return subprocess.check_output(["ls"])
            """,
    }
    write(tmp_path, files)

    result = run(tmp_path, ".")

    assert "await run_in_threadpool(slow)" in changed(result, tmp_path)["backend/app/main.py"]


def test_a_module_imported_by_two_names_is_one_module(tmp_path):
    # The app imports `utils.db` from the project's root; the scripts in `utils/` and a
    # scheduler import `db` from there, which makes `utils/` a root too. Both names mean
    # the same file: what the app's route reaches through either is seen.
    files = {
        "requirements.txt": "fastapi\n",
        "app/api.py": """\
            from fastapi import FastAPI

            from utils.db import Database

            app = FastAPI()
            database = Database()


            @app.get("/")
            async def home():
                return database.count()
            """,
        "utils/db.py": """\
            import sqlite3


            class Database:
                def count(self):
                    return sqlite3.connect("app.db").execute("select 1").fetchone()
            """,
        "utils/loader.py": "from db import Database\n",
        "jobs/nightly.py": "from db import Database\n",
    }
    write(tmp_path, files)

    result = run(tmp_path, ".")

    (edit,) = [e for f in result.files for e in f.edits if e.blocking is not None]
    assert edit.blocking is not None
    assert [(s.path.name, s.function) for s in edit.blocking.chain] == [
        ("api.py", "home"),
        ("db.py", "Database.count"),
    ]


def test_two_routes_whose_functions_share_a_name_are_both_analysed(tmp_path):
    # Both are registered by their decorators, so both run, though the later one
    # replaces the earlier in the module's namespace.
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "app.py": """\
                import sqlite3

                from fastapi import FastAPI

                app = FastAPI()


                @app.get("/all")
                async def get_item(conn: sqlite3.Connection):
                    return conn.execute("select * from items").fetchall()


                @app.get("/{item_id}")
                async def get_item(conn: sqlite3.Connection, item_id: int):
                    return conn.execute("select * from items where id = ?", (item_id,)).fetchone()
                """,
        },
    )

    result = run(tmp_path, ".")

    assert [f.position.line for f in result.findings] == [10, 15]


def test_what_a_star_import_brings_is_reached(tmp_path):
    # `from .x import *` in a package's __init__, and in the route module itself.
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "app/__init__.py": "",
            "app/repository/__init__.py": "from .users import *\n",
            "app/repository/users.py": """\
                import subprocess


                class UserRepository:
                    def find(self):
                        return subprocess.check_output(["ls"])
                """,
            "app/pages.py": """\
                def page(name):
                    with open(name) as f:
                        return f.read()
                """,
            "app/routes.py": """\
                from fastapi import FastAPI

                from app.pages import *

                app = FastAPI()


                @app.get("/user")
                async def user():
                    from app.repository import UserRepository

                    return UserRepository().find()


                @app.get("/about")
                async def about():
                    return page("about.html")
                """,
        },
    )

    result = run(tmp_path, ".")

    routes = changed(result, tmp_path)["app/routes.py"]
    assert "return await run_in_threadpool(UserRepository().find)" in routes
    assert 'return await run_in_threadpool(page, "about.html")' in routes


CONNECTION_HELPER = {
    "pyproject.toml": "",
    "db.py": """\
        import psycopg2


        def get_conn():
            return psycopg2.connect("dbname=app")
        """,
    "app.py": """\
        from fastapi import FastAPI

        from db import get_conn

        app = FastAPI()


        @app.get("/n")
        async def count():
            conn = get_conn()
            cur = conn.cursor()
            cur.execute("select count(*) from users")
            return cur.fetchone()
        """,
}


def test_a_helper_whose_result_blocks_in_turn_is_not_offloaded_alone(tmp_path):
    # Offloading `get_conn()` would leave `execute` and `fetchone` on the loop and call
    # it fixed: nothing is rewritten, and each blocking use is reported.
    write(tmp_path, CONNECTION_HELPER)

    result = run(tmp_path, ".")

    assert changed(result, tmp_path) == {}
    assert [(f.position.line, f.blocking is not None) for f in result.findings] == [
        (10, True),
        (12, True),
        (13, True),
    ]


def test_a_helper_whose_result_does_not_block_is_offloaded(tmp_path):
    files = dict(CONNECTION_HELPER)
    files["db.py"] = """\
        import subprocess


        def get_conn():
            return subprocess.check_output(["ls"]).decode()
        """
    files["app.py"] = files["app.py"].replace(
        '    cur = conn.cursor()\n            cur.execute("select count(*) from users")\n'
        "            return cur.fetchone()\n",
        "    return conn.upper()\n",
    )
    write(tmp_path, files)

    result = run(tmp_path, ".")

    assert "conn = await run_in_threadpool(get_conn)" in changed(result, tmp_path)["app.py"]
    assert result.findings == []


@pytest.mark.once
def test_apply_counts_the_blocking_calls_left_on_the_loop(tmp_path, run_vibefix: RunVibefix):
    write(tmp_path, CONNECTION_HELPER)

    applied = run_vibefix("apply", ".", "--no-cache", cwd=tmp_path)
    as_json = run_vibefix("check", ".", "--no-cache", "--output-format", "json", cwd=tmp_path)

    assert applied.returncode == 1
    assert "3 blocking calls left on the event loop" in applied.stderr.splitlines()[-1]
    assert json.loads(as_json.stdout)["summary"]["blocking_left"] == 3


VALIDATED = {
    "pyproject.toml": "",
    "app/__init__.py": "",
    "app/schemas.py": """\
        import requests
        from pydantic import BaseModel, field_validator


        class Signup(BaseModel):
            website: str

            @field_validator("website")
            @classmethod
            def reachable(cls, value):
                requests.head(value, timeout=5)
                return value

            @field_validator("website")
            @classmethod
            def lower(cls, value):
                return value.lower()


        class Internal(BaseModel):
            url: str

            @field_validator("url")
            @classmethod
            def reachable(cls, value):
                requests.head(value, timeout=5)
                return value
        """,
    "app/main.py": """\
        from fastapi import FastAPI

        from app.schemas import Internal, Signup

        app = FastAPI()


        @app.post("/signup")
        async def signup(body: Signup):
            return {"ok": True}


        def nightly():
            return Internal(url="https://example.com")
        """,
}


def test_a_blocking_call_in_a_request_model_s_validator_is_reported(tmp_path):
    write(tmp_path, VALIDATED)

    result = run(tmp_path, ".")

    # The validator runs on the event loop while FastAPI reads the body; the model that
    # only a sync script builds, and the validator that does not block, are left alone.
    assert changed(result, tmp_path) == {}
    (finding,) = result.findings
    assert (finding.path.name, finding.position.line) == ("schemas.py", 11)
    assert "the validator `Signup.reachable` runs on it" in finding.message
    assert finding.blocking is not None
    assert [s.function for s in finding.blocking.chain] == ["signup", "Signup.reachable"]
