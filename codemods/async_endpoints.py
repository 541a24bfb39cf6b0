"""VF103: ``def`` route handlers and dependencies -> ``async def`` when nothing blocks."""

from __future__ import annotations

import libcst as cst

from vibefix.calls.rewrite import ASYNC_CODE, AsyncCodemod
from vibefix.calls.roles import Role
from vibefix.codemod import PlanPart
from vibefix.results import Safety


class AsyncEndpoints(AsyncCodemod[PlanPart]):
    """Make `def` route handlers and dependencies `async def` once nothing in them blocks.

    Why: FastAPI runs a `def` handler in a thread pool of 40 threads; under load, requests
    queue for a thread. Once the handler's blocking calls have async twins (`requests` ->
    httpx, `time.sleep` -> `asyncio.sleep`) or run in a thread of their own, it can run on
    the event loop and serve hundreds of requests at once.

    Example:

        @router.get("/rates")             ->    @router.get("/rates")
        def rates():                      ->    async def rates():
            time.sleep(0.1)               ->        await asyncio.sleep(0.1)

    Safety: review (made with `--unsafe`; reported otherwise). The handler becomes async
    only when every call left in it is known not to block: the blocking-call table says
    so, or it is awaited, or it is a project function that does not block. But code that
    ran in a worker thread now runs on the event loop, one task at a time: shared state it
    mutates is no longer raced by other threads, and a CPU-heavy handler now delays
    every other request.

    Not rewritten: reported when the handler had something to gain: a handler that still
    calls something blocking with no rewrite (a sync SQLAlchemy session), or something
    vibefix cannot classify (declare it in `[tool.vibefix.blocking]`); a handler with
    decorators other than FastAPI's; a handler that other code also calls in a sync way.
    A `def` handler with nothing blocking to replace stays `def`: nothing would be gained.
    """

    code = "VF103"
    role = Role.ENDPOINTS
    safety = Safety.REVIEW
    follows_plan = True
    seeds = (ASYNC_CODE,)
    linked = True

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        key = self.key(node)
        asyncs = self.asyncs
        if key in asyncs.becomes_async and key in asyncs.entry_points:
            self.make_async(node, "nothing in this handler blocks any more: make it async")
