"""The index stage without libcst: a file's ``ModuleFacts`` from the standard ``ast``.

Files indexed only because async code reaches them (``Candidate.keep`` false) are read,
never rewritten unless the plan touches them; libcst's parse and metadata cost about
4.6 parses each, the C parser of ``ast`` a tenth of that. ``fast_facts`` gives exactly
the facts ``FactCollector`` would (its collectors' part aside), from the same rules:

- ``_Scopes`` is libcst's ``ScopeVisitor`` over ``ast`` (libcst's own scope classes hold
  the assignments and accesses, so qualified names resolve by libcst's rules, quirks
  included);
- ``_Facts`` is ``FactCollector``, method for method, visiting in libcst's order (the
  decorators of a function before its parameters, a call's arguments in source order).

Where ``ast`` cannot tell what libcst would (a ``match`` statement, a line ended by a
lone carriage return, an f-string concatenated in an annotation...), ``Refused`` is
raised and the engine indexes the file with libcst. ``tests/test_fastindex.py`` and
``bench/index_parity.py`` compare both indexers file by file: a change to
``FactCollector`` goes here too, in the method of the same name.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from libcst.metadata.scope_provider import (
    Access,
    Assignment,
    ClassScope,
    ComprehensionScope,
    FunctionScope,
    GlobalScope,
    QualifiedName,
    QualifiedNameSource,
    Scope,
)

from vibefix.cst.names import fully_qualified
from vibefix.engine.context import NeededName
from vibefix.engine.index import (
    ITERATION,
    KEYWORD_ONLY,
    OVERRIDES,
    UNKNOWN,
    CallFact,
    FunctionFact,
    ModuleFacts,
    Reference,
    _forget_rebound,
    parameter_type,
    type_local,
)
from vibefix.known.fastapi import DEPENDS, FASTAPI_APPS, FASTAPI_ROUTERS, in_pytest_file
from vibefix.known.types import (
    ANNOTATED,
    CLASS_VARIABLE,
    GENERIC,
    MAPPED,
    NO_TYPE,
    OPTIONAL,
    QUERY_STEPS,
    ROW_GETTERS,
    SESSION_CLASS,
    SESSION_MAKERS,
    STATEMENT_RUNNERS,
    TYPE_ALIAS,
    UNION,
    YIELDING,
)


class Refused(Exception):
    """The file holds something the fast indexer cannot index exactly as libcst would."""


_LONE_CR = re.compile(r"\r(?!\n)")


def fast_facts(
    path: Path,
    text: str,
    module: str,
    package: str,
    needed: tuple[NeededName, ...] = (),
    tree: ast.Module | None = None,
) -> ModuleFacts:
    """``FactCollector``'s facts of ``text`` (``collected`` left empty); ``Refused`` when
    they might differ."""
    if "\r" in text and _LONE_CR.search(text):
        raise Refused("a carriage return that ends a line alone")
    if tree is None:
        tree = ast.parse(text)
    source = _Source(text)
    scopes = _Scopes(source)
    scopes.walk_module(tree)
    facts = _Facts(path, module, package, source, scopes, tree, needed)
    facts.walk(tree)
    return facts.facts()


# -- positions ---------------------------------------------------------------------------


class _Source:
    """The text by lines, for columns in characters (``ast`` counts UTF-8 bytes)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.split("\n")

    def column(self, line: int, offset: int) -> int:
        """The 1-based character column of byte ``offset`` of ``line``."""
        text = self.lines[line - 1]
        if text.isascii():
            return offset + 1
        return len(text.encode()[:offset].decode()) + 1

    def start(self, node: ast.expr | ast.stmt | ast.arg) -> tuple[int, int]:
        return node.lineno, self.column(node.lineno, node.col_offset)

    def end(self, node: ast.expr | ast.stmt) -> tuple[int, int]:
        line = node.end_lineno or node.lineno
        return line, self.column(line, node.end_col_offset or 0)

    def segment(self, node: ast.expr) -> str:
        start, end = node.lineno, node.end_lineno or node.lineno
        lines = self.lines[start - 1 : end]
        first = len(lines[0].encode()[: node.col_offset].decode())
        last = len(lines[-1].encode()[: node.end_col_offset or 0].decode())
        if len(lines) == 1:
            return lines[0][first:last]
        return "\n".join([lines[0][first:], *lines[1:-1], lines[-1][:last]])


# -- names: libcst's ScopeVisitor over ast -----------------------------------------------


class _Import(Assignment):
    """libcst's ``ImportAssignment``, for an ``ast`` import."""

    def __init__(self, name: str, scope: Scope, node: ast.Import | ast.ImportFrom, index: int):
        super().__init__(name, scope, node, index)  # type: ignore[arg-type]  # any node
        self.statement = node

    def get_qualified_names_for(self, full_name: str) -> set[QualifiedName]:
        node = self.statement
        module = ""
        if isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
        results: set[QualifiedName] = set()
        for alias in node.names:
            if alias.name == "*":
                continue
            parts = alias.name.split(".")
            for end in range(len(parts), 0, -1):
                real_name = ".".join(parts[:end])
                as_name = real_name
                if module and module.endswith("."):
                    real_name = f"{module}{real_name}"
                elif module:
                    real_name = f"{module}.{real_name}"
                if alias.asname is not None:
                    as_name = alias.asname
                if full_name.startswith(as_name):
                    remaining = full_name.split(as_name, 1)[1]
                    if remaining and not remaining.startswith("."):
                        continue
                    remaining = remaining.lstrip(".")
                    name = f"{real_name}.{remaining}" if remaining else real_name
                    results.add(QualifiedName(name, QualifiedNameSource.IMPORT))
                    break
        return results


_NAMED_CONSTANTS = (True, False, None)


def _constant_name(node: ast.AST) -> str | None:
    """``True``, ``False`` and ``None`` are names to libcst."""
    if isinstance(node, ast.Constant) and any(node.value is c for c in _NAMED_CONSTANTS):
        return str(node.value)
    return None


def _full_name(node: ast.AST) -> str | None:
    """libcst's ``get_full_name_for_node``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_full_name(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return _full_name(node.func)
    if isinstance(node, ast.Subscript):
        return _full_name(node.value)
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name
    return _constant_name(node)


def _dotted_names(node: ast.AST) -> Iterator[tuple[str, ast.AST]]:
    """libcst's ``_gen_dotted_names``."""
    if isinstance(node, ast.Name):
        yield node.id, node
    elif isinstance(node, ast.Attribute):
        value = node.value
        if isinstance(value, ast.Call):
            value = value.func
            if isinstance(value, ast.Attribute | ast.Name):
                yield from _dotted_names(value)
        elif isinstance(value, ast.Attribute | ast.Name):
            names = _dotted_names(value)
            found = next(names, None)
            if found is not None:
                yield f"{found[0]}.{node.attr}", node
                yield found
                yield from names


def qualified_names(scope: Scope, node: object, full_name: str | None) -> set[QualifiedName]:
    """libcst's ``Scope.get_qualified_names_for``, with the full name given."""
    by_node: dict[object, set[Access]] = scope._accesses_by_node  # type: ignore[assignment]
    accesses = by_node.get(node)
    if accesses:
        return {
            name
            for access in accesses
            for referent in access.referents
            for name in referent.get_qualified_names_for(referent.name)
        }
    if full_name is None:
        return set()
    assignments: Any = set()
    prefix: str | None = full_name
    while prefix:
        if prefix in scope:
            assignments = scope[prefix]
            break
        idx = prefix.rfind(".")
        prefix = None if idx == -1 else prefix[:idx]
    for assignment in assignments:
        if isinstance(assignment, Assignment) and assignment.node is node:
            return assignment.get_qualified_names_for(full_name)
    results: set[QualifiedName] = set()
    for assignment in assignments:
        results |= assignment.get_qualified_names_for(full_name)
    return results


@dataclass
class _Deferred:
    access: Access
    name: str
    attribute: ast.Attribute | None
    string: ast.AST | None


_ASSIGNMENT_LIKE = (
    ast.Assign,
    ast.AnnAssign,
    ast.AugAssign,
    ast.ClassDef,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.Global,
    ast.Nonlocal,
    ast.Import,
    ast.ImportFrom,
    ast.NamedExpr,
    ast.withitem,
)


