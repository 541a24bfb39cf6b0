"""Hard cases for the whole-program async plan (VF100-VF104 together, as --unsafe makes
them): every call of a function made async is awaited, and nothing made async still
blocks. Each case here once went wrong."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

from vibefix.codemods import ALL

from tests.codemods.helpers import assert_unchanged, findings_for
from vibefix.engine.run import run_source
from vibefix.results import Status

HEADER = "import time\n\nfrom fastapi import FastAPI\n\napp = FastAPI()\n"


def rewrite(source: str) -> str:
    result = run_source((HEADER + dedent(source)).encode(), ALL, unsafe=True)
    assert result.status is not Status.FAILED, result.error
    output = (result.new_source or (HEADER + dedent(source)).encode()).decode()
    compile(output, "<after>", "exec", dont_inherit=True)
    return output


def messages(source: str) -> list[str]:
    return [message for _, message in findings_for(ALL, HEADER + dedent(source))]


def test_method_inherited_by_a_subclass_is_awaited_through_both():
    output = rewrite(
        """
        class Base:
            def run(self):
                time.sleep(1)


        class Child(Base):
            pass


        @app.get("/x")
        async def x():
            Base().run()


        @app.get("/y")
        async def y():
            Child().run()
        """
    )
    assert "    async def run(self):" in output
    assert "    await Base().run()" in output
    assert "    await Child().run()" in output


def test_overridden_method_stays_sync():
    source = """
        class Base:
            def step(self):
                return 1


        class Child(Base):
            def step(self):
                time.sleep(1)


        @app.get("/")
        async def home():
            return Child().step()
        """
    assert "async def step" not in rewrite(source)
    assert any("`Base.step` overrides it or is overridden by it" in m for m in messages(source))


def test_method_called_from_module_level_code_stays_sync():
    output = rewrite(
        """
        class Repo:
            def load(self):
                time.sleep(1)


        repo = Repo()


        @app.get("/a")
        async def a():
            return repo.load()


        if __name__ == "__main__":
            repo.load()
        """
    )
    assert "async def load" not in output
    assert "    return await run_in_threadpool(repo.load)" in output


def test_method_reachable_through_an_attribute_of_unknown_type_stays_sync():
    output = rewrite(
        """
        class Repo:
            def load(self):
                time.sleep(1)


        class Service:
            def __init__(self, repo):
                self.repo = repo

            async def run(self):
                return self.repo.load()


        @app.get("/a")
        async def a():
            return Repo().load()
        """
    )
    assert "async def load" not in output


def test_bound_method_passed_as_a_thread_target_stays_sync():
    output = rewrite(
        """
        import threading


        class Worker:
            def tick(self):
                time.sleep(1)

            def start(self):
                threading.Thread(target=self.tick).start()


        @app.get("/")
        async def home():
            Worker().tick()
        """
    )
    assert "async def tick" not in output


def test_add_task_of_a_project_scheduler_is_not_fastapi():
    assert_unchanged(
        ALL,
        HEADER
        + dedent(
            """
            class Scheduler:
                def add_task(self, function):
                    return function


            scheduler = Scheduler()


            def job():
                time.sleep(5)


            @app.on_event("startup")
            async def start():
                scheduler.add_task(job)
            """
        ),
    )


def test_function_defined_in_both_branches_of_an_if_stays_sync():
    output = rewrite(
        """
        import os

        if os.environ.get("SLOW"):
            def helper():
                time.sleep(1)
        else:
            def helper():
                return None


        @app.get("/")
        async def home():
            helper()
        """
    )
    assert "async def helper" not in output
    assert "await helper()" not in output


def test_call_in_a_class_body_inside_an_async_function_is_not_awaited():
    output = rewrite(
        """
        def helper():
            time.sleep(1)
            return 1


        @app.get("/")
        async def home():
            class Inner:
                x = helper()

            return Inner.x
        """
    )
    assert "async def helper" not in output


def test_generator_dependency_with_yield_from_stays_sync():
    source = """
        from fastapi import Depends


        def _sessions():
            yield 1


        def get_db():
            time.sleep(0.1)
            yield from _sessions()


        @app.get("/")
        async def home(db=Depends(get_db)):
            return db
        """
    assert "async def get_db" not in rewrite(source)
    assert any(
        "it uses `yield from`, which an async generator cannot" in m for m in messages(source)
    )


def test_parameter_named_asyncio_keeps_the_function_sync():
    output = rewrite(
        """
        def helper(asyncio):
            time.sleep(1)
            return asyncio


        @app.get("/")
        async def home():
            return helper(1)
        """
    )
    assert "async def helper" not in output
    assert "    return await run_in_threadpool(helper, 1)" in output


def test_attribute_of_a_fastapi_object_is_not_trusted_as_fastapi():
    output = rewrite(
        """
        from fastapi import Request


        @app.get("/")
        def home(request: Request):
            time.sleep(0.1)
            return request.app.state.db.execute("select 1").fetchall()
        """
    )
    assert "async def home" not in output


def test_common_method_name_on_an_object_of_unknown_type_is_not_trusted():
    output = rewrite(
        """
        from fastapi import Depends

        from app.db import get_db


        @app.get("/u/{uid}")
        def user(uid: int, db=Depends(get_db)):
            time.sleep(0.1)
            return db.get("User", uid)
        """
    )
    assert "async def user" not in output


def test_attribute_of_a_project_object_holding_a_blocking_function_is_not_trusted():
    output = rewrite(
        """
        import sqlite3


        class Store:
            def __init__(self, connect):
                self.connect = connect


        store = Store(sqlite3.connect)


        @app.get("/")
        def home():
            time.sleep(0.1)
            return store.connect("app.db").execute("select 1").fetchall()
        """
    )
    assert "async def home" not in output


def test_path_methods_block():
    output = rewrite(
        """
        from pathlib import Path


        @app.get("/")
        def home():
            time.sleep(0.1)
            Path("/data").mkdir(exist_ok=True)
            return sorted(Path("/data").iterdir())
        """
    )
    assert "async def home" not in output


def test_sync_httpx_client_blocks():
    output = rewrite(
        """
        import httpx

        client = httpx.Client()


        @app.get("/")
        def home():
            time.sleep(0.1)
            return client.get("https://example.com").json()
        """
    )
    assert "async def home" not in output


def test_recursion_and_mutual_recursion_are_awaited():
    output = rewrite(
        """
        def poll(n):
            time.sleep(0.1)
            if n:
                poll(n - 1)


        def ping(n):
            time.sleep(0.1)
            if n:
                pong(n - 1)


        def pong(n):
            if n:
                ping(n - 1)


        @app.get("/")
        async def home():
            poll(2)
            pong(2)
        """
    )
    assert "        await poll(n - 1)" in output
    assert "        await pong(n - 1)" in output
    assert "        await ping(n - 1)" in output


def test_functions_that_call_each_other_but_never_block_stay_sync():
    assert_unchanged(
        ALL,
        HEADER
        + dedent(
            """
            def even(n):
                return n == 0 or odd(n - 1)


            def odd(n):
                return n != 0 and even(n - 1)


            @app.get("/")
            async def home():
                return even(4)
            """
        ),
    )


def test_method_called_through_super_is_a_caller_of_the_base_method():
    output = rewrite(
        """
        class A:
            def fetch(self):
                time.sleep(1)
                return 1


        class B(A):
            def other(self):
                return super().fetch()


        @app.get("/")
        async def home():
            return A().fetch()


        def script():
            return B().other()
        """
    )
    assert "async def fetch" not in output


def test_object_assigned_two_types_has_no_type():
    output = rewrite(
        """
        import os


        class MemRepo:
            def load(self):
                return 1


        class DiskRepo:
            def load(self):
                time.sleep(1)


        if os.environ.get("MEM"):
            repo = MemRepo()
        else:
            repo = DiskRepo()


        @app.get("/")
        async def home():
            return DiskRepo().load()


        def report():
            return repo.load()
        """
    )
    assert "async def load" not in output


def test_sync_bridge_into_an_event_loop_keeps_a_handler_def():
    output = rewrite(
        """
        import asyncio


        async def notify():
            return 1


        @app.get("/")
        def home():
            time.sleep(1)
            asyncio.run(notify())
        """
    )
    assert "async def home" not in output


def test_file_opened_and_iterated_is_not_offloaded_half_way():
    output = rewrite(
        """
        @app.get("/")
        def home():
            time.sleep(1)
            return [line for line in open("data.txt")]
        """
    )
    assert "async def home" not in output
    assert "run_in_threadpool(open" not in output


def test_unittest_case_methods_do_not_become_async_tests():
    source = """
        import unittest

        import pytest


        def helper():
            time.sleep(1)
            return 1


        @app.get("/")
        async def home():
            return helper()


        @pytest.mark.asyncio
        async def test_home():
            pass


        class TestU(unittest.TestCase):
            def test_u(self):
                assert helper() == 1
        """
    result = run_source(
        (HEADER + dedent(source)).encode(), ALL, unsafe=True, path=Path("test_u.py")
    )
    output = (result.new_source or b"").decode()
    assert "async def helper" not in output
    assert "async def test_u" not in output


def test_async_generator_and_async_context_manager_await_a_helper_made_async():
    output = rewrite(
        """
        from contextlib import asynccontextmanager


        def settle():
            time.sleep(0.1)


        async def stream():
            settle()
            yield 1


        @asynccontextmanager
        async def session():
            settle()
            yield
        """
    )
    assert "async def settle():" in output
    assert output.count("    await settle()\n") == 2


def test_helper_passed_to_functools_partial_or_an_executor_stays_sync():
    output = rewrite(
        """
        import functools


        def pause(seconds):
            time.sleep(seconds)


        @app.get("/")
        async def home(loop):
            pause(1)
            later = functools.partial(pause, 1)
            await loop.run_in_executor(None, later)
        """
    )
    assert "async def pause" not in output
    assert "    await run_in_threadpool(pause, 1)" in output


def test_shadowed_names_are_not_the_standard_library():
    output = rewrite(
        """
        class requests:
            @staticmethod
            def get(url):
                return url


        def sleep(seconds):
            return seconds


        @app.get("/")
        async def home():
            sleep(1)
            return requests.get("x")
        """
    )
    assert "await" not in output
    assert "run_in_threadpool" not in output


def test_local_name_given_another_type_later_in_a_loop_has_no_type():
    output = rewrite(
        """
        class MemRepo:
            def load(self):
                return 1


        class DiskRepo:
            def load(self):
                time.sleep(1)


        @app.get("/")
        async def home():
            DiskRepo().load()


        def report(items):
            repo = MemRepo()
            for _ in items:
                repo.load()
                repo = DiskRepo()
        """
    )
    assert "async def load" not in output
