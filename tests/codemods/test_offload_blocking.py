"""VF102 (offload-blocking): blocking calls with no async twin, in async code, run in a thread."""

from textwrap import dedent

from vibefix.codemods.offload_blocking import OffloadBlocking

from tests.codemods.helpers import (
    assert_transforms,
    assert_unchanged,
    config_with,
    findings_for,
    upto,
)

VF102 = upto(OffloadBlocking)

# ---------------------------------------------------------------------------------------
# Rewrites
# ---------------------------------------------------------------------------------------


def test_subprocess_run_in_async_handler_runs_in_threadpool_with_its_arguments():
    before = dedent(
        """\
        import subprocess

        from fastapi import FastAPI

        app = FastAPI()


        @app.post("/sync")
        async def sync_disks():
            subprocess.run(["sync"], check=True)
            return {"ok": True}
        """
    )
    after = dedent(
        """\
        import subprocess

        from fastapi import FastAPI
        from fastapi.concurrency import run_in_threadpool

        app = FastAPI()


        @app.post("/sync")
        async def sync_disks():
            await run_in_threadpool(subprocess.run, ["sync"], check=True)
            return {"ok": True}
        """
    )
    assert_transforms(VF102, before, after)


def test_outside_fastapi_a_bound_method_runs_in_asyncio_to_thread():
    before = dedent(
        """\
        from pathlib import Path


        async def load(name):
            text = Path(name).read_text()
            return text
        """
    )
    after = dedent(
        """\
        import asyncio
        from pathlib import Path


        async def load(name):
            text = await asyncio.to_thread(Path(name).read_text)
            return text
        """
    )
    assert_transforms(VF102, before, after)


def test_aliased_module_and_existing_import_of_run_in_threadpool():
    before = dedent(
        """\
        import shutil as sh

        from fastapi.concurrency import run_in_threadpool


        async def backup(path):
            sh.copy(path, path + ".bak")
        """
    )
    after = dedent(
        """\
        import shutil as sh

        from fastapi.concurrency import run_in_threadpool


        async def backup(path):
            await run_in_threadpool(sh.copy, path, path + ".bak")
        """
    )
    assert_transforms(VF102, before, after)


def test_blocking_project_function_is_offloaded_where_an_async_function_calls_it():
    before = dedent(
        """\
        import subprocess

        from fastapi import APIRouter


        def compress(path):
            subprocess.run(["gzip", path], check=True)


        async def archive(path):
            compress(path)
        """
    )
    after = dedent(
        """\
        import subprocess

        from fastapi import APIRouter
        from fastapi.concurrency import run_in_threadpool


        def compress(path):
            subprocess.run(["gzip", path], check=True)


        async def archive(path):
            await run_in_threadpool(compress, path)
        """
    )
    assert_transforms(VF102, before, after)


def test_call_used_as_an_object_afterwards_is_awaited_in_parentheses():
    before = dedent(
        """\
        import subprocess

        from fastapi import APIRouter


        async def version():
            return subprocess.check_output(["git", "--version"]).decode()
        """
    )
    after = dedent(
        """\
        import subprocess

        from fastapi import APIRouter
        from fastapi.concurrency import run_in_threadpool


        async def version():
            return (await run_in_threadpool(subprocess.check_output, ["git", "--version"])).decode()
        """
    )
    assert_transforms(VF102, before, after)


def test_user_table_entry_makes_a_third_party_call_offloaded():
    before = dedent(
        """\
        import stripe

        from fastapi import APIRouter


        async def charge(amount):
            return stripe.Charge.create(amount=amount)
        """
    )
    after = dedent(
        """\
        import stripe

        from fastapi import APIRouter
        from fastapi.concurrency import run_in_threadpool


        async def charge(amount):
            return await run_in_threadpool(stripe.Charge.create, amount=amount)
        """
    )
    config = config_with(blocking={"stripe.Charge.create": "offload"})
    assert_transforms(VF102, before, after, config)


# ---------------------------------------------------------------------------------------
# Left alone
# ---------------------------------------------------------------------------------------


def test_sync_function_keeps_its_blocking_call():
    assert_unchanged(
        VF102,
        dedent(
            """\
            import subprocess


            def sync_disks():
                subprocess.run(["sync"], check=True)
            """
        ),
    )


def test_with_open_is_reported_not_rewritten():
    source = dedent(
        """\
        async def read(path):
            with open(path) as handle:
                return handle.read()
        """
    )
    assert_unchanged(VF102, source)
    messages = findings_for(VF102, source)
    assert messages[0][0] == 2
    assert "`open` blocks the event loop, and its result blocks in turn" in messages[0][1]
    assert messages[1] == (
        3,
        "`open().read` blocks the event loop in `async def read`; vibefix has no rewrite for"
        " it: make the function a plain `def`, or move to an async library",
    )


