"""Resolving a file's metadata once, and qualified names only where they are asked for.

libcst's ``QualifiedNameProvider`` walks the whole tree to give every node a lazy value
(about a third of the cost of the metadata a file needs), although the codemods ask for
the names of a few nodes: the calls, the decorators, the annotations. Here the names come
from the same scopes, node by node, when first asked, and are kept: what a codemod reads
through ``get_metadata(QualifiedNameProvider, node)`` is exactly what the provider would
have given it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, ProviderT, QualifiedNameProvider, ScopeProvider


class _LazyNames(Mapping[cst.CSTNode, object]):
    """The qualified names of each node of the tree, computed when first asked: an empty
    set for a node no scope holds (libcst's provider gives those an empty set too)."""

    def __init__(self, scopes: Mapping[cst.CSTNode, Any]) -> None:
        self._scopes = scopes
        self._names: dict[cst.CSTNode, object] = {}

    def __getitem__(self, node: cst.CSTNode) -> object:
        found = self._names.get(node)
        if found is None:
            scope = self._scopes.get(node)
            found = scope.get_qualified_names_for(node) if scope else set()
            self._names[node] = found
        return found

    def __contains__(self, node: object) -> bool:
        return node in self._scopes

    def __iter__(self) -> Iterator[cst.CSTNode]:
        return iter(self._scopes)

    def __len__(self) -> int:
        return len(self._scopes)


def resolve(wrapper: MetadataWrapper, providers: Collection[ProviderT]) -> None:
    """Resolve ``providers`` on ``wrapper``; qualified names lazily."""
    metadata: dict[ProviderT, Mapping[cst.CSTNode, object]] | None = getattr(
        wrapper, "_metadata", None
    )
    if (
        QualifiedNameProvider in providers
        and metadata is not None
        and QualifiedNameProvider not in metadata
    ):
        scopes = wrapper.resolve(ScopeProvider)
        metadata[QualifiedNameProvider] = _LazyNames(scopes)
    wrapper.resolve_many(providers)
