"""VF103 (async-endpoints): `def` handlers and dependencies become `async def` when nothing
in them blocks once the other rewrites are made."""

from textwrap import dedent

from vibefix.codemods.async_endpoints import AsyncEndpoints

from tests.codemods.helpers import assert_transforms, assert_unchanged, findings_for, upto

VF103 = upto(AsyncEndpoints)

HEADER = """\
import time

from fastapi import APIRouter, Depends, FastAPI

app = FastAPI()
router = APIRouter()
"""

# ---------------------------------------------------------------------------------------
# Rewrites
# ---------------------------------------------------------------------------------------


def test_def_handler_whose_only_blocking_call_is_a_sleep_becomes_async():
    before = HEADER + dedent(
        """\


        @app.get("/slow")
        def slow():
            time.sleep(0.1)
            return {"ok": True}
        """
    )
    after = before.replace("import time\n", "import asyncio\n").replace(
        "def slow():\n    time.sleep(0.1)", "async def slow():\n    await asyncio.sleep(0.1)"
    )
    assert_transforms(VF103, before, after)


def test_router_handler_with_sleep_and_offloadable_call_becomes_async():
    before = dedent(
        """\
        import subprocess
        import time

        from fastapi import APIRouter

        router = APIRouter()


        @router.post("/deploy")
        def deploy():
            subprocess.run(["make"], check=True)
            time.sleep(1)
            return {"status": "done"}
        """
    )
    after = dedent(
        """\
        import asyncio
        import subprocess

        from fastapi import APIRouter
        from fastapi.concurrency import run_in_threadpool

        router = APIRouter()


        @router.post("/deploy")
        async def deploy():
            await run_in_threadpool(subprocess.run, ["make"], check=True)
            await asyncio.sleep(1)
            return {"status": "done"}
        """
    )
    assert_transforms(VF103, before, after)


def test_dependency_that_sleeps_becomes_async():
    before = HEADER + dedent(
        """\


        def rate_limit():
            time.sleep(0.05)


        @app.get("/items", dependencies=[Depends(rate_limit)])
        async def items():
            return []
        """
    )
    after = before.replace("import time\n", "import asyncio\n").replace(
        "def rate_limit():\n    time.sleep(0.05)",
        "async def rate_limit():\n    await asyncio.sleep(0.05)",
    )
    assert_transforms(VF103, before, after)


def test_handler_using_pure_helpers_and_builtins_becomes_async():
    before = HEADER + dedent(
        """\


        def total(prices):
            return round(sum(prices), 2)


        @app.get("/total")
        def get_total(q: str):
            time.sleep(0.1)
            return {"total": total([1.0, 2.5]), "q": q.upper()}
        """
    )
    after = before.replace("import time\n", "import asyncio\n").replace(
        "def get_total(q: str):\n    time.sleep(0.1)",
        "async def get_total(q: str):\n    await asyncio.sleep(0.1)",
    )
    assert_transforms(VF103, before, after)


# ---------------------------------------------------------------------------------------
# Left alone
# ---------------------------------------------------------------------------------------


def test_def_handler_with_nothing_blocking_to_replace_stays_def():
    assert_unchanged(
        VF103,
        HEADER
        + dedent(
            """\


            @app.get("/")
            def home():
                return {"ok": True}
            """
        ),
    )


def test_handler_calling_an_unknown_library_stays_def_with_a_finding():
    source = HEADER + dedent(
        """\
        import paylib


        @app.post("/pay")
        def pay():
            time.sleep(0.1)
            return paylib.Charge.create(amount=100)
        """
    )
    assert_unchanged(VF103, source)
    assert findings_for(VF103, source) == [
        (
            11,
            "`pay` stays sync, so its blocking calls stay: vibefix cannot tell whether"
            " `paylib.Charge.create` blocks (declare it in [tool.vibefix.blocking]) at line 13",
        )
    ]


def test_handler_with_a_sync_sqlalchemy_session_stays_def():
    source = HEADER + dedent(
        """\
        from sqlalchemy.orm import Session


        def get_db(): ...


        @app.get("/users")
        def users(db: Session = Depends(get_db)):
            time.sleep(0.1)
            return db.query(User).all()
        """
    )
    assert_unchanged(VF103, source)
    (finding,) = findings_for(VF103, source)
    assert "`users` stays sync" in finding[1]
    assert "blocks and has no automatic rewrite" in finding[1]


def test_handler_under_a_foreign_decorator_stays_def():
    source = HEADER + dedent(
        """\
        from functools import cache


        @app.get("/config")
        @cache
        def config():
            time.sleep(0.1)
            return {}
        """
    )
    assert_unchanged(VF103, source)
    assert "a decorator wraps it" in findings_for(VF103, source)[0][1]


def test_handler_also_called_from_sync_code_stays_def():
    source = HEADER + dedent(
        """\


        @app.get("/report")
        def report():
            time.sleep(0.1)
            return {}


        def nightly_job():
            return report()
        """
    )
    assert_unchanged(VF103, source)
    assert findings_for(VF103, source) == [
        (
            10,
            "`report` stays sync, so its blocking calls stay: it is called from sync code in"
            " `nightly_job` at example.py:16",
        )
    ]


def test_method_called_get_on_something_that_is_not_fastapi_is_not_a_handler():
    assert_unchanged(
        VF103,
        dedent(
            """\
            import time


            class Registry:
                def get(self, path):
                    return lambda function: function


            app = Registry()


            @app.get("/x")
            def x():
                time.sleep(1)
            """
        ),
    )
