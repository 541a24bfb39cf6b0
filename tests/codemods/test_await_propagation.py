"""VF104 (await-propagation): helpers whose blocking calls get async twins become async,
and every call of them is awaited, up to FastAPI."""

from textwrap import dedent

from vibefix.codemods.await_propagation import AwaitPropagation

from tests.codemods.helpers import assert_transforms, assert_unchanged, findings_for, upto

VF104 = upto(AwaitPropagation)

# ---------------------------------------------------------------------------------------
# Rewrites
# ---------------------------------------------------------------------------------------


def test_helper_that_sleeps_becomes_async_and_its_async_caller_awaits_it():
    before = dedent(
        """\
        import time


        def backoff(attempt):
            time.sleep(0.1 * attempt)


        async def retry():
            for attempt in range(3):
                backoff(attempt)
        """
    )
    after = dedent(
        """\
        import asyncio


        async def backoff(attempt):
            await asyncio.sleep(0.1 * attempt)


        async def retry():
            for attempt in range(3):
                await backoff(attempt)
        """
    )
    assert_transforms(VF104, before, after)


def test_chain_of_sync_helpers_up_to_a_def_handler_becomes_async():
    before = dedent(
        """\
        import time

        from fastapi import FastAPI

        app = FastAPI()


        def wait_for_stock():
            time.sleep(0.01)


        def reserve(item):
            wait_for_stock()
            return {"item": item}


        @app.post("/reserve/{item}")
        def reserve_item(item: str):
            return reserve(item)
        """
    )
    after = dedent(
        """\
        import asyncio

        from fastapi import FastAPI

        app = FastAPI()


        async def wait_for_stock():
            await asyncio.sleep(0.01)


        async def reserve(item):
            await wait_for_stock()
            return {"item": item}


        @app.post("/reserve/{item}")
        async def reserve_item(item: str):
            return await reserve(item)
        """
    )
    assert_transforms(VF104, before, after)


def test_awaited_result_used_as_an_object_gets_parentheses():
    before = dedent(
        """\
        import time


        def fetch_name():
            time.sleep(0.1)
            return "ada"


        async def shout():
            return fetch_name().upper()
        """
    )
    after = dedent(
        """\
        import asyncio


        async def fetch_name():
            await asyncio.sleep(0.1)
            return "ada"


        async def shout():
            return (await fetch_name()).upper()
        """
    )
    assert_transforms(VF104, before, after)


def test_method_called_through_self_becomes_async_with_its_caller():
    before = dedent(
        """\
        import time


        class Client:
            def pause(self):
                time.sleep(0.1)

            async def fetch(self):
                self.pause()
                return 1
        """
    )
    after = dedent(
        """\
        import asyncio


        class Client:
            async def pause(self):
                await asyncio.sleep(0.1)

            async def fetch(self):
                await self.pause()
                return 1
        """
    )
    assert_transforms(VF104, before, after)


# ---------------------------------------------------------------------------------------
# Left alone
# ---------------------------------------------------------------------------------------


def test_helper_also_called_from_a_sync_script_stays_sync_and_names_the_caller():
    # It stays sync; its async caller runs it in a thread instead (VF102).
    before = dedent(
        """\
        import time


        def backoff():
            time.sleep(0.1)


        async def retry():
            backoff()


        def main():
            backoff()
        """
    )
    after = dedent(
        """\
        import asyncio
        import time


        def backoff():
            time.sleep(0.1)


        async def retry():
            await asyncio.to_thread(backoff)


        def main():
            backoff()
        """
    )
    assert_transforms(VF104, before, after)
    assert findings_for(VF104, before) == [
        (
            4,
            "`backoff` stays sync, so its blocking calls stay: it is called from sync code in"
            " `main` at example.py:13",
        )
    ]


def test_helper_used_as_a_thread_target_stays_sync():
    source = dedent(
        """\
        import threading
        import time


        def tick():
            time.sleep(1)


        async def start():
            threading.Thread(target=tick).start()
        """
    )
    assert_unchanged(VF104, source)
    assert findings_for(VF104, source) == []  # nothing to gain: no caller awaits it
    source += "\n\nasync def once():\n    return tick()\n"
    assert findings_for(VF104[:-1], source) == []
    assert findings_for(VF104, source)[0] == (
        5,
        "`tick` stays sync, so its blocking calls stay: it is used as a value at example.py:10,"
        " not called",
    )


def test_helper_called_at_module_level_stays_sync():
    source = dedent(
        """\
        import time


        def warm_up():
            time.sleep(0.1)


        async def handler():
            return 1 + warm_up()


        warm_up()
        """
    )
    assert "called from module-level code at example.py:12" in findings_for(VF104, source)[0][1]


def test_generator_helper_stays_sync():
    assert_unchanged(
        VF104,
        dedent(
            """\
            import time


            def ticks():
                while True:
                    time.sleep(1)
                    yield 1


            async def first():
                return next(ticks())
            """
        ),
    )


def test_helper_without_callers_stays_sync_silently():
    source = dedent(
        """\
        import time


        def unused():
            time.sleep(1)
        """
    )
    assert_unchanged(VF104, source)
    assert findings_for(VF104, source) == []


def test_helper_called_inside_a_lambda_stays_sync():
    source = dedent(
        """\
        import time


        def slow():
            time.sleep(1)
            return 1


        async def later(schedule):
            schedule(lambda: slow())
        """
    )
    assert_unchanged(VF104, source)
    assert (
        "is in a lambda, a generator expression or a class body"
        in findings_for(VF104, source)[0][1]
    )


def test_method_also_called_on_an_object_of_unknown_type_stays_sync():
    source = dedent(
        """\
        import time


        class Client:
            def pause(self):
                time.sleep(0.1)

            async def fetch(self):
                self.pause()


        def somewhere(client):
            client.pause()
        """
    )
    assert findings_for(VF104, source)[0] == (
        5,
        "`pause` stays sync, so its blocking calls stay: `.pause()` is called at"
        " example.py:13 on an object whose type vibefix cannot tell",
    )
