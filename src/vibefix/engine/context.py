"""What a codemod or a collector knows of the file it visits (``FileContext``), and the
collectors that gather a file's facts for the index (``Collector``).

Below the codemod contract and the index, both of which use them; they import nothing of
either.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, cast

import libcst as cst
from libcst.metadata import PositionProvider, ProviderT, QualifiedName, QualifiedNameProvider

from vibefix.config import Config
from vibefix.cst.names import fully_qualified
from vibefix.engine.edits import Edit
from vibefix.engine.imports import ImportPlanner
from vibefix.results import Finding

T = TypeVar("T")


@dataclass(frozen=True)
class NeededName:
    """A name a codemod's rewrite writes into a function (``asyncio`` for ``await
    asyncio.sleep``): the index records, for each function, which of them mean something
    else in its body (``FunctionFact.shadowed``), by ``label``."""

    label: str
    module: str = ""
    """The module the name is: ``asyncio`` (or, with ``name``, the module it comes from)."""
    name: str = ""
    """A name imported from ``module``: ``run_in_threadpool``."""
    local: bool = False
    """A plain name the rewrite binds in the function (a parameter it adds)."""


@dataclass
class FileContext:
    """What a codemod knows about the file it is visiting."""

    path: Path
    module_name: str
    config: Config
    imports: ImportPlanner
    edits: list[Edit] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    in_project: frozenset[str] = frozenset()
    """The codes whose ``project_trigger`` matches some file of the project."""
    shared: dict[type[Any], object] = field(default_factory=dict)
    """What a codemod decided in this file that a later one must know, by its type (see
    ``share``)."""
    package: str = ""
    """The package relative imports start from (the module itself for ``__init__.py``)."""

    def share(self, value: object) -> None:
        """Tell the codemods that visit the file after this one ``value`` (a small frozen
        value of a type of the family's own), while the file is rewritten."""
        self.shared[type(value)] = value

    def told(self, kind: type[T]) -> T | None:
        """What an earlier codemod shared of type ``kind`` in this file, if anything."""
        return cast("T | None", self.shared.get(kind))


FactsT = TypeVar("FactsT")


class Collector(cst.CSTVisitor, Generic[FactsT]):
    """Gathers a family's facts about one file for the project index, in the walk the
    file's other collectors share. Facts are small, frozen and picklable: they cross
    process boundaries, and nothing in them refers to a syntax tree. The plan reads them
    with ``ProjectIndex.facts(TheCollector)``."""

    METADATA_DEPENDENCIES: ClassVar[tuple[ProviderT, ...]] = (
        PositionProvider,
        QualifiedNameProvider,
    )

    def __init__(self, file: FileContext) -> None:
        super().__init__()
        self.file = file
        self.module = file.module_name
        self.package = file.package

    def facts(self) -> FactsT | None:
        """What the walk found; None when there is nothing worth keeping."""
        raise NotImplementedError

    @classmethod
    def facts_from_ast(cls, tree: ast.Module, data: bytes) -> FactsT | None:
        """What ``facts`` would give for a file, told from its bytes and ``ast`` tree
        without libcst (for files indexed only for reach, ``engine.fastindex``); raise
        ``NotImplementedError`` when only the walk can tell: the file is then indexed
        with libcst."""
        raise NotImplementedError

    def qualified(self, node: cst.CSTNode) -> tuple[str, ...]:
        """The fully qualified names ``node`` may mean, sorted."""
        provider: Any = QualifiedNameProvider  # libcst's stub cannot type this provider
        names: set[QualifiedName] = self.get_metadata(provider, node, set())
        return tuple(sorted({fully_qualified(q, self.module, self.package) for q in names}))

    def line(self, node: cst.CSTNode) -> int:
        return int(self.get_metadata(PositionProvider, node).start.line)
