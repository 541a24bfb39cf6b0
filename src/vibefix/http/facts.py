"""What the HTTP family collects of each file for the index: for each call of requests'
API, whether VF101 can rewrite it (``vibefix.http.mapping.analyse``), and the module-level
functions that take a name VF101's code needs (``_http_client`` of the project's own)."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import PositionProvider

from vibefix.codemod import Collector, FileContext
from vibefix.http import mapping as httpmap

Span = tuple[int, int, int, int]
"""A call's start line and column and end line and column (1-based columns)."""


@dataclass(frozen=True)
class HttpFact:
    """What VF101's analysis says of one call of requests' API."""

    obstacle: str = ""
    """Why it cannot be rewritten to httpx; empty when it can."""
    streaming: bool = False
    """It streams its response, read later on the event loop: not even a thread helps."""
    escapes: bool = True
    """An exception it raises may leave its function (no ``except`` catches them all)."""


@dataclass(frozen=True)
class HttpFacts:
    calls: Mapping[Span, HttpFact] = field(default_factory=dict)
    taken: tuple[str, ...] = ()
    """Of the module-level names VF101's code defines, those the module defines as
    something else (its own ``_http_client``)."""


class HttpCollector(Collector[HttpFacts]):
    """Analyses the functions of a module that imports requests, at the end of the walk
    (an import may come after a function that uses it)."""

    def __init__(self, file: FileContext) -> None:
        super().__init__(file)
        self.backend = httpmap.backend_name(file.config.options)
        self._imports_requests = False
        self._functions: list[cst.FunctionDef] = []
        self._depth = 0
        self._taken: list[str] = []
        self._facts = HttpFacts()

    def visit_Import(self, node: cst.Import) -> bool:
        self._imports_requests |= any(
            _dotted(alias.name).partition(".")[0] == "requests" for alias in node.names
        )
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        if node.module is not None and not node.relative:
            self._imports_requests |= _dotted(node.module).partition(".")[0] == "requests"
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._depth += 1

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._depth -= 1

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if not self._depth and not httpmap.ours(node, self.backend):
            self._taken.append(node.name.value)
        self._functions.append(node)
        self._depth += 1

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._depth -= 1

    def leave_Module(self, original_node: cst.Module) -> None:
        calls: dict[Span, HttpFact] = {}
        if self._imports_requests:
            library = httpmap.backend(self.file.config.options).library
            tuples = httpmap.tuple_constants(original_node)
            for function in self._functions:
                analysis = httpmap.analyse(function, self.qualified, library, tuples)
                for node, found in analysis.calls.items():
                    where = self.get_metadata(PositionProvider, node)
                    span = (
                        where.start.line,
                        where.start.column + 1,
                        where.end.line,
                        where.end.column + 1,
                    )
                    calls[span] = HttpFact(
                        found.obstacle, found.kind == httpmap.STREAMING, found.escapes
                    )
        self._facts = HttpFacts(calls, tuple(sorted(set(self._taken))))

    def facts(self) -> HttpFacts | None:
        return self._facts if self._facts != HttpFacts() else None

    @classmethod
    def facts_from_ast(cls, tree: ast.Module, data: bytes) -> HttpFacts | None:
        """None for a file that neither imports requests nor defines a module-level
        function with the name of one VF101 writes."""
        pending: list[ast.AST] = list(tree.body)
        while pending:
            node = pending.pop()
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if node.name in httpmap.GENERATED:
                    raise NotImplementedError
            elif not isinstance(node, ast.ClassDef):
                pending.extend(ast.iter_child_nodes(node))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(
                alias.name.partition(".")[0] == "requests" for alias in node.names
            ):
                raise NotImplementedError
            if (
                isinstance(node, ast.ImportFrom)
                and not node.level
                and (node.module or "").partition(".")[0] == "requests"
            ):
                raise NotImplementedError
        return None


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return node.value if isinstance(node, cst.Name) else ""
