"""What the async codemods (VF100-VF104) share: where ``await`` is allowed after the run,
and how to await an expression without changing what it means."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import libcst as cst
from libcst.metadata import PositionProvider

from vibefix.calls.plan import AsyncPlan
from vibefix.calls.roles import Role
from vibefix.codemod import Codemod, Collector, PartT
from vibefix.cst.scope import AsyncScopeMixin, ScopeKind
from vibefix.engine.imports import ModuleAlias
from vibefix.engine.index import NodeKey
from vibefix.http.rules import HttpRules
from vibefix.results import BlockingCall

ASYNC_CODE = r"\basync[ \t]+def\b"
"""Where the family's analysis starts: every file with async code (``Codemod.seeds``).
From there the plan reads every module that code reaches, whatever words it holds."""


class AsyncCodemod(AsyncScopeMixin, Codemod[PartT]):
    """A codemod that reads the plan's async decisions. Subclasses that define
    ``visit_Call`` or ``visit_Attribute`` call ``super()`` first."""

    uses = (AsyncPlan,)
    # What the HTTP family says of requests' calls decides how every codemod of the
    # family treats them (a streamed response blocks even in a thread).
    collectors: ClassVar[tuple[type[Collector[Any]], ...]] = (HttpRules.collector,)
    role: ClassVar[Role | None] = None
    """The part it plays in the calls family's plan (``vibefix.calls.roles``)."""

    @property
    def asyncs(self) -> AsyncPlan:
        """Which functions become async, which calls are awaited or offloaded."""
        return self.plan.part(AsyncPlan) or AsyncPlan()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Expressions that need parentheses once awaited: ``(await x).attr``. A parent is
        # visited before its children, so it marks them on the way down.
        self._primaries: set[cst.CSTNode] = set()
        self._awaited: set[cst.CSTNode] = set()

    def replace(
        self,
        node: cst.CSTNode,
        change: Callable[[Any], Any],
        reason: str,
        *,
        needs: Sequence[str] = (),
        drops: Sequence[cst.CSTNode] = (),
        blocking: BlockingCall | None = None,
    ) -> None:
        """As ``Codemod.replace``; nothing of the calls family's own in dead code
        (``AsyncPlan.dead``)."""
        if self.role is None or self.file.path not in self.asyncs.dead:
            super().replace(node, change, reason, needs=needs, drops=drops, blocking=blocking)

    def report(self, node: cst.CSTNode, message: str) -> None:
        """As ``Codemod.report``; nothing of the calls family's own in dead code
        (``AsyncPlan.dead``)."""
        if self.role is None or self.file.path not in self.asyncs.dead:
            super().report(node, message)

    def key(self, node: cst.CSTNode) -> NodeKey:
        """The plan's name for a function definition or a call: file, line, column."""
        where = self.get_metadata(PositionProvider, node)
        return (
            self.file.path,
            where.start.line,
            where.start.column + 1,
            where.end.line,
            where.end.column + 1,
        )

    @property
    def async_after(self) -> bool:
        """True when ``await`` may be used right here once the plan is carried out: the
        innermost scope is an ``async def``, or a ``def`` that becomes one."""
        if not self.scope_stack:
            return False
        kind, node = self.scope_stack[-1]
        if kind is ScopeKind.ASYNC:
            return True
        return kind is ScopeKind.SYNC and self.key(node) in self.asyncs.becomes_async

    def visit_Await(self, node: cst.Await) -> None:
        self._awaited.add(node.expression)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._primaries.add(node.value)

    def visit_Subscript(self, node: cst.Subscript) -> None:
        self._primaries.add(node.value)

    def visit_Call(self, node: cst.Call) -> None:
        self._primaries.add(node.func)

    def make_async(self, node: cst.FunctionDef, reason: str) -> None:
        """Make ``node`` an ``async def``. A generator's return annotation moves to its
        async twin (``Generator[T, None, None]`` -> ``AsyncGenerator[T, None]``,
        ``Iterator[T]`` -> ``AsyncIterator[T]``), spelled as the module imports the sync
        one (whose import goes when nothing else uses it); left when it cannot be."""
        twin, needs = self._async_returns(node)
        drops: list[cst.CSTNode] = []
        if twin and node.returns is not None:
            annotation = node.returns.annotation
            base = annotation.value if isinstance(annotation, cst.Subscript) else annotation
            drops = [base] if isinstance(base, cst.Name) else []

        def change(updated: cst.FunctionDef) -> cst.FunctionDef:
            returns = updated.returns
            if twin and returns is not None:
                returns = returns.with_changes(
                    annotation=_async_annotation(returns.annotation, twin)
                )
            return updated.with_changes(asynchronous=cst.Asynchronous(), returns=returns)

        self.replace(node, change, reason, needs=needs, drops=drops)

    def _async_returns(self, node: cst.FunctionDef) -> tuple[str, tuple[str, ...]]:
        """The name the async twin of a generator's return annotation takes here (``""``
        when it has none), and what it needs imported."""
        if node.returns is None or not _yields(node):
            return "", ()
        annotation = node.returns.annotation
        base = annotation.value if isinstance(annotation, cst.Subscript) else annotation
        if isinstance(base, cst.Attribute) and base.attr.value in ASYNC_RETURNS:
            dotted = cst.Module([]).code_for_node(base.value)
            return f"{dotted}.{ASYNC_RETURNS[base.attr.value]}", ()
        if not isinstance(base, cst.Name) or base.value not in ASYNC_RETURNS:
            return "", ()
        for module in ("typing", "collections.abc", "typing_extensions"):
            bound = self.file.imports.name_alias(node, module, base.value)
            if bound is not None and not bound.needs:
                twin = self.file.imports.name_alias(node, module, ASYNC_RETURNS[base.value])
                return (twin.name, twin.needs) if twin is not None else ("", ())
        return "", ()

    def asyncio_run(self, node: cst.CSTNode) -> ModuleAlias | None:
        """How this module spells ``asyncio.run``, and what it needs imported; None (and
        a finding) when the name ``asyncio`` means something else here."""
        asyncio = self.file.imports.module_alias(node, "asyncio")
        if asyncio is None:
            self.report(node, "the name `asyncio` means something else here")
            return None
        return ModuleAlias(f"{asyncio.name}.run", asyncio.needs)

    def run_apart(self, node: cst.Call, reason: str) -> None:
        """``asyncio.run(call)``: an async call in sync code no event loop runs (a sync
        test, a fixture, a script)."""
        run = self.asyncio_run(node)
        if run is None:
            return
        self.replace(
            node,
            lambda updated: cst.Call(cst.parse_expression(run.name), [cst.Arg(updated)]),
            reason,
            needs=run.needs,
        )

    def is_awaited(self, node: cst.CSTNode) -> bool:
        return node in self._awaited

    def awaiting(self, node: cst.BaseExpression) -> Callable[[cst.BaseExpression], cst.Await]:
        """A change that awaits ``node`` as updated, in parentheses where it is the
        object of an attribute, a subscript or a call."""

        def change(updated: cst.BaseExpression) -> cst.Await:
            # Asked when the edit is applied, after the whole visit: an edit recorded
            # before the visit reaches ``node``'s parent is parenthesized all the same.
            if node in self._primaries:
                return cst.Await(updated, lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
            return cst.Await(updated)

        return change


ASYNC_RETURNS = {
    "Generator": "AsyncGenerator",
    "Iterator": "AsyncIterator",
    "Iterable": "AsyncIterable",
}
"""A generator's return annotation, and its async twin's."""


def _async_annotation(annotation: cst.BaseExpression, twin: str) -> cst.BaseExpression:
    """``annotation`` with its base named ``twin``; a ``Generator``'s return type (its
    third element) dropped: an async generator has none."""
    name = cst.parse_expression(twin)
    if not isinstance(annotation, cst.Subscript):
        return name
    elements = list(annotation.slice)
    if twin.endswith("AsyncGenerator") and len(elements) == 3:
        elements = [elements[0], elements[1].with_changes(comma=cst.MaybeSentinel.DEFAULT)]
    return annotation.with_changes(value=name, slice=elements)


def _yields(function: cst.FunctionDef) -> bool:
    """Whether ``function`` itself (not a function nested in it) yields."""
    found = False

    class _Find(cst.CSTVisitor):
        def visit_Yield(self, node: cst.Yield) -> None:
            nonlocal found
            found = True

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False

        def visit_Lambda(self, node: cst.Lambda) -> bool:
            return False

    function.body.visit(_Find())
    return found