class _Scopes:
    """libcst's ``ScopeVisitor``: the scope of each node, and the accesses of names."""

    def __init__(self, source: _Source) -> None:
        self.source = source
        self.scope: Scope = GlobalScope()
        self.globals = self.scope
        self.of: dict[object, Scope] = {}
        """The scope libcst gives each node (at its leaving)."""
        self.names: dict[ast.AST, Scope] = {}
        """The scope of the name of each definition."""
        self._deferred: list[_Deferred] = []
        self._attributes: list[ast.Attribute | None] = [None]
        self._annotation: list[bool] = [False]
        self._hint: list[bool] = [False]
        self._ignored: set[ast.AST] = set()
        self._string: ast.AST | None = None

    def walk_module(self, tree: ast.Module) -> None:
        for statement in tree.body:
            self.visit(statement)
        self.of[tree] = self.scope
        self._infer()

    def _infer(self) -> None:
        for deferred in self._deferred:
            access, name = deferred.access, deferred.name
            if deferred.attribute is not None:
                for dotted, node in _dotted_names(deferred.attribute):
                    if dotted in access.scope:
                        access.node = node  # type: ignore[assignment]
                        name = dotted
                        break
            if deferred.string is not None:
                access.node = deferred.string  # type: ignore[assignment]
            access.record_assignments(name)
            access.scope.record_access(name, access)
        self._deferred = []

    def visit(self, node: ast.AST) -> None:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is not None:
            method(node)
        else:
            for child in _children(node):
                self.visit(child)
        self._leave(node)

    def _leave(self, node: ast.AST) -> None:
        self.of[node] = self.scope
        if isinstance(node, _ASSIGNMENT_LIKE):
            self.scope._assignment_count += 1

    def _qualified_now(self, node: ast.AST) -> set[str]:
        return {q.name for q in qualified_names(self.scope, node, _full_name(node))}

    def _record_import(self, name: str, node: ast.Import | ast.ImportFrom) -> None:
        target = self.scope._find_assignment_target(name)
        target._assignments[name].add(_Import(name, target, node, target._assignment_count))

    def visit_Match(self, node: ast.Match) -> None:
        raise Refused("match statement")

    def visit_TypeAlias(self, node: ast.AST) -> None:
        # Python 3.12's ``type X = ...``: libcst scopes it (and type parameters) in
        # annotation scopes this port does not model.
        raise Refused("type statement")

    def _visit_import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                return
            if alias.asname is not None:
                self._record_import(alias.asname, node)
                continue
            parts = alias.name.split(".")
            for end in range(len(parts), 0, -1):
                self._record_import(".".join(parts[:end]), node)

    visit_Import = _visit_import
    visit_ImportFrom = _visit_import

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if self._attributes[-1] is None:
            self._attributes[-1] = node
        self.visit(node.value)
        if self._attributes[-1] is node:
            self._attributes[-1] = None

    def visit_Call(self, node: ast.Call) -> None:
        self._attributes.append(None)
        self._hint.append(False)
        names = self._qualified_now(node)
        arguments = _arguments(node)
        if "typing.NewType" in names or "typing.TypeVar" in names:
            self.visit(node.func)
            self._hint[-1] = True
            for argument in arguments[1:]:
                self.visit(argument)
        elif "typing.cast" in names:
            self.visit(node.func)
            if arguments:
                self._hint.append(True)
                self.visit(arguments[0])
                self._hint.pop()
                for argument in arguments[1:]:
                    self.visit(argument)
        else:
            self.visit(node.func)
            for argument in arguments:
                self.visit(argument)
        self._attributes.pop()
        self._hint.pop()

    def _annotated(self, node: ast.expr | None) -> None:
        if node is not None:
            self._annotation.append(True)
            self.visit(node)
            self._annotation.pop()

    def visit_Constant(self, node: ast.Constant) -> None:
        name = _constant_name(node)
        if name is not None:
            self._access(node, name)
        elif isinstance(node.value, str | bytes):
            self._string_annotation(node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        # libcst reads the plain strings of ``"a" f"{b}"`` in an annotation one by one.
        in_annotation = (self._hint[-1] or self._annotation[-1]) and not self._ignored
        if in_annotation and _concatenated(self.source.segment(node).lstrip("rRbBuUfF")):
            raise Refused("an f-string concatenated in a type annotation")
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                self.visit(value)

    def _string_annotation(self, node: ast.Constant) -> None:
        if not (self._hint[-1] or self._annotation[-1]) or self._ignored:
            return
        value = node.value
        if not isinstance(value, str):
            raise Refused("bytes in a type annotation")
        if not value:
            return
        try:
            parsed = ast.parse(value)
        except (SyntaxError, ValueError):
            return
        if not all(isinstance(statement, ast.Expr) for statement in parsed.body):
            raise Refused("statements in a string annotation")
        top = self._string is None
        if top:
            self._string = node
        for statement in parsed.body:
            self.visit(statement)
        if top:
            self._string = None

    def visit_Subscript(self, node: ast.Subscript) -> None:
        hint = False
        if isinstance(node.value, ast.Name):
            names = self._qualified_now(node.value)
            if any(n.startswith(("typing.", "typing_extensions.")) for n in names):
                hint = True
            if "typing.Literal" in names or "typing_extensions.Literal" in names:
                self._ignored.add(node)
        self._hint.append(hint)
        self.visit(node.value)
        self.visit(node.slice)
        self._hint.pop()
        self._ignored.discard(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Store):
            self.scope.record_assignment(node.id, node)  # type: ignore[arg-type]
        else:
            self._access(node, node.id)

    def _access(self, node: ast.AST, name: str) -> None:
        access = Access(
            node,  # type: ignore[arg-type]
            self.scope,
            is_annotation=self._annotation[-1],
            is_type_hint=self._hint[-1],
        )
        attribute = self._attributes[-1]
        self._deferred.append(_Deferred(access, name, attribute, self._string))

    def _parameters(self, arguments: ast.arguments, function: Scope) -> None:
        for arg, default in _parameters(arguments):
            # libcst's assignment is the Param, never the name asked about.
            self.scope.record_assignment(arg.arg, object())  # type: ignore[arg-type]
            self.of[arg] = function
            inner, self.scope = self.scope, self.scope.parent
            if default is not None:
                self.visit(default)
            self._annotated(arg.annotation)
            self.scope = inner
        self.of[arguments] = self.scope
        self.scope._assignment_count += 1  # on leaving libcst's Parameters

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if getattr(node, "type_params", None):
            raise Refused("type parameters")
        self.scope.record_assignment(node.name, node)  # type: ignore[arg-type]
        self.names[node] = self.scope
        outer = self.scope
        self.scope = FunctionScope(outer, node, node.name)  # type: ignore[arg-type]
        self._parameters(node.args, self.scope)
        for statement in node.body:
            self.visit(statement)
        self.scope = outer
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._annotated(node.returns)

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_Lambda(self, node: ast.Lambda) -> None:
        outer = self.scope
        self.scope = FunctionScope(outer, node)  # type: ignore[arg-type]
        self._parameters(node.args, self.scope)
        self.visit(node.body)
        self.scope = outer

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.target)
        self._annotated(node.annotation)
        if node.value is not None:
            self.visit(node.value)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if getattr(node, "type_params", None):
            raise Refused("type parameters")
        self.scope.record_assignment(node.name, node)  # type: ignore[arg-type]
        self.names[node] = self.scope
        for decorator in node.decorator_list:
            self.visit(decorator)
        for base in node.bases:
            self.visit(base)
        for keyword in node.keywords:
            self.visit(keyword.value)
        outer = self.scope
        self.scope = ClassScope(outer, node, node.name)  # type: ignore[arg-type]
        for statement in node.body:
            self.visit(statement)
        self.scope = outer

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            self.scope.record_global_overwrite(name)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        for name in node.names:
            self.scope.record_nonlocal_overwrite(name)

    def _visit_comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp
    ) -> None:
        first, *inner = node.generators
        self.visit(first.iter)
        outer = self.scope
        self.scope = ComprehensionScope(outer, node)  # type: ignore[arg-type]
        self.visit(first.target)
        self.scope._assignment_count += 1
        for condition in first.ifs:
            self.visit(condition)
        for generator in inner:
            self.visit(generator.target)
            self.visit(generator.iter)
            for condition in generator.ifs:
                self.visit(condition)
        for generator in reversed(inner):
            self.of[generator] = self.scope
            self.scope._assignment_count += 1  # on leaving libcst's inner CompFor
        if isinstance(node, ast.DictComp):
            self.visit(node.key)
            self.visit(node.value)
        else:
            self.visit(node.elt)
        self.scope = outer

    visit_ListComp = _visit_comprehension
    visit_SetComp = _visit_comprehension
    visit_GeneratorExp = _visit_comprehension
    visit_DictComp = _visit_comprehension

    def _visit_for(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.target)
        self.scope._assignment_count += 1
        self.visit(node.iter)
        for statement in (*node.body, *node.orelse):
            self.visit(statement)

    visit_For = _visit_for
    visit_AsyncFor = _visit_for

    def visit_withitem(self, node: ast.withitem) -> None:
        self.visit(node.context_expr)
        if node.optional_vars is not None:
            self.visit(node.optional_vars)
            self.scope._assignment_count += 1  # on leaving libcst's AsName

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name is not None:
            self.scope.record_assignment(node.name, node)  # type: ignore[arg-type]
            self.scope._assignment_count += 1  # on leaving libcst's AsName
        for statement in node.body:
            self.visit(statement)


