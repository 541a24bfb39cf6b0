"""VF100: ``time.sleep`` in async code -> ``await asyncio.sleep``."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import QualifiedNameProvider, ScopeProvider

from vibefix.calls.rewrite import AsyncCodemod
from vibefix.calls.roles import Role
from vibefix.codemod import Codemod, NeededName, PlanPart
from vibefix.config import Config
from vibefix.cst.names import base_name, imported_as
from vibefix.cst.scope import ScopeKind
from vibefix.results import Blocking


class AsyncSleep(AsyncCodemod[PlanPart]):
    """Replace `time.sleep(x)` in async functions with `await asyncio.sleep(x)`.

    Why: `time.sleep` inside an `async def` freezes the event loop: no other request is
    served until it returns. `asyncio.sleep` suspends only the current task.

    Example:

        async def poll():
            time.sleep(0.5)              ->    await asyncio.sleep(0.5)

    Every import spelling is recognised (`import time as t`, `from time import sleep as
    snooze`); `import asyncio` is added where it is missing, and the `time` import is
    removed once nothing else uses it.

    Safety: safe. The task still waits as long; other tasks now run meanwhile, and the
    wait may be cancelled, which is what an async server expects.

    Not rewritten: sleeps whose innermost scope is a sync `def` that stays sync (VF103 and
    VF104 decide which become async), a `lambda` or a class body (they may run in a
    thread, where blocking is right), and sleeps in annotations;
    `time.sleep` passed as a value (`run_in_executor(None, time.sleep, 1)`); a local `sleep`
    or `time` that is not the standard library's. Reported, not rewritten: a sleep inside a
    generator expression (awaiting there would turn it into an async generator) and a sleep
    where the name `asyncio` means something else.
    """

    code = "VF100"
    role = Role.TWIN
    # Its trigger adds candidates; it also visits every file the plan reads, where a
    # function made async may sleep behind an import spelling the trigger misses.
    follows_plan = True
    verifies = Blocking.SLEEP
    verify_hint = "time.sleep: `await asyncio.sleep` instead"
    # The real precondition: the file imports the time module or its sleep, and says
    # ``sleep`` somewhere (``sleep`` alone would match every ``asyncio.sleep``).
    triggers = (
        r"(?m:^[ \t]*(?:import\b[^\n#]*\btime\b|from[ \t]+time[ \t]+import\b[^#]*?\bsleep\b))",
        r"\bsleep\b",
    )
    METADATA_DEPENDENCIES = (
        *Codemod.METADATA_DEPENDENCIES,
        QualifiedNameProvider,
        ScopeProvider,
    )

    @classmethod
    def needed_names(cls, config: Config) -> tuple[NeededName, ...]:
        return (NeededName("asyncio", "asyncio"),)

    def visit_Call(self, node: cst.Call) -> None:
        super().visit_Call(node)
        if not imported_as(self, node.func, "time.sleep"):
            return
        if self.innermost_scope is ScopeKind.GENERATOR and self._inside_async():
            self.report(
                node,
                "time.sleep blocks the event loop inside a generator expression; awaiting"
                " there would make it an async generator: use a loop or a list comprehension",
            )
            return
        if not self.async_after or any(arg.keyword is not None for arg in node.args):
            return
        asyncio = self.file.imports.module_alias(node, "asyncio")
        if asyncio is None:
            self.report(
                node,
                "time.sleep blocks the event loop, but the name `asyncio` means something"
                " else here: rename it, then use `await asyncio.sleep(...)`",
            )
            return
        awaited = self.is_awaited(node)  # ``await time.sleep(1)``: broken already, half done
        await_ = self.awaiting(node)
        func = cst.Attribute(value=cst.Name(asyncio.name), attr=cst.Name("sleep"))
        name = base_name(node.func)

        def rewrite(updated: cst.Call) -> cst.Call | cst.Await:
            renamed = updated.with_changes(func=func)
            return renamed if awaited else await_(renamed)

        self.replace(
            node,
            rewrite,
            f"time.sleep blocks the event loop: await {asyncio.name}.sleep",
            needs=asyncio.needs,
            drops=[name] if name is not None else [],
            blocking=self.asyncs.blocking.get(self.key(node)),
        )

    def _inside_async(self) -> bool:
        for kind, _ in reversed(self.scope_stack):
            if kind is not ScopeKind.GENERATOR:
                return kind is ScopeKind.ASYNC
        return False
