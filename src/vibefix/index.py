"""The index stage: small picklable facts per file, merged into one ``ProjectIndex``.

Every candidate file is parsed once, in a worker process; the engine's own collector
records the project's functions (qualified across modules), the calls each makes, and
the FastAPI applications and routers; each codemod may add facts of its own. Nothing in
a fact refers to a syntax tree, so facts cross process boundaries cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libcst as cst
from libcst.metadata import PositionProvider, QualifiedName, QualifiedNameProvider

from vibefix.names import fully_qualified

FASTAPI_APPS = frozenset({"fastapi.FastAPI", "fastapi.applications.FastAPI"})
FASTAPI_ROUTERS = frozenset({"fastapi.APIRouter", "fastapi.routing.APIRouter"})
ROUTE_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "trace", "api_route", "websocket"}
)


@dataclass(frozen=True)
class CallFact:
    """A call made inside a function: what it may call, where, and whether it is awaited."""

    callees: tuple[str, ...]
    line: int
    awaited: bool


@dataclass(frozen=True)
class FunctionFact:
    qualname: str
    path: Path
    line: int
    is_async: bool
    decorators: tuple[str, ...]
    """Fully qualified names of the decorators, calls included (``app.routers.router.get``)."""
    calls: tuple[CallFact, ...]


@dataclass(frozen=True)
class ModuleFacts:
    """Everything the index knows of one file."""

    path: Path
    module: str
    functions: tuple[FunctionFact, ...] = ()
    applications: tuple[tuple[str, str], ...] = ()
    """Module-level FastAPI apps and routers: (qualified name of the variable, its class)."""
    codemod_facts: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class ProjectIndex:
    """The merged facts of every indexed file, in path order."""

    modules: tuple[ModuleFacts, ...] = ()
    functions: Mapping[str, FunctionFact] = field(default_factory=dict)
    applications: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def merge(cls, facts: Iterable[ModuleFacts]) -> ProjectIndex:
        modules = tuple(sorted(facts, key=lambda module: str(module.path)))
        functions: dict[str, FunctionFact] = {}
        applications: dict[str, str] = {}
        for module in modules:
            for function in module.functions:
                functions.setdefault(function.qualname, function)
            applications.update(module.applications)
        return cls(modules, functions, applications)

    def codemod_facts(self, code: str) -> dict[Path, object]:
        """The facts one codemod collected, by file."""
        return {
            module.path: facts
            for module in self.modules
            for fact_code, facts in module.codemod_facts
            if fact_code == code
        }


class FactCollector(cst.CSTVisitor):
    """Collects functions, their calls and the FastAPI objects of one module."""

    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)

    def __init__(self, path: Path, module: str, package: str) -> None:
        super().__init__()
        self.path = path
        self.module = module
        self.package = package
        self.functions: list[FunctionFact] = []
        self.applications: list[tuple[str, str]] = []
        self._stack: list[tuple[cst.FunctionDef, list[CallFact]]] = []
        self._awaited: set[cst.CSTNode] = set()
        self._depth = 0

    def _qualified(self, node: cst.CSTNode) -> tuple[str, ...]:
        provider: Any = QualifiedNameProvider  # libcst's stub cannot type this provider
        names: Iterable[QualifiedName] = self.get_metadata(provider, node, set())
        return tuple(sorted({fully_qualified(q, self.module, self.package) for q in names}))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._stack.append((node, []))

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        node, calls = self._stack.pop()
        decorators: list[str] = []
        for decorator in node.decorators:
            target = decorator.decorator
            if isinstance(target, cst.Call):
                target = target.func
            decorators.extend(self._qualified(target))
        qualnames = self._qualified(node.name)
        line = self.get_metadata(PositionProvider, node).start.line
        for qualname in qualnames or (f"{self.module}.{node.name.value}",):
            self.functions.append(
                FunctionFact(
                    qualname=qualname,
                    path=self.path,
                    line=line,
                    is_async=node.asynchronous is not None,
                    decorators=tuple(decorators),
                    calls=tuple(calls),
                )
            )

    def visit_Await(self, node: cst.Await) -> None:
        self._awaited.add(node.expression)

    def visit_Call(self, node: cst.Call) -> None:
        if not self._stack:
            return
        line = self.get_metadata(PositionProvider, node).start.line
        callees = self._qualified(node.func)
        if callees:
            self._stack[-1][1].append(CallFact(callees, line, node in self._awaited))

    def visit_Assign(self, node: cst.Assign) -> None:
        if self._stack or not isinstance(node.value, cst.Call):
            return
        classes = set(self._qualified(node.value.func))
        kind = next(iter(sorted(classes & (FASTAPI_APPS | FASTAPI_ROUTERS))), None)
        if kind is None:
            return
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                for qualname in self._qualified(target.target):
                    self.applications.append((qualname, kind))

    def facts(self, codemod_facts: tuple[tuple[str, object], ...] = ()) -> ModuleFacts:
        return ModuleFacts(
            path=self.path,
            module=self.module,
            functions=tuple(self.functions),
            applications=tuple(self.applications),
            codemod_facts=codemod_facts,
        )
