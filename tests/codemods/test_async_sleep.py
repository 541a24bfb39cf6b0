"""VF100 (async-sleep): `time.sleep` in an `async def` becomes `await asyncio.sleep`."""

from textwrap import dedent

import pytest
from vibefix.codemods.async_sleep import AsyncSleep

from tests.codemods.helpers import assert_transforms, assert_unchanged, findings_for

# ---------------------------------------------------------------------------------------
# Rewrites: every import spelling of time.sleep
# ---------------------------------------------------------------------------------------


def test_import_time_used_only_for_sleep_is_replaced_by_import_asyncio():
    before = dedent(
        """\
        import time

        async def f():
            time.sleep(1)
        """
    )
    after = dedent(
        """\
        import asyncio

        async def f():
            await asyncio.sleep(1)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_import_time_as_alias_is_rewritten_and_removed():
    before = dedent(
        """\
        import time as t


        async def f():
            t.sleep(1)
        """
    )
    after = dedent(
        """\
        import asyncio


        async def f():
            await asyncio.sleep(1)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_from_time_import_sleep_is_rewritten_and_removed():
    before = dedent(
        """\
        from time import sleep


        async def f():
            sleep(1)
        """
    )
    after = dedent(
        """\
        import asyncio


        async def f():
            await asyncio.sleep(1)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_from_time_import_sleep_as_snooze_is_rewritten_and_removed():
    before = dedent(
        """\
        from time import sleep as snooze


        async def f():
            snooze(0.1)
        """
    )
    after = dedent(
        """\
        import asyncio


        async def f():
            await asyncio.sleep(0.1)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_import_time_inside_async_function_still_used_is_kept():
    before = dedent(
        """\
        import os


        async def f():
            import time
            time.sleep(1)
            return os.getpid(), time.time()
        """
    )
    after = dedent(
        """\
        import asyncio
        import os


        async def f():
            import time
            await asyncio.sleep(1)
            return os.getpid(), time.time()
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_import_time_inside_async_function_used_only_for_sleep_is_removed():
    before = dedent(
        """\
        import os


        async def f():
            import time
            time.sleep(1)
            return os.getpid()
        """
    )
    after = dedent(
        """\
        import asyncio
        import os


        async def f():
            await asyncio.sleep(1)
            return os.getpid()
        """
    )
    assert_transforms(AsyncSleep, before, after)


# ---------------------------------------------------------------------------------------
# Rewrites: where the call may sit
# ---------------------------------------------------------------------------------------


def test_async_method_is_rewritten():
    before = dedent(
        """\
        import time


        class Poller:
            async def poll(self):
                while not self.ready():
                    time.sleep(self.interval)
        """
    )
    after = dedent(
        """\
        import asyncio


        class Poller:
            async def poll(self):
                while not self.ready():
                    await asyncio.sleep(self.interval)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_async_context_manager_aenter_is_rewritten():
    before = dedent(
        """\
        import time


        class Connection:
            async def __aenter__(self):
                time.sleep(0.1)
                return self

            async def __aexit__(self, *exc_info):
                return False
        """
    )
    after = dedent(
        """\
        import asyncio


        class Connection:
            async def __aenter__(self):
                await asyncio.sleep(0.1)
                return self

            async def __aexit__(self, *exc_info):
                return False
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_async_generator_with_yield_is_rewritten():
    before = dedent(
        """\
        import time


        async def ticks(count):
            for i in range(count):
                time.sleep(1)
                yield i
        """
    )
    after = dedent(
        """\
        import asyncio


        async def ticks(count):
            for i in range(count):
                await asyncio.sleep(1)
                yield i
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_async_with_and_async_for_bodies_are_rewritten():
    before = dedent(
        """\
        import time


        async def consume(lock, stream):
            async with lock:
                time.sleep(1)
            async for item in stream:
                time.sleep(item.delay)
        """
    )
    after = dedent(
        """\
        import asyncio


        async def consume(lock, stream):
            async with lock:
                await asyncio.sleep(1)
            async for item in stream:
                await asyncio.sleep(item.delay)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_decorated_fastapi_endpoint_is_rewritten():
    before = dedent(
        """\
        import time

        from fastapi import FastAPI

        app = FastAPI()


        @app.get("/health")
        async def health():
            time.sleep(0.1)
            return {"ok": True}
        """
    )
    after = dedent(
        """\
        import asyncio

        from fastapi import FastAPI

        app = FastAPI()


        @app.get("/health")
        async def health():
            await asyncio.sleep(0.1)
            return {"ok": True}
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_sleeps_in_try_except_else_finally_are_all_rewritten():
    before = dedent(
        """\
        import time


        async def f():
            try:
                time.sleep(1)
            except ValueError:
                time.sleep(2)
            else:
                time.sleep(3)
            finally:
                time.sleep(4)
        """
    )
    after = dedent(
        """\
        import asyncio


        async def f():
            try:
                await asyncio.sleep(1)
            except ValueError:
                await asyncio.sleep(2)
            else:
                await asyncio.sleep(3)
            finally:
                await asyncio.sleep(4)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_two_sleeps_in_one_function_are_both_rewritten():
    before = dedent(
        """\
        from time import sleep


        async def f():
            sleep(1)
            print("halfway")
            sleep(2)
        """
    )
    after = dedent(
        """\
        import asyncio


        async def f():
            await asyncio.sleep(1)
            print("halfway")
            await asyncio.sleep(2)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_retry_backoff_loop_keeps_the_argument_expression():
    before = dedent(
        """\
        import random
        import time


        async def fetch_with_retry(client, url, attempts=3):
            for attempt in range(attempts):
                try:
                    return await client.get(url)
                except ConnectionError:
                    time.sleep(2**attempt + random.random())
            raise RuntimeError(url)
        """
    )
    after = dedent(
        """\
        import asyncio
        import random


        async def fetch_with_retry(client, url, attempts=3):
            for attempt in range(attempts):
                try:
                    return await client.get(url)
                except ConnectionError:
                    await asyncio.sleep(2**attempt + random.random())
            raise RuntimeError(url)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_list_comprehension_in_async_def_is_rewritten():
    before = dedent(
        """\
        import time


        async def f(delays):
            return [time.sleep(d) for d in delays]
        """
    )
    after = dedent(
        """\
        import asyncio


        async def f(delays):
            return [await asyncio.sleep(d) for d in delays]
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_set_and_dict_comprehensions_in_async_def_are_rewritten():
    before = dedent(
        """\
        import time


        async def f(delays):
            done = {time.sleep(d) for d in delays}
            return done, {d: time.sleep(d) for d in delays}
        """
    )
    after = dedent(
        """\
        import asyncio


        async def f(delays):
            done = {await asyncio.sleep(d) for d in delays}
            return done, {d: await asyncio.sleep(d) for d in delays}
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_nested_async_def_inside_sync_def_is_rewritten():
    before = dedent(
        """\
        import time


        def make_handler():
            async def handler():
                time.sleep(1)

            return handler
        """
    )
    after = dedent(
        """\
        import asyncio


        def make_handler():
            async def handler():
                await asyncio.sleep(1)

            return handler
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_module_with_match_statement_is_rewritten():
    before = dedent(
        """\
        import time


        async def handle(command):
            match command:
                case {"action": "wait", "seconds": seconds}:
                    time.sleep(seconds)
                case _:
                    pass
        """
    )
    after = dedent(
        """\
        import asyncio


        async def handle(command):
            match command:
                case {"action": "wait", "seconds": seconds}:
                    await asyncio.sleep(seconds)
                case _:
                    pass
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_sync_and_async_function_sharing_import_time_keep_it():
    before = dedent(
        """\
        import time


        def wait():
            time.sleep(1)


        async def wait_async():
            time.sleep(1)
        """
    )
    after = dedent(
        """\
        import asyncio
        import time


        def wait():
            time.sleep(1)


        async def wait_async():
            await asyncio.sleep(1)
        """
    )
    assert_transforms(AsyncSleep, before, after)


# ---------------------------------------------------------------------------------------
# Rewrites: the text of the call
# ---------------------------------------------------------------------------------------


def test_argument_spacing_and_trailing_comment_are_kept_byte_for_byte():
    before = dedent(
        """\
        import time


        async def f():
            time.sleep(  0.5 )  # wait
        """
    )
    after = dedent(
        """\
        import asyncio


        async def f():
            await asyncio.sleep(  0.5 )  # wait
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_multiline_arguments_with_comment_are_kept_byte_for_byte():
    before = dedent(
        """\
        import time


        async def f(delay):
            time.sleep(
                delay,  # seconds
            )
        """
    )
    after = dedent(
        """\
        import asyncio


        async def f(delay):
            await asyncio.sleep(
                delay,  # seconds
            )
        """
    )
    assert_transforms(AsyncSleep, before, after)


_ONE_LINE_MODULE = dedent(
    """\
    import {module}


    async def f(x):
        {line}
    """
)


@pytest.mark.parametrize(
    ("line", "rewritten"),
    [
        pytest.param(
            "return time.sleep(1).real",
            "return (await asyncio.sleep(1)).real",
            id="attribute-access",
        ),
        pytest.param(
            "return time.sleep(1)[0]",
            "return (await asyncio.sleep(1))[0]",
            id="subscript",
        ),
        pytest.param(
            "return time.sleep(1)()",
            "return (await asyncio.sleep(1))()",
            id="called",
        ),
        pytest.param(
            "return time.sleep(1).hex()",
            "return (await asyncio.sleep(1)).hex()",
            id="method-call",
        ),
        pytest.param(
            "result = time.sleep(x)",
            "result = await asyncio.sleep(x)",
            id="assignment",
        ),
        pytest.param(
            "return time.sleep(x)",
            "return await asyncio.sleep(x)",
            id="return",
        ),
        pytest.param(
            "print(time.sleep(x))",
            "print(await asyncio.sleep(x))",
            id="argument",
        ),
        pytest.param(
            "return time.sleep(x) is None",
            "return await asyncio.sleep(x) is None",
            id="comparison",
        ),
        pytest.param(
            "return not time.sleep(x)",
            "return not await asyncio.sleep(x)",
            id="not",
        ),
        pytest.param(
            "return x if x else time.sleep(1)",
            "return x if x else await asyncio.sleep(1)",
            id="conditional-expression",
        ),
        pytest.param(
            "return [time.sleep(1), time.sleep(2)]",
            "return [await asyncio.sleep(1), await asyncio.sleep(2)]",
            id="list-display",
        ),
        pytest.param(
            "return time.sleep(x) ** 2",
            "return await asyncio.sleep(x) ** 2",
            id="power-binds-looser-than-await",
        ),
    ],
)
def test_parentheses_only_when_the_call_is_an_attribute_subscript_or_callee(line, rewritten):
    before = _ONE_LINE_MODULE.format(module="time", line=line)
    after = _ONE_LINE_MODULE.format(module="asyncio", line=rewritten)
    assert_transforms(AsyncSleep, before, after)


def test_crlf_line_endings_are_kept_when_import_is_replaced():
    before = dedent(
        """\
        import time


        async def f():
            time.sleep(1)
        """
    ).replace("\n", "\r\n")
    after = dedent(
        """\
        import asyncio


        async def f():
            await asyncio.sleep(1)
        """
    ).replace("\n", "\r\n")
    assert_transforms(AsyncSleep, before, after)


def test_crlf_line_endings_are_used_for_an_inserted_import():
    before = dedent(
        """\
        import os
        import time


        async def f():
            time.sleep(1)
            return os.sep
        """
    ).replace("\n", "\r\n")
    after = dedent(
        """\
        import asyncio
        import os


        async def f():
            await asyncio.sleep(1)
            return os.sep
        """
    ).replace("\n", "\r\n")
    assert_transforms(AsyncSleep, before, after)


# ---------------------------------------------------------------------------------------
# Rewrites: reusing, adding and removing imports
# ---------------------------------------------------------------------------------------


def test_existing_import_asyncio_is_reused():
    before = dedent(
        """\
        import asyncio
        import time


        async def f():
            time.sleep(1)
            await asyncio.sleep(0)
        """
    )
    after = dedent(
        """\
        import asyncio


        async def f():
            await asyncio.sleep(1)
            await asyncio.sleep(0)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_existing_import_asyncio_as_aio_is_reused():
    before = dedent(
        """\
        import asyncio as aio
        import time


        async def f():
            time.sleep(1)
        """
    )
    after = dedent(
        """\
        import asyncio as aio


        async def f():
            await aio.sleep(1)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_json_time_requests_example_keeps_import_time_still_used_by_time_time():
    before = dedent(
        """\
        import json
        import time

        import requests


        async def f():
            time.sleep(1)
            return time.time()
        """
    )
    after = dedent(
        """\
        import asyncio
        import json
        import time

        import requests


        async def f():
            await asyncio.sleep(1)
            return time.time()
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_import_os_comma_time_drops_only_time():
    before = dedent(
        """\
        import os, time


        async def f():
            time.sleep(1)
            return os.getcwd()
        """
    )
    after = dedent(
        """\
        import asyncio
        import os


        async def f():
            await asyncio.sleep(1)
            return os.getcwd()
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_from_time_import_sleep_and_time_keeps_time():
    before = dedent(
        """\
        from time import sleep, time


        async def f():
            sleep(1)
            return time()
        """
    )
    after = dedent(
        """\
        import asyncio
        from time import time


        async def f():
            await asyncio.sleep(1)
            return time()
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_from_time_import_with_sleep_last_drops_the_dangling_comma():
    before = dedent(
        """\
        from time import monotonic, sleep


        async def f():
            started = monotonic()
            sleep(1)
            return monotonic() - started
        """
    )
    after = dedent(
        """\
        import asyncio
        from time import monotonic


        async def f():
            started = monotonic()
            await asyncio.sleep(1)
            return monotonic() - started
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_import_time_already_unused_before_is_not_touched():
    before = dedent(
        """\
        import time
        from time import sleep


        async def f():
            sleep(1)
        """
    )
    after = dedent(
        """\
        import asyncio
        import time


        async def f():
            await asyncio.sleep(1)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_comment_above_removed_import_moves_to_the_next_statement():
    before = dedent(
        """\
        import os
        # timing helpers
        import time
        import sys


        async def f():
            time.sleep(1)
        """
    )
    after = dedent(
        """\
        import asyncio
        import os
        # timing helpers
        import sys


        async def f():
            await asyncio.sleep(1)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_removed_import_time_after_earlier_sorting_import_becomes_import_asyncio():
    before = dedent(
        """\
        import ast
        import time


        async def f(tree):
            time.sleep(1)
            return ast.dump(tree)
        """
    )
    after = dedent(
        """\
        import ast
        import asyncio


        async def f(tree):
            await asyncio.sleep(1)
            return ast.dump(tree)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_new_import_goes_after_last_plain_stdlib_import_when_none_sorts_after_asyncio():
    before = dedent(
        """\
        import abc
        import ast
        from time import sleep


        async def f():
            sleep(1)
        """
    )
    after = dedent(
        """\
        import abc
        import ast
        import asyncio


        async def f():
            await asyncio.sleep(1)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_new_import_goes_before_first_stdlib_from_import_when_no_plain_stdlib_import():
    before = dedent(
        """\
        from pathlib import Path
        from time import sleep

        from fastapi import FastAPI


        async def f(path: Path, app: FastAPI):
            sleep(1)
        """
    )
    after = dedent(
        """\
        import asyncio
        from pathlib import Path

        from fastapi import FastAPI


        async def f(path: Path, app: FastAPI):
            await asyncio.sleep(1)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_new_import_goes_before_third_party_imports_with_a_blank_line_when_no_stdlib():
    before = dedent(
        """\
        import requests

        from app import settings


        async def fetch(url):
            import time
            time.sleep(settings.delay)
            return requests.get(url), time.time()
        """
    )
    after = dedent(
        """\
        import asyncio

        import requests

        from app import settings


        async def fetch(url):
            import time
            await asyncio.sleep(settings.delay)
            return requests.get(url), time.time()
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_new_import_goes_after_docstring_and_future_import_when_no_other_imports():
    before = dedent(
        '''\
        """Background jobs."""

        from __future__ import annotations


        async def job():
            import time
            time.sleep(1)
            return time.time()
        '''
    )
    after = dedent(
        '''\
        """Background jobs."""

        from __future__ import annotations

        import asyncio


        async def job():
            import time
            await asyncio.sleep(1)
            return time.time()
        '''
    )
    assert_transforms(AsyncSleep, before, after)


def test_new_import_goes_at_the_very_top_of_a_module_without_imports():
    before = dedent(
        """\
        async def job():
            import time
            time.sleep(1)
            return time.time()
        """
    )
    after = dedent(
        """\
        import asyncio


        async def job():
            import time
            await asyncio.sleep(1)
            return time.time()
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_new_import_goes_before_stdlib_imports_after_future_import():
    before = dedent(
        """\
        from __future__ import annotations

        import os
        import time


        async def f():
            time.sleep(1)
            return os.sep
        """
    )
    after = dedent(
        """\
        from __future__ import annotations

        import asyncio
        import os


        async def f():
            await asyncio.sleep(1)
            return os.sep
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_comment_above_anchor_import_stays_above_the_new_import():
    before = dedent(
        '''\
        """Service."""

        # Standard library
        import os
        import time


        async def f():
            time.sleep(1)
            return os.sep
        '''
    )
    after = dedent(
        '''\
        """Service."""

        # Standard library
        import asyncio
        import os


        async def f():
            await asyncio.sleep(1)
            return os.sep
        '''
    )
    assert_transforms(AsyncSleep, before, after)


def test_import_time_after_docstring_is_replaced_in_place():
    before = dedent(
        '''\
        """Worker."""

        import time


        async def work():
            time.sleep(1)
        '''
    )
    after = dedent(
        '''\
        """Worker."""

        import asyncio


        async def work():
            await asyncio.sleep(1)
        '''
    )
    assert_transforms(AsyncSleep, before, after)


# ---------------------------------------------------------------------------------------
# Left alone: the call does not run on the event loop
# ---------------------------------------------------------------------------------------


def test_sync_def_keeps_blocking_sleep():
    source = dedent(
        """\
        import time


        def f():
            time.sleep(1)
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_sync_method_keeps_blocking_sleep():
    source = dedent(
        """\
        import time


        class Worker:
            def run(self):
                time.sleep(1)
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_from_time_import_sleep_in_sync_def_keeps_blocking_sleep():
    source = dedent(
        """\
        from time import sleep


        def f():
            sleep(1)
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_module_level_sleep_is_left_alone():
    source = dedent(
        """\
        import time

        time.sleep(1)
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_nested_sync_def_keeps_blocking_sleep():
    source = dedent(
        """\
        import time


        async def f(loop):
            def blocking():
                time.sleep(1)

            await loop.run_in_executor(None, blocking)
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_nested_sync_def_in_async_method_keeps_blocking_sleep():
    source = dedent(
        """\
        import time


        class Worker:
            async def run(self, loop):
                def blocking():
                    time.sleep(1)

                await loop.run_in_executor(None, blocking)
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_lambda_in_async_def_keeps_blocking_sleep():
    source = dedent(
        """\
        import time


        async def f(loop):
            await loop.run_in_executor(None, lambda: time.sleep(1))
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_class_body_nested_in_async_def_keeps_blocking_sleep():
    source = dedent(
        """\
        import time


        async def f():
            class Pause:
                time.sleep(1)

            return Pause
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_list_comprehension_in_sync_def_keeps_blocking_sleep():
    source = dedent(
        """\
        import time


        def f(delays):
            return [time.sleep(d) for d in delays]
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_default_argument_of_async_def_is_evaluated_outside_it():
    source = dedent(
        """\
        import time


        async def f(delay=time.sleep(0)):
            return delay
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_decorator_argument_of_async_def_is_evaluated_outside_it():
    source = dedent(
        """\
        import time


        @register(time.sleep(0))
        async def f():
            return 1
        """
    )
    assert_unchanged(AsyncSleep, source)


# ---------------------------------------------------------------------------------------
# Left alone: not a call of time.sleep
# ---------------------------------------------------------------------------------------


def test_sleep_passed_to_run_in_executor_is_not_a_call():
    source = dedent(
        """\
        import time


        async def f(loop):
            await loop.run_in_executor(None, time.sleep, 1)
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_sleep_passed_to_to_thread_is_not_a_call():
    source = dedent(
        """\
        import asyncio
        import time


        async def f():
            await asyncio.to_thread(time.sleep, 1)
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_local_function_called_sleep_is_not_time_sleep():
    source = dedent(
        """\
        import time


        def sleep(seconds):
            time.sleep(seconds)


        async def f():
            sleep(1)
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_local_class_called_time_is_not_the_time_module():
    source = dedent(
        """\
        class time:
            @staticmethod
            def sleep(seconds):
                return seconds


        async def f():
            time.sleep(1)
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_parameter_called_time_shadows_the_module():
    source = dedent(
        """\
        import time


        async def f(time):
            time.sleep(1)
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_local_variable_called_time_shadows_the_module():
    source = dedent(
        """\
        import time


        async def f(clock):
            time = clock
            time.sleep(1)
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_local_variable_called_sleep_shadows_the_import():
    source = dedent(
        """\
        from time import sleep


        async def f(make_sleeper):
            sleep = make_sleeper()
            sleep(1)
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_sleep_imported_from_another_module_is_left_alone():
    source = dedent(
        """\
        from gevent import sleep


        async def f():
            sleep(1)
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_undefined_sleep_without_import_is_left_alone():
    source = dedent(
        """\
        async def f():
            sleep(1)
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_attribute_called_time_on_self_is_not_the_module():
    source = dedent(
        """\
        import time


        class Worker:
            async def run(self):
                self.time.sleep(1)
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_asyncio_sleep_is_already_fine():
    source = dedent(
        """\
        import asyncio


        async def f():
            await asyncio.sleep(1)
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_time_time_in_async_def_is_left_alone():
    source = dedent(
        """\
        import time


        async def f():
            return time.time()
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_sleep_with_keyword_argument_is_left_alone():
    source = dedent(
        """\
        import time


        async def f():
            time.sleep(secs=1)
        """
    )
    assert_unchanged(AsyncSleep, source)


def test_sleep_mentioned_in_string_and_comment_is_left_alone():
    source = dedent(
        """\
        import time


        async def f():
            # time.sleep(1) would block here
            return "time.sleep(1)", time.monotonic()
        """
    )
    assert_unchanged(AsyncSleep, source)


# ---------------------------------------------------------------------------------------
# Findings: reported, not rewritten
# ---------------------------------------------------------------------------------------


def test_generator_expression_in_async_def_is_a_finding_not_a_rewrite():
    source = dedent(
        """\
        import time


        async def f(items):
            return list(time.sleep(i) for i in items)
        """
    )
    assert_unchanged(AsyncSleep, source)
    findings = findings_for(AsyncSleep, source)
    assert [line for line, _ in findings] == [5]
    assert "generator expression" in findings[0][1]


def test_generator_expression_finding_does_not_block_other_rewrites():
    before = dedent(
        """\
        import time


        async def f(items):
            time.sleep(1)
            return list(time.sleep(i) for i in items)
        """
    )
    after = dedent(
        """\
        import asyncio
        import time


        async def f(items):
            await asyncio.sleep(1)
            return list(time.sleep(i) for i in items)
        """
    )
    assert_transforms(AsyncSleep, before, after)
    findings = findings_for(AsyncSleep, before)
    assert [line for line, _ in findings] == [6]
    assert "generator expression" in findings[0][1]


def test_generator_expression_in_sync_def_is_not_a_finding():
    source = dedent(
        """\
        import time


        def f(items):
            return list(time.sleep(i) for i in items)
        """
    )
    assert_unchanged(AsyncSleep, source)
    assert findings_for(AsyncSleep, source) == []


def test_parameter_called_asyncio_is_a_finding_not_a_rewrite():
    source = dedent(
        """\
        import time


        async def f(asyncio):
            time.sleep(1)
        """
    )
    assert_unchanged(AsyncSleep, source)
    findings = findings_for(AsyncSleep, source)
    assert [line for line, _ in findings] == [5]
    assert "asyncio" in findings[0][1]


def test_local_variable_called_asyncio_is_a_finding_not_a_rewrite():
    source = dedent(
        """\
        import time


        async def f(helpers):
            asyncio = helpers.asyncio
            time.sleep(1)
        """
    )
    assert_unchanged(AsyncSleep, source)
    findings = findings_for(AsyncSleep, source)
    assert [line for line, _ in findings] == [6]
    assert "asyncio" in findings[0][1]


def test_clean_rewrite_reports_no_finding():
    source = dedent(
        """\
        import time


        async def f():
            time.sleep(1)
        """
    )
    assert findings_for(AsyncSleep, source) == []


def test_sync_def_sleep_reports_no_finding():
    source = dedent(
        """\
        import time


        def f():
            time.sleep(1)
        """
    )
    assert findings_for(AsyncSleep, source) == []


def test_comment_above_first_statement_stays_with_it_when_the_first_import_is_added():
    before = dedent(
        '''\
        """Background jobs."""

        # The job runner.
        async def job():
            import time
            time.sleep(1)
            return time.time()
        '''
    )
    after = dedent(
        '''\
        """Background jobs."""

        import asyncio


        # The job runner.
        async def job():
            import time
            await asyncio.sleep(1)
            return time.time()
        '''
    )
    assert_transforms(AsyncSleep, before, after)


def test_import_that_is_the_only_statement_of_its_block_stays():
    before = dedent(
        """\
        async def f():
            try:
                import time
            except ImportError:
                raise
            time.sleep(1)
        """
    )
    after = dedent(
        """\
        import asyncio


        async def f():
            try:
                import time
            except ImportError:
                raise
            await asyncio.sleep(1)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_import_in_a_nested_block_with_company_is_removed():
    before = dedent(
        """\
        async def f(debug):
            if debug:
                import time
                print("debugging")
                time.sleep(1)
        """
    )
    after = dedent(
        """\
        import asyncio


        async def f(debug):
            if debug:
                print("debugging")
                await asyncio.sleep(1)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_asyncio_imported_only_for_type_checking_is_not_trusted():
    before = dedent(
        """\
        import time
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            import asyncio


        async def f():
            time.sleep(1)
        """
    )
    after = dedent(
        """\
        import asyncio
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            import asyncio


        async def f():
            await asyncio.sleep(1)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_asyncio_imported_later_in_the_same_function_is_a_finding():
    source = dedent(
        """\
        import time


        async def f():
            time.sleep(1)
            import asyncio
        """
    )
    assert_unchanged(AsyncSleep, source)
    [(line, message)] = findings_for(AsyncSleep, source)
    assert line == 5
    assert "asyncio" in message


def test_already_awaited_sleep_gets_only_its_callee_replaced():
    before = dedent(
        """\
        import time


        async def f():
            await time.sleep(1)
        """
    )
    after = dedent(
        """\
        import asyncio


        async def f():
            await asyncio.sleep(1)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_import_reexported_through_dunder_all_stays():
    before = dedent(
        """\
        from time import sleep

        __all__ = ["sleep", "f"]


        async def f():
            sleep(1)
        """
    )
    after = dedent(
        """\
        import asyncio
        from time import sleep

        __all__ = ["sleep", "f"]


        async def f():
            await asyncio.sleep(1)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_comments_above_two_removed_imports_keep_their_order():
    before = dedent(
        """\
        import os
        # c1
        import time
        # c2
        from time import sleep
        x = os


        async def f():
            time.sleep(1)
            sleep(2)
        """
    )
    after = dedent(
        """\
        import asyncio
        import os
        # c1
        # c2
        x = os


        async def f():
            await asyncio.sleep(1)
            await asyncio.sleep(2)
        """
    )
    assert_transforms(AsyncSleep, before, after)


def test_sleep_in_an_annotation_is_left_alone():
    assert_unchanged(
        AsyncSleep,
        dedent(
            """\
            from __future__ import annotations

            import time


            async def f():
                def g(x: time.sleep(1)) -> None: ...

                y: time.sleep(1) = 3
                return g, y
            """
        ),
    )


def test_message_names_the_existing_alias():
    source = "import asyncio as aio\nimport time\n\n\nasync def f():\n    time.sleep(1)\n"
    from vibefix.engine.run import run_source

    result = run_source(source.encode(), [AsyncSleep])
    assert [edit.reason for edit in result.edits if not edit.import_only] == [
        "time.sleep blocks the event loop: await aio.sleep"
    ]
