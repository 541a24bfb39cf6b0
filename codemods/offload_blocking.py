"""VF102: blocking calls with no async twin in async code -> ``await run_in_threadpool``."""

from __future__ import annotations

import libcst as cst

from vibefix.calls.rewrite import ASYNC_CODE, AsyncCodemod
from vibefix.calls.roles import Role
from vibefix.codemod import NeededName, PlanPart
from vibefix.config import Config
from vibefix.engine.imports import ModuleAlias
from vibefix.results import Blocking


class OffloadBlocking(AsyncCodemod[PlanPart]):
    """Run blocking calls that have no async twin in a worker thread, in async functions.

    Why: inside an `async def`, a blocking call (`subprocess.run`, `open`, `shutil.copy`,
    `Path.read_text`, a sync SDK, a project function that blocks) freezes the event loop
    for as long as it runs. `run_in_threadpool` runs it in FastAPI's thread pool (the
    one that serves plain `def` handlers) and awaits the result.

    Example:

        async def export(path):
            data = path.read_text()       ->    data = await run_in_threadpool(path.read_text)
            subprocess.run(["sync"])      ->    await run_in_threadpool(subprocess.run, ["sync"])

    The function and its arguments are passed separately (no lambda); arguments are
    evaluated before the call, as before. `from fastapi.concurrency import
    run_in_threadpool` is added where it is missing; a project that does not use FastAPI
    gets `await asyncio.to_thread(func, *args)` instead. What counts as blocking is the
    blocking-call table, which `[tool.vibefix.blocking]` extends (`"paylib.Charge.create" =
    "offload"`).

    Safety: safe. The call runs as before, in another thread; other requests are served
    meanwhile. Code that relied on thread-local state (rare) sees a different thread.

    Not rewritten: reported instead: a call whose result is used in place (`with
    open(p) as f`, `open(p).read()`): move that code into a sync function and offload it;
    blocking calls with no rewrite at all (a sync SQLAlchemy session in an `async def`:
    see `--recipe async-db`); calls in lambdas and generator expressions. Calls in sync
    functions are left alone: they already run in a thread when FastAPI calls them.
    """

    code = "VF102"
    role = Role.OFFLOAD
    follows_plan = True
    seeds = (ASYNC_CODE,)
    verifies = Blocking.OTHER
    verify_hint = "run it in a worker thread"
    # An import of a module of the shipped table, the builtin `open(` or a `Path` I/O
    # method, in a file with an `async def`. (Other blocking calls, such as a project's
    # own blocking helpers, are offloaded in every file the plan reads.)
    triggers = (
        r"(?m:^[ \t]*(?:import|from)[ \t]+(?:subprocess|shutil|socket|smtplib|sqlite3|psycopg2?"
        r"|pymysql|MySQLdb|redis|boto3|urllib\.request)\b)"
        r"|(?<![\w.])open\(|\.(?:read_text|read_bytes|write_text|write_bytes)\(",
        ASYNC_CODE,
    )

    @classmethod
    def needed_names(cls, config: Config) -> tuple[NeededName, ...]:
        # ``run_in_threadpool`` in a FastAPI project, ``asyncio.to_thread`` elsewhere.
        return (
            NeededName("asyncio", "asyncio"),
            NeededName("run_in_threadpool", "fastapi.concurrency", "run_in_threadpool"),
        )

    def visit_Call(self, node: cst.Call) -> None:
        super().visit_Call(node)
        if self.key(node) not in self.asyncs.offloads or not self.async_after:
            return
        if self.asyncs.fastapi:
            runner = self.file.imports.name_alias(node, "fastapi.concurrency", "run_in_threadpool")
            name = "run_in_threadpool"
        else:
            asyncio = self.file.imports.module_alias(node, "asyncio")
            runner = asyncio and ModuleAlias(f"{asyncio.name}.to_thread", asyncio.needs)
            name = "asyncio"
        if runner is None:
            self.report(
                node,
                f"this call blocks the event loop, but the name `{name}` means something else"
                " here: offload it by hand",
            )
            return
        await_ = self.awaiting(node)

        def rewrite(updated: cst.Call) -> cst.Await:
            function = cst.Arg(updated.func)
            if updated.args:
                function = function.with_changes(
                    comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
                )
            offloaded = cst.Call(
                func=cst.parse_expression(runner.name),
                args=[function, *updated.args],
                lpar=updated.lpar,
                rpar=updated.rpar,
            )
            return await_(offloaded)

        self.replace(
            node,
            rewrite,
            "a blocking call in async code: run it in a thread",
            needs=runner.needs,
            blocking=self.asyncs.blocking.get(self.key(node)),
        )