def _concatenated(segment: str) -> bool:
    """Whether a string literal's source is more than one string (``"a" "b"``)."""
    quote = segment.lstrip("rRbBuU")[:1]
    body = segment.lstrip("rRbBuU")
    if body[:3] in ('"""', "'''"):
        return not body.endswith(body[:3]) or body.count(body[:3]) > 2
    return not body.endswith(quote) or _unescaped(body[1:-1], quote)


def _unescaped(inside: str, quote: str) -> bool:
    escaped = False
    for char in inside:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == quote:
            return True
    return False


def _parameters(arguments: ast.arguments) -> list[tuple[ast.arg, ast.expr | None]]:
    """libcst's order: positional-only, plain, ``*args``, keyword-only, ``**kwargs``,
    each with its default."""
    plain = [*arguments.posonlyargs, *arguments.args]
    defaults: list[ast.expr | None] = [None] * (len(plain) - len(arguments.defaults))
    defaults.extend(arguments.defaults)
    found: list[tuple[ast.arg, ast.expr | None]] = list(zip(plain, defaults, strict=True))
    if arguments.vararg is not None:
        found.append((arguments.vararg, None))
    found.extend(zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True))
    if arguments.kwarg is not None:
        found.append((arguments.kwarg, None))
    return found


def _arguments(node: ast.Call) -> list[ast.expr]:
    """The values of a call's arguments, in source order (``*x``: ``x``)."""
    values: list[ast.expr] = [
        argument.value if isinstance(argument, ast.Starred) else argument for argument in node.args
    ]
    if node.keywords:
        values.extend(keyword.value for keyword in node.keywords)
        if node.args:
            values.sort(key=lambda value: (value.lineno, value.col_offset))
    return values


def _keywords(node: ast.Call) -> list[str]:
    """The keyword names of a call, ``**`` for ``**kwargs``, in source order."""
    if not node.args:
        return [keyword.arg or "**" for keyword in node.keywords]
    ordered = sorted(
        [(a.lineno, a.col_offset, None) for a in node.args]
        + [(k.value.lineno, k.value.col_offset, k.arg or "**") for k in node.keywords],
        key=lambda item: (item[0], item[1]),
    )
    return [name for _, _, name in ordered if name is not None]


def _children(node: ast.AST) -> Iterable[ast.AST]:
    """The children of ``node`` in libcst's order, without what libcst has no node for."""
    if isinstance(node, ast.Dict):
        found: list[ast.AST] = []
        for key, value in zip(node.keys, node.values, strict=True):
            if key is not None:
                found.append(key)
            found.append(value)
        return found
    if isinstance(node, ast.IfExp):
        return (node.body, node.test, node.orelse)
    if isinstance(node, ast.Starred):
        return (node.value,)
    if isinstance(node, ast.keyword):
        return (node.value,)
    if isinstance(node, ast.JoinedStr):
        return [value for value in node.values if isinstance(value, ast.FormattedValue)]
    return ast.iter_child_nodes(node)


# -- facts: FactCollector over ast ---------------------------------------------------------


_LITERAL_NODES: dict[type[ast.AST], str] = {
    ast.Dict: "builtins.dict",
    ast.DictComp: "builtins.dict",
    ast.List: "builtins.list",
    ast.ListComp: "builtins.list",
    ast.Set: "builtins.set",
    ast.SetComp: "builtins.set",
    ast.Tuple: "builtins.tuple",
    ast.JoinedStr: "builtins.str",
}