def test_call_already_offloaded_is_left_alone():
    assert_unchanged(
        VF102,
        dedent(
            """\
            import subprocess

            from fastapi.concurrency import run_in_threadpool


            async def sync_disks():
                await run_in_threadpool(subprocess.run, ["sync"])
            """
        ),
    )


def test_blocking_call_in_a_lambda_is_reported_not_rewritten():
    source = dedent(
        """\
        import subprocess


        async def later(schedule):
            schedule(lambda: subprocess.run(["sync"]))
        """
    )
    assert_unchanged(VF102, source)
    assert "sits where `await` is not allowed (a lambda" in findings_for(VF102, source)[0][1]


def test_local_function_called_open_is_not_the_builtin():
    assert_unchanged(
        VF102,
        dedent(
            """\
            def open(name):
                return name.upper()


            async def shout(name):
                return open(name)
            """
        ),
    )


def test_taken_name_run_in_threadpool_is_reported():
    source = dedent(
        """\
        import subprocess

        from fastapi import APIRouter

        run_in_threadpool = None


        async def sync_disks():
            subprocess.run(["sync"])
        """
    )
    assert_unchanged(VF102, source)
    assert findings_for(VF102, source) == [
        (
            9,
            "`subprocess.run` blocks the event loop, but the name `run_in_threadpool` means"
            " something else here: offload it by hand",
        )
    ]


def test_user_table_can_declare_a_shipped_entry_nonblocking():
    assert_unchanged(
        VF102,
        dedent(
            """\
            import subprocess


            async def fast():
                subprocess.run(["true"])
            """
        ),
        config_with(blocking={"subprocess.run": "nonblocking"}),
    )


def test_async_handler_that_blocks_with_no_rewrite_is_reported_under_vf103():
    source = dedent(
        """\
        import sqlite3

        from fastapi import FastAPI

        app = FastAPI()


        @app.get("/count")
        async def count():
            connection = sqlite3.connect("shop.db")
            return connection.execute("select count(*) from users").fetchone()
        """
    )
    result = findings_for(VF102, source)
    assert result[0][0] == 10
    assert "`sqlite3.connect` blocks the event loop, and its result blocks in turn" in result[0][1]
    assert result[1:] == [
        (
            11,
            "`connect().execute().fetchone` blocks the event loop in `async def count` (and 1 more"
            " call);"
            " vibefix has no rewrite for it: make the function a plain `def`, or move to an"
            " async library",
        )
    ]


def test_blocking_call_whose_rewrite_is_not_selected_is_reported():
    source = dedent(
        """\
        import subprocess


        async def sync_disks():
            subprocess.run(["sync"])
        """
    )
    only_sleep = VF102[:1]
    assert_unchanged(only_sleep, source)
    assert findings_for(only_sleep, source) == [
        (
            5,
            "`subprocess.run` blocks the event loop in `async def sync_disks`; VF102 runs it"
            " in a thread when it is selected",
        )
    ]


# ---------------------------------------------------------------------------------------
# Keys that reach through attributes
# ---------------------------------------------------------------------------------------

ACME_DEEP = config_with(blocking={"acme.Client().**": "offload", "acme.Client": "nonblocking"})
ACME_ONE = config_with(blocking={"acme.Client().*": "offload", "acme.Client": "nonblocking"})


def test_a_deep_key_reaches_a_method_through_the_instance_attributes():
    before = dedent(
        """\
        import acme


        async def orders():
            client = acme.Client()
            return client.orders.recent.list(limit=5)
        """
    )
    after = dedent(
        """\
        import asyncio

        import acme


        async def orders():
            client = acme.Client()
            return await asyncio.to_thread(client.orders.recent.list, limit=5)
        """
    )
    assert_transforms(VF102, before, after, ACME_DEEP)


def test_a_one_level_key_does_not_reach_through_an_attribute():
    source = dedent(
        """\
        import acme


        async def orders():
            client = acme.Client()
            client.ping()
            return client.orders.list(limit=5)
        """
    )
    after = dedent(
        """\
        import asyncio

        import acme


        async def orders():
            client = acme.Client()
            await asyncio.to_thread(client.ping)
            return client.orders.list(limit=5)
        """
    )
    assert_transforms(VF102, source, after, ACME_ONE)


def test_a_module_deep_key_does_not_reach_an_attribute_of_an_object_it_made():
    source = dedent(
        """\
        import acme


        async def orders():
            client = acme.Client()
            return client.orders.list(limit=5)
        """
    )
    modules = config_with(blocking={"acme.**": "offload", "acme.Client": "nonblocking"})
    assert_unchanged(VF102, source, modules)
    assert findings_for(VF102, source, modules) == []
