"""Codemods that exist only to test the engine's contract (not shipped)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import libcst as cst

from vibefix.codemod import Codemod, Collector, FileContext, PlanContext, PlanPart
from vibefix.results import Safety


@dataclass(frozen=True)
class Count:
    functions: int


class Functions(Collector[Count]):
    """How many functions a file defines."""

    def __init__(self, file: FileContext) -> None:
        super().__init__(file)
        self.count = 0

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.count += 1

    def facts(self) -> Count:
        return Count(self.count)


@dataclass(frozen=True)
class ProjectCount(PlanPart):
    functions: int = 0


class CountFunctions(Codemod[ProjectCount]):
    """Report, in every file, how many functions the whole project defines.

    Exercises the index hook (``collector``), the plan hook (``plan_part``) and the
    plan's arrival in every worker.
    """

    code = "VF901"
    triggers = (r"\bdef\b",)
    collector = Functions

    @classmethod
    def plan_part(cls, context: PlanContext) -> ProjectCount:
        facts = context.index.facts(Functions).values()
        return ProjectCount(sum(fact.functions for fact in facts))

    def visit_Module(self, node: cst.Module) -> None:
        count = self.part.functions if self.part is not None else None
        self.report(node, f"the project defines {count} functions")


class RenameTodo(Codemod[PlanPart]):
    """Rename `todo` to `done`, as a rewrite that needs review.

    Exercises REVIEW safety: reported without --unsafe, applied with it.
    """

    code = "VF902"
    safety = Safety.REVIEW
    triggers = ("todo",)

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == "todo":
            self.replace(node, lambda updated: updated.with_changes(value="done"), "todo is done")


class Explodes(Codemod[PlanPart]):
    """Raise while visiting, as a buggy codemod would."""

    code = "VF903"
    triggers = ("explode",)

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == "explode":
            raise RuntimeError("boom")


class Conflicts(Codemod[PlanPart]):
    """Remove a statement and then edit it again: two edits that cannot both apply."""

    code = "VF904"
    triggers = ("conflict",)

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if "conflict" in cst.Module(body=[node]).code:
            self.replace(node, lambda updated: cst.RemovalSentinel.REMOVE, "remove")
            self.replace(node, lambda updated: updated, "and edit")


def _die_if_in_worker() -> None:
    import multiprocessing
    import os

    if multiprocessing.parent_process() is not None:
        os._exit(3)


class DiesIndexing(Collector[None]):
    def visit_Module(self, node: cst.Module) -> bool:
        if "die_indexing" in node.code:
            _die_if_in_worker()
        return False

    def facts(self) -> None:
        return None


class KillsWorker(Codemod[PlanPart]):
    """Kill the worker process it runs in, as a crash in a C extension would: while
    indexing when the file says ``die_indexing``, else while rewriting."""

    code = "VF905"
    triggers = ("die",)
    collector = DiesIndexing

    def visit_Module(self, node: cst.Module) -> None:
        _die_if_in_worker()


@dataclass(frozen=True)
class Touches(PlanPart):
    touched: frozenset[Path] = frozenset()


class Paths(Collector[str]):
    def visit_Module(self, node: cst.Module) -> bool:
        return False

    def facts(self) -> str:
        return str(self.file.path)


class BreaksTouched(Codemod[Touches]):
    """Write code that does not compile into a file its plan says it changes, whatever
    files the plan may change.

    Exercises the engine's retry without the broken files: it must end."""

    code = "VF906"
    triggers = (r"\bbreak_me\b",)
    collector = Paths

    @classmethod
    def plan_part(cls, context: PlanContext) -> Touches:
        return Touches(frozenset(context.index.facts(Paths)))

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == "break_me":
            self.replace(node, lambda updated: updated.with_changes(value="return"), "broken")
