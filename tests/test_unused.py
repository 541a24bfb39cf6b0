"""Modules of an application that nothing imports or runs (issue 15's false positives):
their blocking calls block nothing, so they are neither reported nor rewritten, and the
file is skipped with why. Every way a module can still be loaded keeps it live. Real
projects on disk and the real engine; the command line for what the user sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunVibefix
from tests.test_async_project import changed, run, write
from vibefix.engine.unused import REASON, unimported

APP = {
    "pyproject.toml": "[project]\nname = 'shop'\n",
    "shop/__init__.py": "",
    "shop/main.py": """\
        from fastapi import FastAPI

        from shop.routes import router

        app = FastAPI()
        app.include_router(router)
        """,
    "shop/routes.py": """\
        import time

        from fastapi import APIRouter

        router = APIRouter()


        @router.get("/live")
        async def live():
            time.sleep(1)
        """,
    # A stale copy of the router module: nothing imports it.
    "shop/_old_routes.py": """\
        import time

        from fastapi import APIRouter

        router = APIRouter()


        @router.get("/stale")
        async def stale():
            time.sleep(1)
        """,
}


def _reported(result: object, root: Path) -> set[str]:
    files = result.files  # type: ignore[attr-defined]
    paths = {f.path.relative_to(root).as_posix() for f in files if f.findings or f.edits}
    return paths | {
        finding.path.relative_to(root).as_posix()
        for finding in result.findings  # type: ignore[attr-defined]
    }


def test_a_module_nothing_imports_is_skipped_as_dead_code(tmp_path):
    write(tmp_path, APP)

    result = run(tmp_path, ".")

    assert sorted(changed(result, tmp_path)) == ["shop/routes.py"]
    assert {path.name: why for path, why in result.dead.items()} == {"_old_routes.py": REASON}
    assert "shop/_old_routes.py" not in _reported(result, tmp_path)


def test_what_only_dead_code_reaches_is_not_reported(tmp_path):
    # The stale router calls a live helper that only sync code calls otherwise: reached
    # from dead code only, it blocks nothing, and nothing is said of it.
    helper = "import time\n\n\ndef pause():\n    time.sleep(1)\n"
    stale = APP["shop/_old_routes.py"].replace("time.sleep(1)", "pause()")
    stale = stale.replace("import time", "from shop.helpers import pause")
    live = "from shop.helpers import pause\n\n\ndef sync_job():\n    pause()\n"
    write(tmp_path, {**APP, "shop/_old_routes.py": stale, "shop/helpers.py": helper})
    write(
        tmp_path, {"shop/jobs.py": live, "shop/main.py": APP["shop/main.py"] + "import shop.jobs\n"}
    )

    result = run(tmp_path, ".")

    assert sorted(changed(result, tmp_path)) == ["shop/routes.py"]
    assert _reported(result, tmp_path) == {"shop/routes.py"}


def test_a_dead_script_that_calls_a_helper_still_holds_it_back(tmp_path):
    # Should the script run after all, an async helper would leave its call un-awaited:
    # the helper stays sync, and the live route runs it in a thread.
    helper = "import time\n\n\ndef pause():\n    time.sleep(1)\n"
    routes = APP["shop/routes.py"].replace("time.sleep(1)", "pause()")
    routes = routes.replace("import time", "from shop.helpers import pause")
    script = "from shop.helpers import pause\n\n\ndef main():\n    pause()\n"
    write(tmp_path, {**APP, "shop/routes.py": routes, "shop/helpers.py": helper})
    write(tmp_path, {"shop/cleanup.py": script})

    result = run(tmp_path, ".")

    texts = {path: path.read_bytes() for path in tmp_path.rglob("*.py")}
    assert tmp_path / "shop/cleanup.py" in unimported(texts, tmp_path, [])
    files = changed(result, tmp_path)
    assert sorted(files) == ["shop/routes.py"]
    assert "await run_in_threadpool(pause)" in files["shop/routes.py"]
    assert "called from sync code in `main`" in result.findings[0].message


def test_a_module_given_by_name_is_analysed_even_if_nothing_imports_it(tmp_path):
    write(tmp_path, APP)

    result = run(tmp_path, "shop/_old_routes.py")

    assert "await asyncio.sleep(1)" in changed(result, tmp_path)["shop/_old_routes.py"]


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"shop/main.py": "import shop._old_routes\n" + "app = FastAPI()\n"}, "an import"),
        ({"shop/jobs.py": "TARGET = 'shop._old_routes:router'\n"}, "a string names it"),
        ({"Procfile": "web: uvicorn shop._old_routes:app\n"}, "a Procfile names it"),
        ({"docker/compose.yml": "command: python -m shop._old_routes\n"}, "a YAML file"),
        ({"tests/test_old.py": "from shop import _old_routes\n"}, "a test imports it"),
        (
            {"shop/plugins.py": "import importlib\nm = [importlib.import_module(n) for n in X]\n"},
            "an import by a computed name",
        ),
    ],
)
def test_a_module_something_may_load_is_live(tmp_path, extra, why):
    write(tmp_path, APP)
    if "shop/main.py" in extra:
        extra = {"shop/main.py": "from fastapi import FastAPI\n" + extra["shop/main.py"]}
    write(tmp_path, extra)

    result = run(tmp_path, ".")

    files = changed(result, tmp_path)
    assert "await asyncio.sleep(1)" in files["shop/_old_routes.py"], why


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("shop/script.py", "import time\n\nasync def main():\n    time.sleep(1)\n\nmain()\n"),
        (
            "shop/script.py",
            "import time\n\nasync def main():\n    time.sleep(1)\n\n"
            "if __name__ == '__main__':\n    import asyncio\n    asyncio.run(main())\n",
        ),
        (
            "shop/other_app.py",
            "import time\nfrom fastapi import FastAPI\n\napp = FastAPI()\n\n"
            "@app.get('/')\nasync def root():\n    time.sleep(1)\n",
        ),
        ("shop/__main__.py", "import time\n\nasync def main():\n    time.sleep(1)\n"),
        ("shop/conftest.py", "import time\n\nasync def main():\n    time.sleep(1)\n"),
        ("migrations/env.py", "import time\n\nasync def main():\n    time.sleep(1)\n"),
    ],
)
def test_an_entry_point_nothing_imports_is_live(tmp_path, name, text):
    write(tmp_path, {**APP, name: text})

    result = run(tmp_path, ".")

    assert "await asyncio.sleep(1)" in changed(result, tmp_path)[name]


def test_a_library_has_no_dead_modules(tmp_path):
    # No module makes a FastAPI app: its modules are imported by its users.
    library = {k: v for k, v in APP.items() if k != "shop/main.py"}
    write(tmp_path, library)

    result = run(tmp_path, ".")

    assert sorted(changed(result, tmp_path)) == ["shop/_old_routes.py", "shop/routes.py"]


def test_an_app_made_by_a_factory_counts_as_an_application(tmp_path):
    factory = """\
        from fastapi import FastAPI

        from shop.routes import router


        def create_app():
            return FastAPI(routes=router.routes)
        """
    write(tmp_path, {**APP, "shop/main.py": factory})

    result = run(tmp_path, ".")

    assert sorted(changed(result, tmp_path)) == ["shop/routes.py"]


def test_the_judgement_is_on_the_file_alone_when_it_does_not_parse(tmp_path):
    texts = {
        tmp_path / "main.py": b"from fastapi import FastAPI\napp = FastAPI()\n",
        tmp_path / "broken.py": b"def f(:\n",
        tmp_path / "stale.py": b"import os\n\ndef f():\n    return os.getcwd()\n",
    }

    dead = unimported(texts, tmp_path)

    assert list(dead) == [tmp_path / "stale.py"]


@pytest.mark.once
def test_the_command_line_says_why_a_dead_module_is_skipped(tmp_path, run_vibefix: RunVibefix):
    write(tmp_path, APP)

    done = run_vibefix("check", "--output-format", "json", ".", cwd=tmp_path)
    text = run_vibefix("check", ".", cwd=tmp_path)

    report = json.loads(done.stdout)
    assert report["dead_code"] == [{"path": "shop/_old_routes.py", "reason": REASON}]
    assert {finding["path"] for finding in report["findings"]} <= {"shop/routes.py"}
    assert [file["path"] for file in report["files"] if file["edits"]] == ["shop/routes.py"]
    assert f"shop/_old_routes.py: {REASON}" in text.stderr.splitlines()
    assert "_old_routes.py:" not in text.stderr.replace(f"_old_routes.py: {REASON}", "")
