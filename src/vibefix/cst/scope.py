"""Where ``await`` is allowed: a stack of enclosing scopes, kept while visiting.

Only the *innermost* scope counts: a sync ``def`` or a ``lambda`` nested in an
``async def`` is sync, a class body is not a function at all, and a generator expression
would silently become an async generator if it awaited. The stack is pushed on the bodies
only (``visit_FunctionDef_body``), because decorators and default values are evaluated in
the enclosing scope.
"""

from __future__ import annotations

import enum
from typing import Any

import libcst as cst


class ScopeKind(enum.Enum):
    ASYNC = "async def"
    SYNC = "def"
    LAMBDA = "lambda"
    CLASS = "class body"
    GENERATOR = "generator expression"
    ANNOTATION = "annotation"


class AsyncScopeMixin(cst.CSTVisitor):
    """Keeps ``self.scope_stack``; mix in before ``Codemod``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scope_stack: list[tuple[ScopeKind, cst.CSTNode]] = []

    @property
    def innermost_scope(self) -> ScopeKind | None:
        """The kind of the innermost enclosing scope; None at module level."""
        return self.scope_stack[-1][0] if self.scope_stack else None

    def visit_FunctionDef_body(self, node: cst.FunctionDef) -> None:
        kind = ScopeKind.ASYNC if node.asynchronous is not None else ScopeKind.SYNC
        self.scope_stack.append((kind, node))

    def leave_FunctionDef_body(self, node: cst.FunctionDef) -> None:
        self.scope_stack.pop()

    def visit_Lambda_body(self, node: cst.Lambda) -> None:
        self.scope_stack.append((ScopeKind.LAMBDA, node))

    def leave_Lambda_body(self, node: cst.Lambda) -> None:
        self.scope_stack.pop()

    def visit_ClassDef_body(self, node: cst.ClassDef) -> None:
        self.scope_stack.append((ScopeKind.CLASS, node))

    def leave_ClassDef_body(self, node: cst.ClassDef) -> None:
        self.scope_stack.pop()

    def visit_Annotation(self, node: cst.Annotation) -> None:
        # ``await`` is not allowed in an annotation, and a local one is never evaluated.
        self.scope_stack.append((ScopeKind.ANNOTATION, node))

    def leave_Annotation(self, original_node: cst.Annotation) -> None:
        self.scope_stack.pop()

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> None:
        self.scope_stack.append((ScopeKind.GENERATOR, node))

    def leave_GeneratorExp(self, original_node: cst.GeneratorExp) -> None:
        self.scope_stack.pop()
