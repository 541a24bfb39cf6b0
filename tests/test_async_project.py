"""Whole-program async decisions over real files: across modules, with files found by the
plan after the first round of indexing, in worker processes, and in incremental runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from vibefix.codemods import ALL, RECIPES

from vibefix.config import Config
from vibefix.engine import run as engine
from vibefix.engine.run import RunResult
from vibefix.results import Status

DEFAULT = tuple(codemod for codemod in ALL if codemod.code in RECIPES["default"])

PROJECT = {
    "pyproject.toml": "[project]\nname = 'shop'\n",
    "shop/__init__.py": "",
    "shop/main.py": """\
        from fastapi import FastAPI

        from .routers import router

        app = FastAPI()
        app.include_router(router)
        """,
    "shop/stock.py": """\
        import time


        def wait_for_warehouse():
            time.sleep(0.01)
        """,
    # No trigger of any codemod here: it is found because it names the helper.
    "shop/routers.py": """\
        from fastapi import APIRouter

        from shop.stock import wait_for_warehouse as sync_stock

        router = APIRouter()


        @router.post("/reserve")
        async def reserve():
            sync_stock()
            return {"ok": True}
        """,
    # A sync caller in a file that mentions the helper's name only.
    "scripts/nightly.py": """\
        from shop.stock import wait_for_warehouse


        def main():
            wait_for_warehouse()
        """,
}


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def run(root: Path, *paths: str, jobs: int = 1, unsafe: bool = False) -> RunResult:
    options = engine.Options(Config(root=root), DEFAULT, jobs, unsafe)
    return engine.run([root / path for path in paths], options)


def changed(result: RunResult, root: Path) -> dict[str, str]:
    return {
        file.path.relative_to(root).as_posix(): (file.new_source or b"").decode()
        for file in result.files
        if file.status is Status.CHANGED
    }


def test_helper_and_its_caller_in_another_module_change_together(tmp_path):
    write(tmp_path, {k: v for k, v in PROJECT.items() if not k.startswith("scripts")})

    result = run(tmp_path, "shop")

    files = changed(result, tmp_path)
    assert sorted(files) == ["shop/routers.py", "shop/stock.py"]
    assert (
        "async def wait_for_warehouse():\n    await asyncio.sleep(0.01)" in files["shop/stock.py"]
    )
    assert "    await sync_stock()\n" in files["shop/routers.py"]
    assert result.findings == []


def test_a_sync_caller_elsewhere_in_the_project_holds_the_helper_back(tmp_path):
    write(tmp_path, PROJECT)

    result = run(tmp_path, "shop")

    files = changed(result, tmp_path)
    # The helper stays sync; the async handler runs it in a thread instead.
    assert sorted(files) == ["shop/routers.py"]
    assert "    await run_in_threadpool(sync_stock)\n" in files["shop/routers.py"]
    assert [(f.path.name, f.code, f.message) for f in result.findings] == [
        (
            "stock.py",
            "VF104",
            "`wait_for_warehouse` stays sync, so its blocking calls stay: it is called from"
            " sync code in `main` at nightly.py:5",
        )
    ]
    # The file outside the paths given is read, never written or reported on.
    assert all("scripts" not in str(file.path) for file in result.files)


def test_incremental_run_never_leaves_a_caller_outside_its_paths_unawaited(tmp_path):
    write(tmp_path, {k: v for k, v in PROJECT.items() if not k.startswith("scripts")})

    result = run(tmp_path, "shop/stock.py")

    assert changed(result, tmp_path) == {}
    assert [(f.code, f.message) for f in result.findings] == [
        (
            "VF104",
            "`wait_for_warehouse` stays sync, so its blocking calls stay: its caller at"
            " routers.py:10 is outside the paths given",
        )
    ]


def test_module_of_a_session_factory_is_indexed_to_classify_its_calls(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "app/__init__.py": "",
            "app/db.py": """\
                from sqlalchemy.orm import sessionmaker

                SessionLocal = sessionmaker()
                """,
            "app/api.py": """\
                import time

                from fastapi import FastAPI

                from app.db import SessionLocal

                app = FastAPI()


                @app.get("/users")
                def users():
                    time.sleep(0.1)
                    db = SessionLocal()
                    return db.query(object).all()
                """,
        },
    )

    result = run(tmp_path, "app", unsafe=True)

    (finding,) = result.findings
    assert finding.code == "VF103"
    assert "`.all()` blocks and has no automatic rewrite" in finding.message
    # The project has no dependency that yields a session: VF200 writes one beside the
    # factory, in a module no codemod's triggers picked, and the handler uses it.
    new = changed(result, tmp_path)
    assert sorted(new) == ["app/api.py", "app/db.py"]
    assert "def get_db() -> Iterator[Session]:" in new["app/db.py"]
    assert "from app.db import get_db" in new["app/api.py"]

    # Given only the handler's module, VF200 may not write the dependency: a finding.
    result = run(tmp_path, "app/api.py", unsafe=True)
    assert changed(result, tmp_path) == {}
    assert any(
        finding.code == "VF200" and "define `get_db`" in finding.message
        for finding in result.findings
    )


@pytest.mark.parametrize("jobs", [1, 2])
def test_worker_processes_and_rounds_give_the_same_result(tmp_path, monkeypatch, jobs):
    write(tmp_path, PROJECT)
    monkeypatch.setattr(engine, "IN_PROCESS_BYTES", 0)

    pooled = run(tmp_path, "shop", jobs=jobs)
    monkeypatch.undo()
    alone = run(tmp_path, "shop")

    assert pooled.files == alone.files
    assert pooled.findings == alone.findings


def test_def_handler_becomes_async_only_with_unsafe_and_is_reported_otherwise(tmp_path):
    handler = """\
        import time

        from fastapi import FastAPI

        app = FastAPI()


        @app.get("/slow")
        def slow():
            time.sleep(0.1)
        """
    write(tmp_path, {"pyproject.toml": "", "api.py": handler})

    safe = run(tmp_path, "api.py")

    assert changed(safe, tmp_path) == {}
    assert [(f.code, f.position.line, f.message) for f in safe.findings] == [
        (
            "VF103",
            9,
            "`slow` can become `async def` once its blocking calls are rewritten: a REVIEW"
            " rewrite, made with --unsafe",
        )
    ]
    unsafe = changed(run(tmp_path, "api.py", unsafe=True), tmp_path)
    assert "async def slow():\n    await asyncio.sleep(0.1)" in unsafe["api.py"]


TESTED = {
    "pyproject.toml": "",
    "shop/__init__.py": "",
    "shop/stock.py": PROJECT["shop/stock.py"],
    "shop/routers.py": PROJECT["shop/routers.py"],
    "tests/test_stock.py": """\
        import pytest

        from shop.stock import wait_for_warehouse


        def test_waits():
            assert wait_for_warehouse() is None


        @pytest.mark.asyncio
        async def test_already_async():
            pass
        """,
}


def test_project_tests_calling_a_function_made_async_become_async_tests(tmp_path):
    write(tmp_path, TESTED)

    result = run(tmp_path, ".")

    files = changed(result, tmp_path)
    assert sorted(files) == ["shop/routers.py", "shop/stock.py", "tests/test_stock.py"]
    assert (
        "@pytest.mark.asyncio\nasync def test_waits():\n"
        "    assert await wait_for_warehouse() is None"
    ) in files["tests/test_stock.py"]


def test_without_an_async_test_plugin_a_sync_test_runs_the_function_on_a_loop_of_its_own(
    tmp_path,
):
    # pytest calls a sync test or fixture with no event loop running: the function made
    # async runs there through ``asyncio.run``, and the test stays a plain ``def``.
    tested = dict(TESTED)
    tested["tests/test_stock.py"] = """\
        import pytest

        from shop.stock import wait_for_warehouse


        @pytest.fixture
        def ready():
            wait_for_warehouse()
            return True


        def test_waits(ready):
            assert wait_for_warehouse() is None
        """
    write(tmp_path, tested)

    result = run(tmp_path, ".")

    files = changed(result, tmp_path)
    assert sorted(files) == ["shop/routers.py", "shop/stock.py", "tests/test_stock.py"]
    test = files["tests/test_stock.py"]
    assert test.startswith("import asyncio\n\nimport pytest\n")
    assert "def ready():\n    asyncio.run(wait_for_warehouse())\n" in test
    assert "def test_waits(ready):\n    assert asyncio.run(wait_for_warehouse()) is None" in test


def test_a_helper_of_the_test_suite_becomes_async_and_its_tests_run_it(tmp_path):
    tested = dict(TESTED)
    tested["tests/test_stock.py"] = """\
        from shop.stock import wait_for_warehouse


        def waited():
            return wait_for_warehouse()


        def test_waits():
            assert waited() is None
        """
    write(tmp_path, tested)

    test = changed(run(tmp_path, "."), tmp_path)["tests/test_stock.py"]

    assert "async def waited():\n    return await wait_for_warehouse()\n" in test
    assert "    assert asyncio.run(waited()) is None\n" in test


def test_a_call_at_a_test_modules_import_still_holds_the_change_back(tmp_path):
    # Module-level code is no test pytest calls: left alone, with a finding.
    tested = dict(TESTED)
    tested["tests/test_stock.py"] = """\
        from shop.stock import wait_for_warehouse

        READY = wait_for_warehouse()


        def test_waits():
            assert wait_for_warehouse() is None
        """
    write(tmp_path, tested)

    result = run(tmp_path, ".")

    assert sorted(changed(result, tmp_path)) == ["shop/routers.py"]  # offloaded
    assert "called from module-level code" in result.findings[0].message


def test_a_file_whose_rewrite_fails_is_left_alone_and_its_callers_are_not_awaited(
    tmp_path, monkeypatch
):
    write(tmp_path, {k: v for k, v in PROJECT.items() if not k.startswith("scripts")})
    real = engine.compiles

    def stock_never_compiles(source: bytes, path: Path) -> str | None:
        return "1:1: injected" if path.name == "stock.py" else real(source, path)

    monkeypatch.setattr(engine, "compiles", stock_never_compiles)
    monkeypatch.setattr(engine, "IN_PROCESS_BYTES", 0)

    # One job: the run stays in this process, where the patch applies (workers are
    # spawned afresh). Without VF101, whose trigger adds the app's module.
    without_vf101 = tuple(c for c in DEFAULT if c.code != "VF101")
    options = engine.Options(Config(root=tmp_path), without_vf101, 1)
    result = engine.run([tmp_path / "shop"], options)

    statuses = {file.path.name: file.status for file in result.files}
    assert statuses["stock.py"] is Status.FAILED
    routers = changed(result, tmp_path)["shop/routers.py"]
    assert "await sync_stock()" not in routers
    assert "    await run_in_threadpool(sync_stock)\n" in routers


def test_caller_through_a_package_re_export_holds_the_helper_back(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "pkg/__init__.py": "from .mod import helper as fetch\n",
            "pkg/mod.py": """\
                import time

                from fastapi import FastAPI

                app = FastAPI()


                def helper():
                    time.sleep(1)
                    return 1


                @app.get("/")
                async def home():
                    return helper()
                """,
            "pkg/script.py": """\
                from pkg import fetch


                def main():
                    return fetch()
                """,
        },
    )

    result = run(tmp_path, "pkg")

    mod = changed(result, tmp_path)["pkg/mod.py"]
    assert "async def helper" not in mod
    assert "return await run_in_threadpool(helper)" in mod
    assert "called from sync code in `main`" in result.findings[0].message


def test_folder_without_init_is_a_namespace_package_of_the_project(tmp_path):
    write(
        tmp_path,
        {
            "requirements.txt": "fastapi\n",
            "app/services.py": """\
                import time


                def helper():
                    time.sleep(1)
                    return 1


                async def run_job():
                    return helper()
                """,
            "app/main.py": """\
                from fastapi import FastAPI

                from app.services import helper

                app = FastAPI()


                @app.get("/")
                def home():
                    return {"v": helper()}
                """,
        },
    )

    result = run(tmp_path, "app", unsafe=True)

    files = changed(result, tmp_path)
    assert "async def helper" in files["app/services.py"]
    assert '    return {"v": await helper()}' in files["app/main.py"]
    assert "async def home" in files["app/main.py"]


def test_a_test_already_marked_through_an_alias_is_not_marked_twice(tmp_path):
    tested = dict(TESTED)
    tested["tests/test_stock.py"] = """\
        import pytest as pt

        from shop.stock import wait_for_warehouse


        @pt.mark.asyncio
        def test_waits():
            assert wait_for_warehouse() is None
        """
    write(tmp_path, tested)

    test_file = changed(run(tmp_path, "."), tmp_path)["tests/test_stock.py"]

    assert test_file.count("mark.asyncio") == 1
    assert "@pt.mark.asyncio\nasync def test_waits():" in test_file


def test_a_helper_two_modules_away_is_found_through_rounds_and_awaited(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "svc/__init__.py": "",
            "svc/low.py": """\
                import time


                def settle():
                    time.sleep(0.01)
                """,
            "svc/middle.py": """\
                from svc.low import settle


                def reserve(item):
                    settle()
                    return item
                """,
            "svc/api.py": """\
                from fastapi import FastAPI

                from svc import middle

                app = FastAPI()


                @app.post("/reserve")
                async def reserve_item(item: str):
                    return middle.reserve(item)
                """,
        },
    )

    files = changed(run(tmp_path, "svc"), tmp_path)

    assert sorted(files) == ["svc/api.py", "svc/low.py", "svc/middle.py"]
    assert "async def settle():\n    await asyncio.sleep(0.01)" in files["svc/low.py"]
    assert "async def reserve(item):\n    await settle()" in files["svc/middle.py"]
    assert "    return await middle.reserve(item)\n" in files["svc/api.py"]


def test_a_test_gets_the_async_mark_its_own_file_uses(tmp_path):
    tested = dict(TESTED)  # tests/test_stock.py uses pytest.mark.asyncio
    tested["tests/test_other.py"] = """\
        import pytest

        from shop.stock import wait_for_warehouse

        pytestmark = pytest.mark.anyio


        def test_waits_too():
            assert wait_for_warehouse() is None
        """
    write(tmp_path, tested)

    files = changed(run(tmp_path, "."), tmp_path)

    # Its file's pytestmark marks it already.
    assert "\n\nasync def test_waits_too():" in files["tests/test_other.py"]
    assert files["tests/test_other.py"].count("mark.anyio") == 1
    assert "@pytest.mark.asyncio\nasync def test_waits():" in files["tests/test_stock.py"]


def test_vf101_gives_the_lifespan_to_the_app_and_not_to_a_test_app(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.vibefix]\ntarget-version = "py311"\n',
            "shop/__init__.py": "",
            "shop/main.py": """\
                from fastapi import FastAPI

                from shop.routes import router

                app: FastAPI = FastAPI()
                app.include_router(router)
                """,
            "shop/routes.py": """\
                import requests
                from fastapi import APIRouter

                router = APIRouter()


                @router.get("/rate")
                async def rate():
                    return requests.get("http://rates").json()
                """,
            "tests/test_routes.py": """\
                from fastapi import FastAPI
                from fastapi.testclient import TestClient

                from shop.routes import router

                app = FastAPI()
                app.include_router(router)


                def test_rate():
                    assert TestClient(app).get("/rate").status_code == 200
                """,
        },
    )

    # A Python every backend of VF101 runs on, whatever Python runs the tests.
    options = engine.Options(Config(root=tmp_path, target_version=(3, 11)), DEFAULT)
    result = engine.run([tmp_path], options)

    files = changed(result, tmp_path)
    assert sorted(files) == ["shop/main.py", "shop/routes.py"]
    assert "app: FastAPI = FastAPI(lifespan=_http_client_lifespan)" in files["shop/main.py"]


def test_an_import_another_module_imports_from_here_stays(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.vibefix]\ntarget-version = "py311"\n',
            "pkg/__init__.py": "",
            "pkg/a.py": """\
                import time
                from time import sleep


                async def wait():
                    sleep(0.1)
                """,
            "pkg/b.py": """\
                import time

                from pkg.a import sleep


                def nap():
                    sleep(0.1)
                    time.monotonic()
                """,
        },
    )

    result = run(tmp_path, ".")

    a = changed(result, tmp_path)["pkg/a.py"]
    assert "await asyncio.sleep(0.1)" in a
    assert "from time import sleep\n" in a  # pkg/b.py imports it from here
