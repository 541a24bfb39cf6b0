"""VF204: a session a script or helper opens and closes by hand -> ``with``."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import QualifiedNameProvider, ScopeProvider

from vibefix.asyncdb.plan import DbPlan
from vibefix.calls.rewrite import AsyncCodemod
from vibefix.codemod import Codemod, PlanContext
from vibefix.sessions.plan import SESSION_AT_TOP, ContextPlan, HelpersTaken, plan_contexts
from vibefix.sessions.uses import Context, find_context


class SessionContext(AsyncCodemod[ContextPlan]):
    """Hold the session a script, a helper or a background task opens in a `with` block.

    Why: `db = SessionLocal()` ... `db.close()` closes the session only when nothing
    between them raises. A failed query, a missing row or a bug skips the `close()`,
    and the connection stays checked out of the pool until the garbage collector finds
    the session: a nightly job that fails on one row holds a connection per run, a
    background task per request. `with SessionLocal() as db:` closes it on every path.

    Example:

        def nightly_report():
            db = SessionLocal()
            count = db.query(Order).count()
            db.close()
            return count

    becomes

        def nightly_report():
            with SessionLocal() as db:
                count = db.query(Order).count()
            return count

    A `try`/`finally` whose `finally` only closed the session becomes the `with` (its
    `except` clauses stay, inside it). Functions FastAPI injects are VF200's.

    Safety: safe. The same statements run on the same session, which is closed where it
    was, and also when they raise.

    Not rewritten: a session that is not closed exactly once in the function's own
    body, closed in more than one place, used after it is closed, opened other than as
    `db = SessionLocal()` there, returned, stored or handed to later work, or with a
    `return` of a value before its `close()` (the caller may read what it returned from
    the open session) (each a finding: a `with` would close what the code still uses);
    a session that is never closed (a finding: whether its objects are used after a
    close cannot be told); an awaited `AsyncSession` (a finding: `async with` is
    VF203's); generators. Only modules that import or make the factory at the top level
    and close a session they opened are looked at.
    """

    code = "VF204"
    # The dependency and the factory live in other modules: the plan reads them, and the
    # index must, even when no other codemod asks for them.
    follows_plan = True
    # A module that imports or makes a session factory at the top level (not in a
    # docstring's example), and closes a session it opened in a function.
    triggers = (
        SESSION_AT_TOP,
        # ``db = SessionLocal()`` in a function, and ``db.close()`` after it.
        r"(?ms:^[ \t]+(\w+)[ \t]*=[ \t]*[\w.]*(?i:session)\w*\(\)"
        r"(?:(?!^[ \t]*def ).)*?^[ \t]+\1\.close\(\))",
    )
    METADATA_DEPENDENCIES = (
        *Codemod.METADATA_DEPENDENCIES,
        QualifiedNameProvider,
        ScopeProvider,
    )

    @classmethod
    def plan_part(cls, context: PlanContext) -> ContextPlan:
        return plan_contexts(context.index)

    def visit_Module(self, node: cst.Module) -> None:
        self._opened = (self.part or ContextPlan()).opened
        # Once VF203 moves the project to AsyncSession, the session is held by `async with`.
        db = self.plan.applied_part(DbPlan)
        self._async = db is not None and db.migrates
        # Sync code VF203 leaves sync (a test's fixture): its session calls run through
        # ``asyncio.run``, and an AsyncSession cannot be held by a plain ``with``.
        self._sync_kept = db.waits if db is not None and db.migrates else frozenset()

    def _waits_in(self, node: cst.FunctionDef) -> bool:
        """Whether VF203 runs session calls of ``node`` through ``asyncio.run``."""
        where = self.key(node)
        return any(key[0] == where[0] and where[1] <= key[1] <= where[3] for key in self._sync_kept)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if not self._opened:
            return
        taken = self.file.told(HelpersTaken)
        if taken is not None and self.key(node) in taken.helpers:
            return  # VF200 hands it its callers' session
        context = find_context(node, lambda call: self.key(call) in self._opened)
        if context is None:
            return
        if self._sync_kept and node.asynchronous is None and self._waits_in(node):
            return
        if context.problem:
            self.report(context.opening, context.problem)
            return
        body = node.body
        assert isinstance(body, cst.IndentedBlock)
        self.replace(
            body,
            lambda updated: _held(updated, context, len(body.body), self._async),
            "the session is closed on every path, as by `with`",
        )


def _held(
    updated: cst.IndentedBlock, context: Context, count: int, asynchronous: bool = False
) -> cst.IndentedBlock:
    statements = list(updated.body)
    if len(statements) != count:
        return updated  # another rewrite split a statement: leave the block as it is
    opening = statements[context.first]
    assert isinstance(opening, cst.SimpleStatementLine)
    assign = opening.body[0]
    assert isinstance(assign, cst.Assign)
    closing = statements[context.last]
    held = statements[context.first + 1 : context.last]
    if isinstance(closing, cst.Try):
        if closing.handlers:
            held.append(closing.with_changes(finalbody=None))
        else:
            assert isinstance(closing.body, cst.IndentedBlock)
            inner = list(closing.body.body)
            first = inner[0]
            assert isinstance(first, cst.SimpleStatementLine | cst.BaseCompoundStatement)
            inner[0] = first.with_changes(
                leading_lines=[*closing.leading_lines, *first.leading_lines]
            )
            held.extend(inner)
    if not held:
        held = [cst.SimpleStatementLine([cst.Pass()])]
    first_held = held[0]
    if isinstance(first_held, cst.SimpleStatementLine | cst.BaseCompoundStatement):
        # No blank line opens the block.
        lines = list(first_held.leading_lines)
        while lines and lines[0].comment is None:
            lines.pop(0)
        held[0] = first_held.with_changes(leading_lines=lines)
    comment = opening.trailing_whitespace.comment
    within = cst.With(
        items=[cst.WithItem(assign.value, asname=cst.AsName(cst.Name(context.name)))],
        asynchronous=cst.Asynchronous() if asynchronous else None,
        body=cst.IndentedBlock(held),
        leading_lines=[
            *opening.leading_lines,
            *([cst.EmptyLine(comment=comment)] if comment is not None else []),
        ],
    )
    after = statements[context.last + 1 :]
    return updated.with_changes(body=[*statements[: context.first], within, *after])
