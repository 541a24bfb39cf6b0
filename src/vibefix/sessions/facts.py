"""What the sessions family collects of each file for the index.

``ModuleNames``: where VF200 could write a session dependency (the names a plain
top-level assignment binds, and the names the dependency needs that mean something else
there). ``StateSessions``: the sessions kept on ``app.state`` (``<...>.state.db =
SessionLocal()``), which VF201 replaces with the request's.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import libcst as cst

from vibefix.codemod import Collector, FileContext

NEEDED = {
    "Session": ("sqlalchemy.orm", "sqlalchemy.orm.session"),
    "AsyncSession": ("sqlalchemy.ext.asyncio",),
    "Iterator": ("collections.abc", "typing"),
    "AsyncIterator": ("collections.abc", "typing"),
}
"""Names the written dependency uses, and the modules they may come from."""


@dataclass(frozen=True)
class Names:
    plain: tuple[str, ...]
    """The names plain top-level assignments bind (``SessionLocal = sessionmaker(...)``)."""
    clashing: tuple[str, ...]
    """Of ``NEEDED``, those the module binds to something else."""


class ModuleNames(Collector[Names]):
    """The module's top-level statements only: its children are not visited."""

    def __init__(self, file: FileContext) -> None:
        super().__init__(file)
        self._names = Names((), ())

    def visit_Module(self, node: cst.Module) -> bool:
        plain: list[str] = []
        clashing: list[str] = []
        for statement in node.body:
            if isinstance(statement, cst.ClassDef | cst.FunctionDef):
                if statement.name.value in NEEDED:
                    clashing.append(statement.name.value)
                continue
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                if isinstance(small, cst.Assign):
                    for target in small.targets:
                        if isinstance(target.target, cst.Name):
                            plain.append(target.target.value)
                            if target.target.value in NEEDED:
                                clashing.append(target.target.value)
                elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                    plain.append(small.target.value)
                elif isinstance(small, cst.ImportFrom) and not isinstance(
                    small.names, cst.ImportStar
                ):
                    source = cst.Module([]).code_for_node(small.module) if small.module else ""
                    for alias in small.names:
                        bound = (
                            alias.asname.name.value
                            if alias.asname and isinstance(alias.asname.name, cst.Name)
                            else cst.Module([]).code_for_node(alias.name)
                        )
                        if bound in NEEDED and source not in NEEDED[bound]:
                            clashing.append(bound)
        self._names = Names(tuple(plain), tuple(clashing))
        return False

    def facts(self) -> Names:
        return self._names

    @classmethod
    def facts_from_ast(cls, tree: ast.Module, data: bytes) -> Names:
        """``visit_Module`` on ``ast``'s tree."""
        plain: list[str] = []
        clashing: list[str] = []
        for statement in tree.body:
            if isinstance(statement, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                if statement.name in NEEDED:
                    clashing.append(statement.name)
            elif isinstance(statement, ast.Assign):
                for target in statement.targets:
                    if isinstance(target, ast.Name):
                        plain.append(target.id)
                        if target.id in NEEDED:
                            clashing.append(target.id)
            elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                plain.append(statement.target.id)
            elif isinstance(statement, ast.ImportFrom) and statement.names[0].name != "*":
                source = statement.module or ""
                for alias in statement.names:
                    bound = alias.asname or alias.name
                    if bound in NEEDED and source not in NEEDED[bound]:
                        clashing.append(bound)
        return Names(tuple(plain), tuple(clashing))


class StateSessions(Collector[tuple[tuple[str, str], ...]]):
    """``(attribute, factory)`` for each ``<...>.state.NAME = Factory()``."""

    def __init__(self, file: FileContext) -> None:
        super().__init__(file)
        self._found: list[tuple[str, str]] = []

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        if not (isinstance(value, cst.Call) and not value.args):
            return
        callees = set(self.qualified(value.func))
        for target in node.targets:
            attribute = state_attribute(target.target)
            if attribute and len(callees) == 1:
                self._found.append((attribute, callees.pop()))

    def facts(self) -> tuple[tuple[str, str], ...] | None:
        return tuple(self._found) or None

    @classmethod
    def facts_from_ast(cls, tree: ast.Module, data: bytes) -> tuple[tuple[str, str], ...] | None:
        """None for a file without ``<...>.state.NAME = Factory()``."""
        if b"state" not in data:
            return None
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and not node.value.args
                and not node.value.keywords
                and any(
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Attribute)
                    and target.value.attr == "state"
                    for target in node.targets
                )
            ):
                raise NotImplementedError
        return None


def state_attribute(node: cst.BaseExpression) -> str:
    """``NAME`` for ``<...>.state.NAME``; ``""`` for anything else."""
    if (
        isinstance(node, cst.Attribute)
        and isinstance(node.value, cst.Attribute)
        and node.value.attr.value == "state"
    ):
        return node.attr.value
    return ""