def _literal(node: ast.AST) -> str | None:
    """``index._LITERAL_TYPES`` for ``ast``'s nodes."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, str | bytes):
            return "builtins.str"
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return "builtins.int"
        if isinstance(value, float):
            return "builtins.float"
        return None
    return _LITERAL_NODES.get(type(node))


@dataclass
class _FunctionFrame:
    node: ast.FunctionDef | ast.AsyncFunctionDef
    qualnames: tuple[str, ...]
    owner_class: str | None
    types: dict[str, str | None]
    calls: list[CallFact] = field(default_factory=list)
    generator: bool = False
    in_body: bool = False
    returns_value: bool = False
    sync_only: str = ""
    typed_calls: list[tuple[int, str, str, bool]] = field(default_factory=list)
    loops: int = 0
    block: tuple[int, ...] = ()
    either: dict[str, frozenset[str] | None] = field(default_factory=dict)
    results: list[tuple[str | None, str | None]] = field(default_factory=list)
    yields: list[tuple[str | None, str | None]] = field(default_factory=list)
    untyped: dict[str, int] = field(default_factory=dict)
    rebound: set[str] = field(default_factory=set)


_NameLike = ast.Name | ast.Attribute | ast.arg | ast.ExceptHandler | ast.Constant


class _Facts:
    """``FactCollector`` over ``ast``, in libcst's order of visiting."""

    def __init__(
        self,
        path: Path,
        module: str,
        package: str,
        source: _Source,
        scopes: _Scopes,
        tree: ast.Module,
        needed: tuple[NeededName, ...],
    ) -> None:
        self.path = path
        self.module = module
        self.package = package
        self.source = source
        self.scopes = scopes
        self.tree = tree
        self.needed = needed
        self._yield_dependencies: set[str] = set()
        self.functions: list[FunctionFact] = []
        self.applications: list[tuple[str, str]] = []
        self.classes: list[tuple[str, tuple[str, ...]]] = []
        self._objects: dict[str, str | None] = {}
        self._returns: dict[str, str | None] = {}
        self._declared: dict[str, str | None] = {}
        self.references: list[Reference] = []
        self.module_calls: list[CallFact] = []
        self._call_targets: dict[ast.Call, tuple[str, ...]] = {}
        self.uses_fastapi = False
        self.star_imports: list[str] = []
        self.init_attributes: list[tuple[str, str, int, str]] = []
        self.super_inits: list[tuple[str, tuple[str | None, ...], tuple[tuple[str, str], ...]]] = []
        self._handed: str | None = None
        self._functions: list[_FunctionFrame] = []
        self._classes: list[str] = []
        self._innermost: list[str] = []
        self._awaited: set[ast.AST] = set()
        self._not_offloadable: set[ast.AST] = set()
        self._sync_depth: list[int] = [0]
        self._blocks: list[int] = []
        self._block_count = 0
        self._skip: set[ast.AST] = set()
        self._pending: list[tuple[ast.Assign, str | None, str | None]] = []
        self._arguments: dict[ast.AST, ast.Call] = {}
        self._overrides: set[ast.AST] = set()
        """The key and value of ``app.dependency_overrides[dep] = override``."""
        self._top_imports: set[ast.AST] = {
            s for s in tree.body if isinstance(s, ast.Import | ast.ImportFrom)
        }

    # -- the walk, in libcst's order ---------------------------------------------------

    def walk(self, node: ast.AST) -> None:
        kind = type(node)
        if kind is ast.Name:
            self._reference(node)  # type: ignore[arg-type]
            return
        if kind is ast.Constant:
            return
        if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
            self._walk_function(node)  # type: ignore[arg-type]
            return
        if kind is ast.ClassDef:
            self._walk_class(node)  # type: ignore[arg-type]
            return
        if kind is ast.Call:
            self.visit_Call(node)  # type: ignore[arg-type]
            self.walk(node.func)  # type: ignore[attr-defined]
            for value in _arguments(node):  # type: ignore[arg-type]
                self.walk(value)
            return
        if kind is ast.Attribute:
            self._skip.add(node.value)  # type: ignore[attr-defined]
            self.walk(node.value)  # type: ignore[attr-defined]
            self._reference(node)  # type: ignore[arg-type]
            return
        if kind is ast.Import or kind is ast.ImportFrom:
            self.visit_Import(node)  # type: ignore[arg-type]
            return
        if kind is ast.Lambda:
            self._sync_depth[-1] += 1
            self._walk_parameters(node.args)  # type: ignore[attr-defined]
            self.walk(node.body)  # type: ignore[attr-defined]
            self._sync_depth[-1] -= 1
            return
        if kind is ast.GeneratorExp:
            self._sync_depth[-1] += 1
            for child in ast.iter_child_nodes(node):
                self.walk(child)
            self._sync_depth[-1] -= 1
            return
        if kind is ast.ExceptHandler:
            handler: ast.ExceptHandler = node  # type: ignore[assignment]
            if handler.type is not None:
                self.walk(handler.type)
            if handler.name is not None:
                # Typed before the name is walked, as ``FactCollector.visit_ExceptHandler``.
                if self._functions and isinstance(handler.type, ast.Name | ast.Attribute):
                    names = self._qualified(handler.type)
                    if len(names) == 1:
                        type_local(self._functions[-1], handler.name, f"{names[0]}()")
                self._reference(handler)
            self._walk_block(handler.body, handler, "body")
            return
        loop = (kind is ast.For or kind is ast.AsyncFor or kind is ast.While) and self._functions
        if loop:
            self._functions[-1].loops += 1
        visit = _VISITS.get(kind)
        if visit is not None:
            visit(self, node)
        if kind is ast.Assign:
            for child in _children(node):
                self.walk(child)
            self.leave_Assign(node)  # type: ignore[arg-type]
            return
        if kind in _COMPOUND:
            for name in node._fields:
                value = getattr(node, name)
                if name in _BODIES:
                    self._walk_block(value, node, name)
                elif isinstance(value, list):
                    for child in value:
                        self.walk(child)
                elif isinstance(value, ast.AST):
                    self.walk(value)
            if loop:
                self._functions[-1].loops -= 1
            return
        for child in _children(node):
            self.walk(child)

    def _walk_block(self, statements: list[ast.stmt], owner: ast.AST, name: str) -> None:
        """A body, as libcst's ``IndentedBlock`` when it is one (numbered in the file's
        order: ``FunctionFact.block``); an ``elif`` is no block of its own."""
        if not statements:
            return
        first = statements[0]
        if (
            name == "orelse"
            and isinstance(owner, ast.If)
            and len(statements) == 1
            and isinstance(first, ast.If)
            and self.source.lines[first.lineno - 1]
            .encode()[first.col_offset : first.col_offset + 4]
            .startswith(b"elif")
        ):
            self.walk(first)
            return
        indented = self._indented_body(first)
        if indented:
            self._block_count += 1
            self._blocks.append(self._block_count)
        for statement in statements:
            self.walk(statement)
        if indented:
            self._blocks.pop()

    def _walk_parameters(self, arguments: ast.arguments) -> None:
        for arg, default in _parameters(arguments):
            self._reference(arg)
            if arg.annotation is not None:
                self.walk(arg.annotation)
            if default is not None:
                self.walk(default)

    def _walk_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.visit_FunctionDef(node)
        for decorator in node.decorator_list:
            self.walk(decorator)
        self._walk_parameters(node.args)
        if node.returns is not None:
            self.walk(node.returns)
        self._functions[-1].in_body = True
        self._walk_block(node.body, node, "body")
        self.leave_FunctionDef(node)

    def _walk_class(self, node: ast.ClassDef) -> None:
        self.visit_ClassDef(node)
        for decorator in node.decorator_list:
            self.walk(decorator)
        for base in node.bases:
            self.walk(base)
        for keyword in node.keywords:
            self.walk(keyword.value)
        self._walk_block(node.body, node, "body")
        self._classes.pop()
        self._innermost.pop()
        self._sync_depth[-1] -= 1

    # -- names -------------------------------------------------------------------------

    def _qualified(self, node: ast.AST) -> tuple[str, ...]:
        scope = self.scopes.of.get(node)
        if scope is None:
            return ()
        if isinstance(node, ast.arg):
            names = qualified_names(scope, node, node.arg)
        elif isinstance(node, ast.ExceptHandler):
            names = qualified_names(scope, node, node.name)
        else:
            names = qualified_names(scope, node, _full_name(node))
        return self._fully(names)

    def _qualified_name_of(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    ) -> tuple[str, ...]:
        names = qualified_names(self.scopes.names[node], None, node.name)
        return self._fully(names)

    def _fully(self, names: set[QualifiedName]) -> tuple[str, ...]:
        return tuple(sorted({fully_qualified(q, self.module, self.package) for q in names}))

    def _local_types(self) -> dict[str, str | None]:
        if not self._functions:
            return {}
        if len(self._functions) == 1:
            return self._functions[0].types
        visible: dict[str, str | None] = {}
        for frame in self._functions:
            visible.update(frame.types)
        return visible

    def _parameter(self, name: str) -> str:
        frame = self._functions[-1]
        if name in frame.untyped and frame.types.get(name, "") is None:
            return parameter_type(frame.qualnames[0], name)
        return UNKNOWN

    def _either(self, name: str) -> tuple[str, ...]:
        for frame in reversed(self._functions):
            if name in frame.types:
                return tuple(sorted(frame.either.get(name) or ()))
        return ()

    def _targets(self, expression: ast.AST) -> tuple[str, ...]:
        name = _name_of(expression)
        if name is not None:
            local = self._local_types()
            if name in local:
                kind = local[name]
                return (f"{kind}",) if kind is not None else self._either(name)
            names = self._qualified(expression)
            if not names and self.star_imports:
                return (f"{self.module}.{name}",)
            return names
        if isinstance(expression, ast.Attribute):
            owners = self._receiver(expression.value)
            if owners is None:
                return self._qualified(expression)
            return tuple(f"{owner}.{expression.attr}" for owner in owners)
        return ()

    def _receiver(self, expression: ast.AST) -> tuple[str, ...] | None:
        name = _name_of(expression)
        if name is not None:
            local = self._local_types()
            if name in local:
                kind = local[name]
                if kind is not None:
                    return (kind,)
                return self._either(name) or (self._parameter(name),)
            names = self._qualified(expression)
            if not names and self.star_imports:
                return (f"{self.module}.{name}",)
            if not names or any("<locals>" in n for n in names):
                return (UNKNOWN,)
            return None
        if isinstance(expression, ast.Attribute):
            owners = self._receiver(expression.value)
            if owners is None:
                return None
            return tuple(f"{owner}.{expression.attr}" for owner in owners)
        if isinstance(expression, ast.Call):
            if (
                isinstance(expression.func, ast.Name)
                and expression.func.id == "super"
                and self._functions
                and self._functions[-1].owner_class is not None
            ):
                return (f"{self._functions[-1].owner_class}()",)
            inner = self._targets(expression.func)
            return tuple(f"{target}()" for target in inner) or (UNKNOWN,)
        literal = _literal(expression)
        return (f"{literal}()",) if literal else (UNKNOWN,)

    def _type_of(self, value: ast.AST) -> str | None:
        if isinstance(value, ast.Call):
            model = _row_model(value)
            if model is not None:
                names = self._qualified(model)
                return f"{names[0]}()" if len(names) == 1 else None
            targets = self._targets(value.func)
            return f"{targets[0]}()" if len(targets) == 1 else None
        if isinstance(value, ast.Await):
            return self._type_of(value.value) if isinstance(value.value, ast.Call) else None
        name = _name_of(value)
        if name is not None and self._functions:
            return self._local_types().get(name)
        if isinstance(value, ast.Attribute) and not self._functions:
            names = self._qualified(value)
            return names[0] if len(names) == 1 and "<locals>" not in names[0] else None
        if (
            isinstance(value, ast.Attribute)
            and isinstance(value.value, ast.Name)
            and self._functions
        ):
            owner = self._local_types().get(value.value.id)
            return f"{owner}.{value.attr}" if owner and owner.endswith("()") else None
        literal = _literal(value)
        return f"{literal}()" if literal else None

    def _annotation_type(self, annotation: ast.expr | None) -> str | None:
        if annotation is None:
            return None
        return self._type_expression(annotation)

    def _elements(self, node: ast.Subscript) -> list[ast.expr | None]:
        """libcst's ``SubscriptElement``s of ``node``: each's ``Index`` value, None for a
        slice."""
        inside = node.slice
        if isinstance(inside, ast.Tuple) and not self._parenthesized(inside):
            items = inside.elts
        else:
            items = [inside]
        return [
            None
            if isinstance(item, ast.Slice)
            else item.value
            if isinstance(item, ast.Starred)
            else item
            for item in items
        ]

    def _type_expression(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Subscript):
            elements = self._elements(node)
            outer = set(self._qualified(node.value))
            values = [element for element in elements if element is not None]
            if outer & (ANNOTATED | OPTIONAL | UNION) and len(values) != len(elements):
                return None
            if outer & ANNOTATED:
                kind = self._type_expression(values[0])
                if kind is None or kind[:-2] in NO_TYPE:
                    return self._dependency(values[1:]) or kind
                return kind
            if outer & OPTIONAL:
                return self._type_expression(values[0])
            if outer & UNION:
                return self._one_of(values)
            node = node.value
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self._one_of(_alternatives(node))
        names = self._qualified(node)
        return f"{names[0]}()" if len(names) == 1 else None

    def _one_of(self, alternatives: Iterable[ast.AST]) -> str | None:
        kinds = {self._type_expression(node) for node in alternatives if not _is_none(node)}
        return kinds.pop() if len(kinds) == 1 else None

    def _dependency(self, values: Iterable[ast.AST]) -> str | None:
        for value in values:
            if not isinstance(value, ast.Call) or not set(self._qualified(value.func)) & DEPENDS:
                continue
            given = [
                argument
                for argument in _arguments(value)
                if _keyword_of(value, argument) in ("", "dependency")
            ]
            targets = self._targets(given[0]) if given else ()
            return f"{targets[0]}()" if len(targets) == 1 else None
        return None

    def _parameter_type(self, param: ast.arg, default: ast.expr | None) -> str | None:
        kind = self._annotation_type(param.annotation)
        if (kind is None or kind[:-2] in NO_TYPE) and default is not None:
            kind = self._dependency((default,)) or kind
        if (kind is None or kind[:-2] in NO_TYPE) and default is not None:
            if not isinstance(default, ast.Name | ast.Attribute):
                return kind
            names = self._qualified(default)
            if len(names) != 1 or names[0].startswith("builtins.") or "<locals>" in names[0]:
                return kind
            return names[0]
        return kind

    def _parenthesized(self, node: ast.Tuple) -> bool:
        """Whether a tuple has parentheses of its own (``X[(a, b)]``: one subscript
        element to libcst), not only around its first element (``X[(a), b]``: two)."""
        if not node.elts:
            return True
        if self.source.start(node) == self.source.start(node.elts[0]):
            return False
        segment = self.source.segment(node)
        lines = segment.split("\n")
        depth = 0
        try:
            for token in tokenize.generate_tokens(io.StringIO(segment).readline):
                if token.type != tokenize.OP:
                    continue
                if token.string in "([{":
                    depth += 1
                elif token.string in ")]}":
                    depth -= 1
                    if depth == 0:
                        # The first parenthesis closes where the tuple ends: its own.
                        return token.end == (len(lines), len(lines[-1]))
        except (tokenize.TokenError, SyntaxError) as error:
            raise Refused("a subscript's tuple") from error
        raise Refused("a subscript's tuple")

    # -- definitions -------------------------------------------------------------------

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        names = self._qualified_name_of(node) or (f"{self.module}.{node.name}",)
        bases = tuple(
            target
            for base in node.bases
            for target in self._targets(base.value if isinstance(base, ast.Subscript) else base)
            if target not in GENERIC
        )
        self.classes.extend((name, bases) for name in names)
        self._classes.append(names[0])
        self._innermost.append("class")
        self._sync_depth[-1] += 1

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        qualnames = self._qualified_name_of(node) or (f"{self.module}.{node.name}",)
        in_class = self._classes[-1] if self._innermost[-1:] == ["class"] else None
        self._innermost.append("def")
        types: dict[str, str | None] = {}
        arguments = node.args
        plain = [*arguments.posonlyargs, *arguments.args]
        for param, default in _parameters(arguments):
            if param is not arguments.vararg and param is not arguments.kwarg:
                types[param.arg] = self._parameter_type(param, default)
        decorators = {d.id for d in node.decorator_list if isinstance(d, ast.Name)}
        bound = 0
        if in_class is not None and plain and "staticmethod" not in decorators:
            first = plain[0].arg
            types[first] = in_class if "classmethod" in decorators else f"{in_class}()"
            bound = 1
        defaults = dict(_parameters(arguments))
        untyped = {
            param.arg: position
            for position, param in enumerate(plain)
            if position >= bound and _untyped(param, defaults.get(param))
        }
        untyped.update(
            (param.arg, KEYWORD_ONLY)
            for param in arguments.kwonlyargs
            if _untyped(param, defaults.get(param))
        )
        self._functions.append(
            _FunctionFrame(
                node, qualnames, in_class, types, block=tuple(self._blocks), untyped=untyped
            )
        )
        self._sync_depth.append(0)

    def leave_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        frame = self._functions.pop()
        _forget_rebound(frame.calls, frame.qualnames[0], frame.rebound)
        for position, name, kind, looped in frame.typed_calls:
            if looped and frame.types.get(name) != kind:
                call = frame.calls[position]
                frame.calls[position] = replace(
                    call,
                    targets=tuple(
                        UNKNOWN + t[len(kind) :] if t.startswith(kind) else t for t in call.targets
                    ),
                )
        self._sync_depth.pop()
        self._innermost.pop()
        decorators: list[str] = []
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            decorators.extend(self._qualified(target))
        if (
            frame.generator
            and not self._functions
            and frame.owner_class is None
            and not in_pytest_file(str(self.path))
            and _dependency_shaped(node)
        ):
            self._yield_dependencies |= set(frame.qualnames)
        given = self._gives(frame)
        for qualname in frame.qualnames:
            for made in self._calls_of(frame, qualname):
                self._returned(made, given)
        line, column = self.source.start(node)
        end = self.source.end(node)
        name_line = self._name_line(node)
        shadowed = self._shadowed(node)
        for qualname in frame.qualnames:
            self.functions.append(
                FunctionFact(
                    qualname=qualname,
                    path=self.path,
                    line=line,
                    column=column,
                    is_async=isinstance(node, ast.AsyncFunctionDef),
                    decorators=tuple(decorators),
                    calls=tuple(frame.calls),
                    is_generator=frame.generator,
                    owner_class=frame.owner_class,
                    name_line=name_line,
                    shadowed=shadowed,
                    sync_only=frame.sync_only
                    or ("it returns a value" if frame.generator and frame.returns_value else ""),
                    end=end,
                    untyped=tuple(
                        (position, name)
                        for name, position in frame.untyped.items()
                        if name not in frame.rebound
                    ),
                    block=frame.block,
                )
            )

    def _name_line(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
        text = self.source.lines[node.lineno - 1]
        column = self.source.column(node.lineno, node.col_offset) - 1
        if _DEF.match(text, column) is None:
            raise Refused("a function's name on another line than its def")
        return node.lineno

    def _shadowed(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, ...]:
        if not self.needed or not self._indented(node):
            return ()
        scope = self.scopes.of.get(node.body[0])
        shadowed: list[str] = []
        for needed in self.needed:
            if needed.local:
                taken = scope is not None and bool(scope[needed.label])
            elif needed.name:
                taken = self._name_taken(scope, needed.module, needed.name)
            else:
                taken = self._module_taken(scope, needed.module)
            if taken and needed.label not in shadowed:
                shadowed.append(needed.label)
        return tuple(shadowed)

    def _indented(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        """Whether its body is a block of its own lines (not ``def f(): pass``)."""
        return self._indented_body(node.body[0])

    def _indented_body(self, first: ast.stmt) -> bool:
        """Whether the body ``first`` begins is a block of its own lines."""
        before = self.source.lines[first.lineno - 1].encode()[: first.col_offset]
        return not before.strip()

    def _name_taken(self, scope: Scope | None, module: str, name: str) -> bool:
        """``ImportPlanner.name_alias(...) is None``."""
        if scope is None:
            return True
        assignments = scope[name]
        if not assignments:
            return False
        for assignment in assignments:
            node = assignment.statement if isinstance(assignment, _Import) else None
            if not (
                isinstance(node, ast.ImportFrom)
                and assignment.scope is self.scopes.globals
                and node in self._top_imports
                and not node.level
                and node.module is not None
                and node.module == module
                and not any(alias.name == "*" for alias in node.names)
                and any(alias.name == name and alias.asname is None for alias in node.names)
            ):
                return True
        return False

    def _module_taken(self, scope: Scope | None, module: str) -> bool:
        """``ImportPlanner.module_alias(...) is None``."""
        if scope is None:
            return True
        root = module.partition(".")[0]
        aliases = [
            _bound_name(alias)
            for statement in self.tree.body
            if isinstance(statement, ast.Import)
            for alias in statement.names
            if alias.name == module
        ]
        for name in aliases:
            if self._binding(scope, name, module) == "imported":
                return False
        if root != module and not all(
            isinstance(a, _Import)
            and isinstance(a.statement, ast.Import)
            and any(_bound_name(alias) == root for alias in a.statement.names)
            for a in scope[root]
        ):
            return True
        return self._binding(scope, module, module) is None

    def _binding(self, scope: Scope, name: str, module: str) -> str | None:
        assignments = scope[name]
        if not assignments:
            return "free"
        for assignment in assignments:
            if not (
                isinstance(assignment, _Import)
                and isinstance(assignment.statement, ast.Import)
                and assignment.scope is self.scopes.globals
                and any(
                    alias.name == module and _bound_name(alias) == name
                    for alias in assignment.statement.names
                )
            ):
                return None
        if any(isinstance(a, _Import) and a.statement in self._top_imports for a in assignments):
            return "imported"
        return "free"

    def visit_Yield(self, node: ast.Yield | ast.YieldFrom) -> None:
        if self._functions and self._sync_depth[-1] == 0:
            self._functions[-1].generator = True
            value = node.value
            yielded = (
                self._value_type(value)
                if value is not None and isinstance(node, ast.Yield)
                else (None, None)
            )
            self._functions[-1].yields.append(yielded)
            if isinstance(node, ast.YieldFrom):
                self._functions[-1].sync_only = "it uses `yield from`"

    def visit_Return(self, node: ast.Return) -> None:
        if self._functions and node.value is not None:
            self._functions[-1].returns_value = True
            if not _is_none(node.value):
                self._functions[-1].results.append(self._value_type(node.value))

    def _value_type(self, value: ast.AST) -> tuple[str | None, str | None]:
        name = _name_of(value)
        types = self._functions[-1].types
        if name is not None and name in types:
            return types[name], name
        if name is not None or isinstance(value, ast.Attribute):
            targets = self._targets(value)
            known = len(targets) == 1 and "<locals>" not in targets[0]
            return (targets[0] if known and not targets[0].startswith(UNKNOWN) else None), None
        return self._type_of(value), None

    def _gives(self, frame: _FunctionFrame) -> str | None:
        node = frame.node
        if node.returns is not None:
            annotation = node.returns
            if (
                frame.generator
                and isinstance(annotation, ast.Subscript)
                and set(self._qualified(annotation.value)) & YIELDING
            ):
                first = self._elements(annotation)[0]
                kind = self._type_expression(first) if first is not None else None
            else:
                kind = self._type_expression(annotation)
            if kind is not None and kind[:-2] not in NO_TYPE | {"builtins.None"}:
                return kind
        given = {
            kind if name is None or frame.types.get(name) == kind else None
            for kind, name in (frame.yields if frame.generator else frame.results)
        }
        return given.pop() if len(given) == 1 else None

    def _calls_of(self, frame: _FunctionFrame, qualname: str) -> tuple[str, ...]:
        if "<locals>" in qualname:
            return ()
        owner = frame.owner_class
        if owner is None:
            return (f"{qualname}()",)
        name = frame.node.name
        decorators = {
            qualified
            for decorator in frame.node.decorator_list
            for qualified in self._qualified(decorator)
        }
        if decorators & {"builtins.property", "functools.cached_property"}:
            return (f"{owner}().{name}",)
        if decorators & {"builtins.staticmethod", "builtins.classmethod"}:
            return (f"{owner}.{name}()", f"{owner}().{name}()")
        return (f"{owner}().{name}()",)

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            self.uses_fastapi |= any(alias.name.split(".")[0] == "fastapi" for alias in node.names)
            if not self._functions and not self._classes:
                for alias in node.names:
                    if alias.asname is not None:
                        bound, source = alias.asname, alias.name
                    else:
                        bound = source = alias.name.split(".")[0]
                    self._objects.setdefault(f"{self.module}.{bound}", source)
            return
        if node.module is not None and not node.level:
            self.uses_fastapi |= node.module.split(".")[0] == "fastapi"
        star = any(alias.name == "*" for alias in node.names)
        if self._functions or self._classes or star:
            if star and not self._functions:
                self.star_imports.append(self._imported_module(node))
            return
        source = self._imported_module(node)
        for alias in node.names:
            bound = alias.asname if alias.asname is not None else alias.name
            self._objects.setdefault(f"{self.module}.{bound}", f"{source}.{alias.name}")

    def _imported_module(self, node: ast.ImportFrom) -> str:
        dots = node.level
        module = node.module or ""
        if not dots:
            return module
        bits = self.package.rsplit(".", dots - 1) if self.package else [""]
        base = bits[0] if len(bits) == dots else ""
        return ".".join(part for part in (base, module) if part)

    # -- objects -----------------------------------------------------------------------

    def visit_Assign(self, node: ast.Assign) -> None:
        for stored in node.targets:
            if (
                isinstance(stored, ast.Subscript)
                and isinstance(stored.value, ast.Attribute)
                and stored.value.attr == "dependency_overrides"
                and not isinstance(stored.slice, ast.Tuple | ast.Slice)
            ):
                # ``app.dependency_overrides[get_db] = override``: FastAPI calls both.
                self._overrides.update((stored.slice, node.value))
            if (
                isinstance(stored, ast.Attribute)
                and stored.attr == "dependency_overrides"
                and isinstance(node.value, ast.Dict)
            ):
                # ``app.dependency_overrides = {get_db: override}``: the same, each pair.
                for key, value in zip(node.value.keys, node.value.values, strict=True):
                    if key is not None:
                        self._overrides.update((key, value))
        kind = self._type_of(node.value)
        bound = {
            f"{self.module}.{target.id}" for target in node.targets if isinstance(target, ast.Name)
        }
        made = self._sessions(node.value, bound)
        if made is None and not self._functions and self._alias_shaped(node.value):
            made = self._type_expression(node.value)
        if self._functions:
            for target in node.targets:
                self._skip.update(_bound_names(target))
            self._pending.append((node, kind, made))
        else:
            self._assign(node, kind, made)
        if not self._functions and self._innermost[-1:] == ["class"]:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self._object(f"{self._classes[-1]}.{target.id}", kind, made)
        if self._functions or not isinstance(node.value, ast.Call):
            return
        classes = set(self._qualified(node.value.func))
        app = next(iter(sorted(classes & (FASTAPI_APPS | FASTAPI_ROUTERS))), None)
        if app is None:
            return
        for target in node.targets:
            if isinstance(target, ast.Name):
                for qualname in self._qualified(target):
                    self.applications.append((qualname, app))

    def leave_Assign(self, node: ast.Assign) -> None:
        """``FactCollector.leave_Assign``."""
        if self._pending and self._pending[-1][0] is node:
            self._assign(*self._pending.pop())

    def _assign(self, node: ast.Assign, kind: str | None, made: str | None) -> None:
        self._handed = node.value.id if isinstance(node.value, ast.Name) else None
        for target in node.targets:
            self._assigned(target, kind, made)
        self._handed = None

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None and set(self._qualified(node.annotation)) & TYPE_ALIAS:
            self._assigned(node.target, None, self._type_expression(node.value))
            return
        if self._innermost[-1:] == ["class"] and isinstance(node.target, ast.Name):
            self._declare(node.target.id, node.annotation)
        kind = self._type_of(node.value) if node.value is not None else None
        self._assigned(node.target, kind or self._annotation_type(node.annotation))

    def _declare(self, name: str, annotation: ast.expr) -> None:
        if isinstance(annotation, ast.Subscript) and set(self._qualified(annotation.value)) & (
            CLASS_VARIABLE | MAPPED
        ):
            first = self._elements(annotation)[0]
            kind = self._type_expression(first) if first is not None else None
        else:
            kind = self._type_expression(annotation)
        if kind is not None:
            attribute = f"{self._classes[-1]}().{name}"
            old = self._declared.get(attribute, kind)
            self._declared[attribute] = kind if old == kind else None

    def _alias_shaped(self, value: ast.AST) -> bool:
        if isinstance(value, ast.BinOp):
            return any(_is_none(node) for node in _alternatives(value))
        if isinstance(value, ast.Subscript):
            return bool(set(self._qualified(value.value)) & (ANNOTATED | OPTIONAL | UNION))
        named = isinstance(value, ast.Name | ast.Attribute) or _constant_name(value) is not None
        return named and not _is_none(value)

    def _sessions(self, value: ast.AST, bound: set[str]) -> str | None:
        if not isinstance(value, ast.Call):
            return None
        makers = [
            SESSION_MAKERS[name] for name in self._qualified(value.func) if name in SESSION_MAKERS
        ]
        if len(makers) != 1:
            return None
        for keyword in value.keywords:
            if keyword.arg == SESSION_CLASS:
                names = [name for name in self._qualified(keyword.value) if name not in bound]
                return f"{names[0]}()" if len(names) == 1 else None
        return f"{makers[0]}()" if makers[0] is not None else None

    def visit_withitem(self, node: ast.withitem) -> None:
        self._not_offloadable.add(node.context_expr)
        if node.optional_vars is not None:
            self._assigned(node.optional_vars, self._type_of(node.context_expr))

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self._assigned(node.target, None)
        if isinstance(node, ast.For):
            self._iteration(node.target, node.iter)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        if not node.is_async:
            self._iteration(node.target, node.iter)

    def _iteration(self, target: ast.expr, iterable: ast.expr) -> None:
        """``FactCollector._iteration``."""
        frame = self._functions[-1] if self._functions else None
        if frame is None or not frame.in_body:
            return
        owners = self._receiver(iterable)
        if owners is None:
            owners = self._qualified(iterable)
        kinds = tuple(o for o in owners if not o.startswith(UNKNOWN) and "<locals>" not in o)
        if not kinds:
            return
        first = target
        while isinstance(first, ast.Tuple | ast.List) and first.elts:
            first = first.elts[0]
            if isinstance(first, ast.Starred):
                first = first.value
        line, column = self.source.start(first)
        _typed_base(frame, iterable)
        fact = CallFact(
            tuple(f"{kind}{ITERATION}" for kind in kinds),
            line,
            column,
            awaited=False,
            awaitable=self._sync_depth[-1] == 0,
            offloadable=False,
            end=(line, column),
        )
        frame.calls.append(fact)

    def _assigned(self, target: ast.AST, kind: str | None, made: str | None = None) -> None:
        if isinstance(target, ast.Name):
            self._skip.add(target)
            if self._functions:
                type_local(self._functions[-1], target.id, kind)
                return
            if not self._classes:
                self._object(f"{self.module}.{target.id}", kind, made)
            return
        if isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                inner = element.value if isinstance(element, ast.Starred) else element
                self._assigned(inner, None)
            return
        typed = (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and self._functions
            and (self._functions[-1].types.get(target.value.id) or "").endswith("()")
        )
        if typed and isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            frame = self._functions[-1]
            owner = frame.types.get(target.value.id)
            if owner is not None and owner.endswith("()"):
                self._object(f"{owner}.{target.attr}", kind, made)
                if kind is None and self._handed is not None:
                    position = self._parameter_position(frame, self._handed)
                    if position is not None:
                        attribute = (owner[:-2], target.attr, position, self._handed)
                        self.init_attributes.append(attribute)
        elif isinstance(target, ast.Attribute) and kind is not None:
            owners = self._receiver(target.value)
            if owners is None:
                owners = self._qualified(target.value)
            if len(owners) == 1 and not owners[0].startswith(UNKNOWN):
                self._object(f"{owners[0]}.{target.attr}", kind, made)

    def _parameter_position(self, frame: _FunctionFrame, name: str) -> int | None:
        node = frame.node
        if frame.owner_class is None or node.name != "__init__" or frame.types.get(name):
            return None
        plain = [arg.arg for arg in (*node.args.posonlyargs, *node.args.args)]
        if name in plain[1:]:
            return plain.index(name) - 1
        if any(arg.arg == name for arg in node.args.kwonlyargs):
            return KEYWORD_ONLY
        return None

    def _object(self, name: str, kind: str | None, made: str | None = None) -> None:
        self._objects[name] = kind if self._objects.get(name, kind) == kind else None
        self._returned(f"{name}()", made)

    def _returned(self, call: str, kind: str | None) -> None:
        self._returns[call] = kind if self._returns.get(call, kind) == kind else None

    # -- calls and references ----------------------------------------------------------

    def visit_Await(self, node: ast.Await) -> None:
        self._awaited.add(node.value)

    def visit_Call(self, node: ast.Call) -> None:
        self._skip.add(node.func)
        for value in _arguments(node):
            self._arguments[value] = node
        targets = self._targets(node.func)
        self._call_targets[node] = targets
        line, column = self.source.start(node)
        fact = CallFact(
            targets,
            line,
            column,
            awaited=node in self._awaited,
            awaitable=self._sync_depth[-1] == 0,
            offloadable=node not in self._not_offloadable
            and (
                isinstance(node.func, ast.Name | ast.Attribute)
                or _constant_name(node.func) is not None
            ),
            end=self.source.end(node),
        )
        frame = self._functions[-1] if self._functions else None
        if frame is not None and (node.args or node.keywords):
            fact = replace(fact, arguments=self._argument_types(node))
        if frame is not None and frame.owner_class is not None and _super_init(node):
            self._super_init(frame.owner_class, node)
        if frame is not None and frame.in_body:
            _typed_base(frame, node.func)
            frame.calls.append(fact)
        elif targets:
            self.module_calls.append(replace(fact, keywords=tuple(_keywords(node))))

    def _argument_types(self, node: ast.Call) -> tuple[tuple[str, str], ...]:
        found: list[tuple[str, str]] = []
        for position, value in enumerate(node.args):
            if isinstance(value, ast.Starred):
                break
            kind = self._argument_type(value)
            if kind is not None:
                found.append((str(position), kind))
        for keyword in node.keywords:
            if keyword.arg is None:
                continue
            kind = self._argument_type(keyword.value)
            if kind is not None:
                found.append((keyword.arg, kind))
        return tuple(found)

    def _argument_type(self, value: ast.expr) -> str | None:
        if isinstance(value, ast.Name):
            local = self._local_types()
            if value.id not in local:
                return None
            kind = local[value.id]
            if kind is not None:
                return kind
            placeholder = self._parameter(value.id)
            return placeholder if placeholder != UNKNOWN else None
        if isinstance(value, ast.Attribute):
            return self._type_of(value)
        return None

    def _super_init(self, cls: str, node: ast.Call) -> None:
        positional: list[str | None] = []
        star = None
        for argument in node.args:
            if isinstance(argument, ast.Starred):
                star = (argument.lineno, argument.col_offset)
                break
            positional.append(self._type_of(argument))
        keywords: list[tuple[str, str]] = []
        for keyword in node.keywords:
            if keyword.arg is None:
                continue
            if star is not None and (keyword.value.lineno, keyword.value.col_offset) > star:
                continue
            kind = self._type_of(keyword.value)
            if kind is not None:
                keywords.append((keyword.arg, kind))
        self.super_inits.append((cls, tuple(positional), tuple(keywords)))

    def _reference(self, node: _NameLike) -> None:
        if node in self._skip:
            return
        name = _reference_name(node)
        if name is not None and name in self._local_types():
            return
        attribute = isinstance(node, ast.Attribute)
        targets = self._targets(node) if attribute else self._qualified(node)
        if not targets or any(t.startswith("builtins.") for t in targets):
            return
        call = self._arguments.get(node)
        via = next(iter(self._call_targets.get(call, ())), "") if call is not None else ""
        if node in self._overrides:
            via = OVERRIDES
        line, column = self._reference_start(node)
        function = self._functions[-1].qualnames[0] if self._functions else None
        self.references.append(Reference(targets, line, column, via, function))

    def _reference_start(self, node: _NameLike) -> tuple[int, int]:
        if isinstance(node, ast.ExceptHandler):
            kind = node.type
            if kind is None or node.name is None:
                raise Refused("except handler")
            line, column = self.source.end(kind)
            found = _AS.match(self.source.lines[line - 1], column - 1)
            if found is None or found.group(1) != node.name:
                raise Refused("an except handler's name on another line")
            return line, found.start(1) + 1
        return self.source.start(node)

    def facts(self) -> ModuleFacts:
        declared = {name: kind for name, kind in self._declared.items() if kind is not None}
        objects = {**declared, **self._objects}
        return ModuleFacts(
            path=self.path,
            module=self.module,
            functions=tuple(self.functions),
            applications=tuple(self.applications),
            classes=tuple(self.classes),
            objects=tuple(sorted(objects.items(), key=lambda item: item[0])),
            returns=tuple(sorted((k, v) for k, v in self._returns.items() if v is not None)),
            references=tuple(self.references),
            module_calls=tuple(self.module_calls),
            uses_fastapi=self.uses_fastapi,
            star_imports=tuple(self.star_imports),
            yield_dependencies=tuple(sorted(self._yield_dependencies)),
            init_attributes=tuple(self.init_attributes),
            super_inits=tuple(self.super_inits),
        )


_DEF = re.compile(r"(?:async[ \t]+)?def[ \t]+\w")
_AS = re.compile(r"[ \t]*as[ \t]+(\w+)")

_VISITS: dict[type[ast.AST], Any] = {
    ast.Yield: _Facts.visit_Yield,
    ast.YieldFrom: _Facts.visit_Yield,
    ast.Return: _Facts.visit_Return,
    ast.Assign: _Facts.visit_Assign,
    ast.AnnAssign: _Facts.visit_AnnAssign,
    ast.withitem: _Facts.visit_withitem,
    ast.For: _Facts.visit_For,
    ast.AsyncFor: _Facts.visit_For,
    ast.comprehension: _Facts.visit_comprehension,
    ast.Await: _Facts.visit_Await,
}


_COMPOUND = frozenset({ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try})
"""Statements with bodies (``FunctionFact.block``); functions, classes and ``except``
clauses walk theirs themselves."""
if hasattr(ast, "TryStar"):
    _COMPOUND |= {ast.TryStar}
_BODIES = frozenset({"body", "orelse", "finalbody"})


def _super_init(node: ast.Call) -> bool:
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "__init__"
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "super"
    )


def _is_none(node: ast.AST) -> bool:
    return _constant_name(node) == "None"


def _alternatives(node: ast.AST) -> list[ast.AST]:
    """The types of ``A | B | None``, in order."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return [*_alternatives(node.left), *_alternatives(node.right)]
    return [node]


def _keyword_of(call: ast.Call, value: ast.expr) -> str:
    """libcst's keyword of the argument whose value is ``value``: ``""`` for a plain
    positional one, ``*`` and ``**`` for the starred."""
    for argument in call.args:
        if isinstance(argument, ast.Starred) and argument.value is value:
            return "*"
        if argument is value:
            return ""
    for keyword in call.keywords:
        if keyword.value is value:
            return keyword.arg if keyword.arg is not None else "**"
    return ""


def _typed_base(frame: _FunctionFrame, expression: ast.AST) -> None:
    """Note the call about to be recorded in ``frame`` as one on a local of known type
    (``FactCollector``'s ``typed_calls``), where ``expression`` starts with one."""
    base = expression
    while isinstance(base, ast.Attribute | ast.Call | ast.Subscript):
        base = base.func if isinstance(base, ast.Call) else base.value
    name = _name_of(base)
    kind = frame.types.get(name) if name is not None else None
    if kind is not None and name is not None:
        frame.typed_calls.append((len(frame.calls), name, kind, frame.loops > 0))


def _bound_names(target: ast.AST) -> list[ast.Name]:
    """``FactCollector``'s ``_bound_names``."""
    if isinstance(target, ast.Name):
        return [target]
    if isinstance(target, ast.Starred):
        return _bound_names(target.value)
    if isinstance(target, ast.Tuple | ast.List):
        return [name for element in target.elts for name in _bound_names(element)]
    return []


def _untyped(param: ast.arg, default: ast.expr | None) -> bool:
    return param.annotation is None and (
        default is None or (isinstance(default, ast.Constant) and default.value is None)
    )


def _row_model(call: ast.Call) -> ast.expr | None:
    """``index._row_model``."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    plain = not call.keywords and not any(isinstance(a, ast.Starred) for a in call.args)
    if func.attr == "get" and len(call.args) == 2 and plain:
        return _model_name(call.args[0])
    if func.attr not in ROW_GETTERS:
        return None
    node: ast.expr = func.value
    while (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in QUERY_STEPS
    ):
        ran = node.func.attr in STATEMENT_RUNNERS and len(node.args) + len(node.keywords) == 1
        if ran and (node.keywords or isinstance(node.args[0], ast.Starred)):
            return None
        node = node.args[0] if ran else node.func.value
    if not isinstance(node, ast.Call) or len(node.args) != 1 or node.keywords:
        return None
    if isinstance(node.args[0], ast.Starred):
        return None
    maker = node.func.attr if isinstance(node.func, ast.Attribute) else None
    if isinstance(node.func, ast.Name):
        maker = node.func.id
    return _model_name(node.args[0]) if maker in ("query", "select") else None


def _model_name(node: ast.expr) -> ast.expr | None:
    """``index._model_name``."""
    last = node.attr if isinstance(node, ast.Attribute) else None
    if isinstance(node, ast.Name):
        last = node.id
    return node if last is not None and last[:1].isupper() else None


def _name_of(node: ast.AST) -> str | None:
    """The name of a ``Name`` (libcst's ``Name``: ``True``, ``False`` and ``None`` too)."""
    if isinstance(node, ast.Name):
        return node.id
    return _constant_name(node)


def _reference_name(node: _NameLike) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.arg):
        return node.arg
    if isinstance(node, ast.ExceptHandler):
        return node.name
    return None


def _bound_name(alias: ast.alias) -> str:
    return alias.asname if alias.asname is not None else alias.name.split(".")[0]


def _dependency_shaped(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """``known.fastapi.dependency_shaped`` for ``ast``."""
    arguments = function.args
    plain = [*arguments.posonlyargs, *arguments.args]
    if function.decorator_list or len(arguments.defaults) < len(plain):
        return False
    if any(default is None for default in arguments.kw_defaults):
        return False
    yields: list[str | None] = []
    made: set[str] = set()
    for statement in function.body:
        for node in ast.walk(statement):
            if isinstance(node, ast.Yield):
                yields.append(node.value.id if isinstance(node.value, ast.Name) else None)
            elif isinstance(node, ast.YieldFrom):
                yields.append(None)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                made.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return len(yields) == 1 and yields[0] in made
