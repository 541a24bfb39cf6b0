"""VF104: functions made async become ``async def`` and are awaited at every call site."""

from __future__ import annotations

import libcst as cst

from vibefix.calls.rewrite import ASYNC_CODE, AsyncCodemod
from vibefix.calls.roles import Role
from vibefix.codemod import PlanPart


class AwaitPropagation(AsyncCodemod[PlanPart]):
    """Make helpers async when their blocking calls get async twins; await them everywhere.

    Why: a helper that calls `requests` or `time.sleep` blocks the event loop of every
    async handler that calls it. Once its calls are rewritten it must be `async def`,
    and every call of it awaited: in the handlers and helpers that call it, which become
    async in turn, across modules, up to FastAPI.

    Example:

        def fetch_rate(c):                ->    async def fetch_rate(c):
            time.sleep(0.1)               ->        await asyncio.sleep(0.1)
        @app.get("/")
        async def home():
            return fetch_rate("EUR")      ->        return await fetch_rate("EUR")

    The project's own tests that call such a function become async tests, marked as the
    project already marks them (`@pytest.mark.asyncio` or `@pytest.mark.anyio`). In a
    project with no async-test plugin, a sync test or fixture runs the call on an event
    loop of its own, `asyncio.run(f(...))`, and stays a plain `def` (pytest calls them
    with no loop running). Tests that go through `TestClient` need no change.

    Safety: safe. The plan makes a function async only when every caller can await it
    (async callers, callers that become async, FastAPI for handlers and dependencies,
    pytest for tests when an async-test plugin is in use, `asyncio.run` in sync tests
    and fixtures), so no caller is left with an un-awaited coroutine.

    Not rewritten: a finding names the caller that holds it back: a helper called from
    sync code that stays sync (a script, a thread target, module-level code, a helper of
    the test suite that pytest does not call itself), used as a
    value (a callback, `Thread(target=...)`), called from files outside the paths given,
    decorated, a generator, or a special method.
    """

    code = "VF104"
    role = Role.PROPAGATION
    follows_plan = True
    seeds = (ASYNC_CODE,)
    linked = True

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        key = self.key(node)
        asyncs = self.asyncs
        if key not in asyncs.becomes_async or key in asyncs.entry_points:
            return
        if key not in asyncs.tests:
            self.make_async(node, "its blocking calls are rewritten to async ones: make it async")
            return
        marker = asyncs.test_marks.get(key, "asyncio")
        mark = f"pytest.mark.{marker}"
        pytest = self.file.imports.module_alias(node, "pytest")
        if pytest is None:
            self.report(
                node,
                "this test calls a function made async, but `pytest` means"
                " something else here: make it an async test by hand",
            )
            return
        marked = key in asyncs.marked_tests
        decorator = cst.Decorator(cst.parse_expression(f"{pytest.name}.mark.{marker}"))

        def to_async_test(updated: cst.FunctionDef) -> cst.FunctionDef:
            decorators = list(updated.decorators) if marked else [*updated.decorators, decorator]
            return updated.with_changes(asynchronous=cst.Asynchronous(), decorators=decorators)

        self.replace(
            node,
            to_async_test,
            f"it calls a function made async: an async test ({mark})",
            needs=pytest.needs,
        )

    def visit_Call(self, node: cst.Call) -> None:
        super().visit_Call(node)
        if self.key(node) in self.asyncs.runs and not self.async_after:
            self.run_apart(node, "sync test code runs a function now async on a loop of its own")
            return
        if (
            self.key(node) in self.asyncs.awaits
            and not self.is_awaited(node)
            and self.async_after  # the plan never asks otherwise; a guard, not a rule
        ):
            self.replace(node, self.awaiting(node), "await a function that is now async")
