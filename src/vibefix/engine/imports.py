"""Adding and removing imports for every codemod of a file, once.

Codemods ask under which name a module can be used (``module_alias``), and each of their
edits carries the imports it needs and the name references it makes disappear. From the
edits that are kept (all of them, or those accepted in ``apply --interactive``),
``edits`` derives the import edits: a new ``import`` placed where isort would put it, and
imports whose every reference was rewritten away removed. An import that was unused
before is left alone: vibefix only cleans up after itself.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import libcst as cst
from libcst.metadata import CodeRange, ImportAssignment, Scope

from vibefix.engine.edits import Edit
from vibefix.results import EditRecord, Position

_STDLIB = frozenset(sys.stdlib_module_names)


@dataclass(frozen=True)
class ModuleAlias:
    """How to refer to a module at one place: its local name, and the imports to add."""

    name: str
    needs: tuple[str, ...] = ()


@dataclass
class ImportPlanner:
    module: cst.Module
    scopes: Mapping[cst.CSTNode, Scope | None]
    positions: Mapping[cst.CSTNode, CodeRange]
    _dropped: dict[cst.CSTNode, str] = field(default_factory=dict)
    _owners: dict[cst.SimpleStatementLine, cst.Module | cst.IndentedBlock] | None = None
    _aliases: dict[str, list[str]] | None = None
    _top_level: set[cst.Import] = field(default_factory=set)
    _exported: frozenset[str] | None = None
    imported_elsewhere: frozenset[str] = frozenset()
    """The module's names that other modules of the project import (``from pkg.a import
    get``): their imports here stay, used or not."""
    first_party: frozenset[str] = frozenset()
    """The project's own top-level packages: isort puts their imports after the others."""

    def module_alias(self, at: cst.CSTNode, module: str) -> ModuleAlias | None:
        """The name under which ``module`` can be used at ``at``, and whether the edit
        that uses it needs ``import module`` added.

        None when the name is taken by something else there (a parameter called
        ``asyncio``, say): the caller must leave the code alone and report a finding.
        """
        scope = self.scopes.get(at)
        if scope is None:
            return None
        root = module.partition(".")[0]
        for name in self._existing_aliases(module):
            if self._binding(scope, name, module) == "imported":
                # ``import a.b`` binds ``a``; the module is ``a.b`` (``import a.b as c``: ``c``).
                return ModuleAlias(module if name == root else name)
        if root != module and not self._package_name(scope, root):
            return None  # ``urllib = None``: ``urllib.parse.x`` would not reach the module
        binding = self._binding(scope, module, module)
        if binding == "imported":
            return ModuleAlias(module)
        if binding == "free":
            return ModuleAlias(module, (module,))
        return None

    def name_alias(self, at: cst.CSTNode, module: str, name: str) -> ModuleAlias | None:
        """How to use ``name`` from ``module`` at ``at``: bound already by a top-level
        ``from module import name``, or free, and then that import is needed (written
        ``"module:name"`` in an edit's ``needs``). None when the name means something else."""
        scope = self.scopes.get(at)
        if scope is None:
            return None
        assignments = scope[name]
        if not assignments:
            return ModuleAlias(name, (f"{module}:{name}",))
        global_scope = self.scopes.get(self.module)
        for assignment in assignments:
            node = assignment.node if isinstance(assignment, ImportAssignment) else None
            if not (
                isinstance(node, cst.ImportFrom)
                and assignment.scope is global_scope
                and self._at_top_level(node)
                and not node.relative
                and node.module is not None
                and _dotted(node.module) == module
                and not isinstance(node.names, cst.ImportStar)
                and any(
                    _dotted(alias.name) == name and alias.asname is None for alias in node.names
                )
            ):
                return None
        return ModuleAlias(name)

    def _at_top_level(self, small: cst.Import | cst.ImportFrom) -> bool:
        """Whether the import runs when the module does: in the module's body, not in an
        ``if TYPE_CHECKING:`` (or any other) block."""
        return any(
            owner is self.module and small in statement.body
            for statement, owner in self._containers().items()
        )

    def _existing_aliases(self, module: str) -> list[str]:
        """The names bound to ``module`` by the module's top-level ``import`` statements."""
        if self._aliases is None:
            self._aliases = {}
            for statement in self.module.body:
                for small in _imports_of(statement):
                    if isinstance(small, cst.Import):
                        self._top_level.add(small)
                        for alias in small.names:
                            bound = self._aliases.setdefault(_dotted(alias.name), [])
                            bound.append(_bound_name(alias))
        return self._aliases.get(module, [])

    def _package_name(self, scope: Scope, root: str) -> bool:
        """Whether ``root`` at ``scope`` is unbound or bound only by ``import root...``
        statements: what ``import root.sub`` needs to be used as ``root.sub``."""
        return all(
            isinstance(assignment, ImportAssignment)
            and isinstance(assignment.node, cst.Import)
            and any(_bound_name(alias) == root for alias in assignment.node.names)
            for assignment in scope[root]
        )

    def _binding(self, scope: Scope, name: str, module: str) -> str | None:
        """What ``name`` is at ``scope``, for using it as ``module``:

        - ``"imported"``: only ever ``module``, bound by a top-level ``import``;
        - ``"free"``: unbound, or bound only by module-level imports of ``module`` that
          may not have run (under ``if TYPE_CHECKING:``, in a ``try``): a top-level
          ``import`` may be added;
        - None: something else, or an import local to a function, which makes the name
          local there (using it before that import would raise UnboundLocalError).
        """
        self._existing_aliases(module)
        assignments = scope[name]
        if not assignments:
            return "free"
        global_scope = self.scopes.get(self.module)
        for assignment in assignments:
            if not (
                isinstance(assignment, ImportAssignment)
                and isinstance(assignment.node, cst.Import)
                and assignment.scope is global_scope
                and any(
                    _dotted(alias.name) == module and _bound_name(alias) == name
                    for alias in assignment.node.names
                )
            ):
                return None
        if any(
            isinstance(assignment, ImportAssignment) and assignment.node in self._top_level
            for assignment in assignments
        ):
            return "imported"
        return "free"

    def edits(self, rewrites: Sequence[Edit]) -> list[Edit]:
        """The import edits that ``rewrites`` need, in a stable order."""
        needed: dict[str, str] = {}
        self._dropped = {}
        for rewrite in rewrites:
            for module in rewrite.needs:
                needed.setdefault(module, rewrite.record.code)
            for name in rewrite.drops:
                self._dropped[name] = rewrite.record.code
        removals = self._removals()
        edits: list[Edit] = []
        removed_statements = {
            statement for statement, (aliases, _) in removals.items() if aliases is None
        }
        replaced: set[cst.CSTNode] = set()
        additions: list[Edit] = []
        codes: dict[str, str] = {}
        joined = self._joined(needed, removed_statements)
        edits.extend(joined)
        # The names a new ``from`` import brings from one module go in one statement.
        wanted: dict[str, str] = {}
        for module, code in sorted(needed.items()):
            if any(module in edit.needs for edit in joined):
                continue
            source, _, imported = module.partition(":")
            key = f"{source}:" if imported else source
            if key in wanted and imported:
                wanted[key] = f"{wanted[key]},{imported}"
                continue
            wanted[key] = imported
            codes.setdefault(key, code)
        for key, names in sorted(wanted.items()):
            module = f"{key}{names}" if key.endswith(":") else key
            code = codes[key]
            edit, anchor_replaced = self._addition(module, code, removed_statements - replaced)
            additions.append(edit)
            if anchor_replaced is not None:
                replaced.add(anchor_replaced)
        # Removals first: an insertion next to a shrunk statement wraps the shrunk one.
        # Last to first, so that comments moved down from several removed statements
        # onto one survivor keep their order.
        gone = removed_statements - replaced
        for statement, (aliases, code) in reversed(removals.items()):
            if statement not in replaced:
                edits.extend(self._removal(statement, aliases, code, gone))
        return edits + _merged(additions)

    def _joined(
        self, needed: Mapping[str, str], removed: set[cst.SimpleStatementLine]
    ) -> list[Edit]:
        """Names to import from a module the file already imports names from, at the top
        level: added to that ``from`` import (``from fastapi import Depends, FastAPI``).
        Each edit's ``needs`` lists what it provides."""
        wanted: dict[str, list[tuple[str, str]]] = {}
        for need, code in sorted(needed.items()):
            module, _, name = need.partition(":")
            if name:
                wanted.setdefault(module, []).append((name, code))
        edits: list[Edit] = []
        for module, names in wanted.items():
            statement = next(
                (
                    s
                    for s in self.module.body
                    if isinstance(s, cst.SimpleStatementLine)
                    and s not in removed
                    and len(s.body) == 1
                    and isinstance(s.body[0], cst.ImportFrom)
                    and not s.body[0].relative
                    and s.body[0].module is not None
                    and _dotted(s.body[0].module) == module
                    and not isinstance(s.body[0].names, cst.ImportStar)
                    and s.body[0].lpar is None
                ),
                None,
            )
            if statement is None:
                continue
            added = [name for name, _ in names]
            reason = f"from {module} import {', '.join(added)}"

            def join(updated: cst.SimpleStatementLine, added: list[str] = added) -> Any:
                small = updated.body[0]
                assert isinstance(small, cst.ImportFrom)
                assert not isinstance(small.names, cst.ImportStar)
                present = list(small.names)
                have = {_dotted(alias.name) for alias in present if alias.asname is None}
                new = [cst.ImportAlias(cst.Name(n)) for n in added if n not in have]
                aliases = sorted(
                    [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in present] + new,
                    key=lambda alias: _dotted(alias.name),
                )
                return updated.with_changes(body=[small.with_changes(names=aliases)])

            record = self._record(statement, names[0][1], reason)
            edits.append(Edit(statement, join, record, tuple(f"{module}:{n}" for n in added)))
        return edits

    def _record(self, node: cst.CSTNode, code: str, reason: str) -> EditRecord:
        where = self.positions[node]
        return EditRecord(
            code,
            reason,
            Position(where.start.line, where.start.column + 1),
            where.end.line,
            import_only=True,
        )

    # -- removal -----------------------------------------------------------------------

    def _removals(
        self,
    ) -> dict[cst.SimpleStatementLine, tuple[list[cst.ImportAlias] | None, str]]:
        """Import statements to shrink: the aliases to drop (None: all of them), and the
        code of the rewrite that made them unused."""
        if not self._dropped:
            return {}
        doomed: dict[cst.SimpleStatementLine, list[cst.ImportAlias]] = {}
        codes: dict[cst.SimpleStatementLine, str] = {}
        for statement, owner in self._containers().items():
            if isinstance(owner, cst.IndentedBlock) and len(owner.body) == 1:
                continue  # removing a block's only statement would leave a bare ``pass``
            for small in _imports_of(statement):
                scope = self.scopes.get(small)
                if scope is None or isinstance(small.names, cst.ImportStar):
                    continue
                for alias in small.names:
                    code = self._dropped_by(scope, small, alias)
                    if code is not None:
                        doomed.setdefault(statement, []).append(alias)
                        codes.setdefault(statement, code)
        result: dict[cst.SimpleStatementLine, tuple[list[cst.ImportAlias] | None, str]] = {}
        for statement, aliases in doomed.items():
            total = sum(
                len(small.names)
                for small in _imports_of(statement)
                if not isinstance(small.names, cst.ImportStar)
            )
            only_imports = all(isinstance(s, cst.Import | cst.ImportFrom) for s in statement.body)
            everything = total == len(aliases) and only_imports
            result[statement] = (None if everything else aliases), codes[statement]
        return result

    def _all(self) -> frozenset[str]:
        """The names listed in the module's ``__all__``."""
        if self._exported is None:
            names: set[str] = set()
            for statement in self.module.body:
                if not isinstance(statement, cst.SimpleStatementLine):
                    continue
                for small in statement.body:
                    value = _assigned_to_all(small)
                    if isinstance(value, cst.List | cst.Tuple):
                        names.update(
                            element.value.evaluated_value
                            for element in value.elements
                            if isinstance(element.value, cst.SimpleString)
                            and isinstance(element.value.evaluated_value, str)
                        )
            self._exported = frozenset(names)
        return self._exported

    def _containers(self) -> dict[cst.SimpleStatementLine, cst.Module | cst.IndentedBlock]:
        """Every import statement of the file, with the module or block that holds it."""
        if self._owners is None:
            self._owners = {}
            _import_owners(self.module, self._owners)
        return self._owners

    def _dropped_by(
        self, scope: Scope, statement: cst.Import | cst.ImportFrom, alias: cst.ImportAlias
    ) -> str | None:
        """The code of the rewrites that removed every use of this alias, else None."""
        if isinstance(statement, cst.Import) and isinstance(alias.name, cst.Attribute):
            return None  # ``import os.path`` binds ``os``; other imports may rely on it
        name = _bound_name(alias)
        if scope is self.scopes.get(self.module) and name in self._all() | self.imported_elsewhere:
            return None  # re-exported through ``__all__``, or imported from here elsewhere
        for assignment in scope.assignments[name]:
            if isinstance(assignment, ImportAssignment) and assignment.node is statement:
                nodes = [reference.node for reference in assignment.references]
                if nodes and all(node in self._dropped for node in nodes):
                    return min(self._dropped[node] for node in nodes)
                return None
        return None

    def _removal(
        self,
        statement: cst.SimpleStatementLine,
        aliases: list[cst.ImportAlias] | None,
        code: str,
        gone: set[cst.SimpleStatementLine],
    ) -> list[Edit]:
        record = self._record(statement, code, "remove an import that is no longer used")
        if aliases is not None:
            doomed = set(aliases)
            return [Edit(statement, lambda updated: _without_aliases(updated, doomed), record)]
        edits = [Edit(statement, lambda updated: cst.RemovalSentinel.REMOVE, record)]
        moved = statement.leading_lines
        owner = self._containers()[statement]
        siblings = list(owner.body)
        index = siblings.index(statement)
        following = [s for s in siblings[index + 1 :] if s not in gone]
        if (
            isinstance(owner, cst.Module)
            and all(s in gone for s in siblings[:index])
            and following
            and isinstance(following[0], cst.SimpleStatementLine | cst.BaseCompoundStatement)
            and following[0].leading_lines
        ):
            # The module's first statement goes: the blank lines that followed it must not
            # open the file.
            edits.insert(
                0, Edit(following[0], lambda updated: _without_leading_blanks(updated), record)
            )
        if moved:
            # Comments above a removed import stay: they move to the next statement that
            # stays, or to the footer of its module or block when none does.
            if following:
                edits.insert(
                    0,
                    Edit(
                        following[0],
                        lambda updated: updated.with_changes(
                            leading_lines=[*moved, *updated.leading_lines]
                        ),
                        record,
                    ),
                )
            else:
                edits.insert(
                    0,
                    Edit(
                        owner,
                        lambda updated: updated.with_changes(footer=[*moved, *updated.footer]),
                        record,
                    ),
                )
        return edits

    # -- addition ----------------------------------------------------------------------

    def _addition(
        self, module: str, code: str, removed: set[cst.SimpleStatementLine]
    ) -> tuple[Edit, cst.CSTNode | None]:
        module, _, name = module.partition(":")
        if name:
            names = sorted(name.split(","))
            new = cst.SimpleStatementLine(
                body=[
                    cst.ImportFrom(
                        module=_dotted_expr(module),
                        names=[cst.ImportAlias(cst.Name(each)) for each in names],
                    )
                ]
            )
            reason = f"from {module} import {', '.join(names)}"
        else:
            new = cst.SimpleStatementLine(
                body=[cst.Import(names=[cst.ImportAlias(_dotted_expr(module))])]
            )
            reason = f"import {module}"
        body = list(self.module.body)
        if not body:
            record = EditRecord(code, reason, Position(1, 1), 1, import_only=True)
            return Edit(self.module, lambda updated: updated.with_changes(body=[new]), record), None
        start = _first_code_statement(body)
        leading = _leading_imports(body, start)
        top = module.split(".")[0]
        if top not in _STDLIB and leading:
            # isort's sections: the third-party imports, then the project's own (relative
            # ones last); a new import joins its section, in order.
            own = top in self.first_party
            ours = [s for s in leading if _top_module(s) in self.first_party]
            relative = [s for s in leading if _top_module(s) == "" and s not in ours]
            theirs = [
                s
                for s in leading
                if _top_module(s) not in _STDLIB and s not in ours and s not in relative
            ]
            section = ours if own else theirs
            same = [s for s in section if _top_module(s) == top]
            if same:
                # Within a package, by module: ``app.database`` before ``app.external``.
                following = next((s for s in same if _full_module(s) > module), None)
                if following is not None:
                    return self._before(following, new, code, reason, removed)
                return self._after_kept(same[-1], new, code, reason, removed)
            # isort's order: plain imports first, then from-imports, each alphabetical.
            later = next(
                (
                    s
                    for s in section
                    if (not name or isinstance(s.body[0], cst.ImportFrom))
                    and (
                        _top_module(s) > top or (not name and isinstance(s.body[0], cst.ImportFrom))
                    )
                ),
                None,
            )
            if later is not None:
                return self._before(later, new, code, reason, removed)
            if section:
                return self._after_kept(section[-1], new, code, reason, removed)
            # The first import of its section: a blank line apart from the others.
            below = [s for s in (ours + relative if not own else relative) if s not in removed]
            if below:
                return self._before(below[0], new, code, reason, removed, blank_lines=1)
            earlier = [s for s in leading if s not in removed]
            if earlier:
                spaced = new.with_changes(leading_lines=[cst.EmptyLine()])
                return self._after(earlier[-1], spaced, code, reason), None
            return self._before(leading[0], new, code, reason, removed)
        plain = [s for s in leading if _stdlib_plain(s)]
        stdlib = [s for s in leading if _top_module(s) in _STDLIB]
        if name and stdlib:
            # A from-import goes after the plain ones, among the from-imports by module.
            froms = [s for s in stdlib if not _stdlib_plain(s)]
            later_from = next((s for s in froms if _from_module(s) > module), None)
            if later_from is not None:
                return self._before(later_from, new, code, reason, removed)
            return self._after_kept(stdlib[-1], new, code, reason, removed)
        after = next((s for s in plain if _top_module(s) > module), None)
        if after is not None:
            return self._before(after, new, code, reason, removed)
        if plain:
            return self._after_kept(plain[-1], new, code, reason, removed)
        if stdlib:
            return self._before(stdlib[0], new, code, reason, removed)
        if leading:
            return self._before(leading[0], new, code, reason, removed, blank_lines=1)
        if start < len(body):
            # The first import of a module: one blank line after a docstring or
            # ``__future__`` import, and the code keeps its own comments.
            target = body[start]
            blanks = 2 if isinstance(target, cst.FunctionDef | cst.ClassDef) else 1
            record = self._record(target, code, reason)
            above = [cst.EmptyLine()] if start > 0 else []
            lines = list(target.leading_lines)
            first = next((i for i, line in enumerate(lines) if line.comment is not None), None)
            comments = lines[first:] if first is not None else []
            gap = [cst.EmptyLine()] * blanks

            def first_import(
                updated: cst.SimpleStatementLine | cst.BaseCompoundStatement,
            ) -> cst.FlattenSentinel[cst.BaseStatement]:
                return cst.FlattenSentinel(
                    [
                        new.with_changes(leading_lines=above),
                        updated.with_changes(leading_lines=[*gap, *comments]),
                    ]
                )

            return Edit(target, first_import, record), None
        return self._after(body[-1], new, code, reason), None

    def _before(
        self,
        anchor: cst.SimpleStatementLine | cst.BaseCompoundStatement,
        new: cst.SimpleStatementLine,
        code: str,
        reason: str,
        removed: set[cst.SimpleStatementLine],
        blank_lines: int = 0,
    ) -> tuple[Edit, cst.CSTNode | None]:
        record = self._record(anchor, code, reason)
        if anchor in removed:
            # The import being added takes the place of the one being removed.
            return Edit(
                anchor,
                lambda updated: new.with_changes(leading_lines=updated.leading_lines),
                record,
            ), anchor
        gap = [cst.EmptyLine()] * blank_lines

        def insert(
            updated: cst.SimpleStatementLine | cst.BaseCompoundStatement,
        ) -> cst.FlattenSentinel[cst.BaseStatement]:
            return cst.FlattenSentinel(
                [
                    new.with_changes(leading_lines=updated.leading_lines),
                    updated.with_changes(leading_lines=gap),
                ]
            )

        return Edit(anchor, insert, record), None

    def _after_kept(
        self,
        anchor: cst.SimpleStatementLine,
        new: cst.SimpleStatementLine,
        code: str,
        reason: str,
        removed: set[cst.SimpleStatementLine],
    ) -> tuple[Edit, cst.CSTNode | None]:
        """After ``anchor``; in its place when it is being removed (an edit after a
        statement another edit removes would have nothing to follow)."""
        if anchor in removed:
            return self._before(anchor, new, code, reason, removed)
        return self._after(anchor, new, code, reason), None

    def _after(
        self, anchor: cst.BaseStatement, new: cst.SimpleStatementLine, code: str, reason: str
    ) -> Edit:
        record = self._record(anchor, code, reason)
        return Edit(anchor, lambda updated: cst.FlattenSentinel([updated, new]), record)


_NESTING = (
    cst.BaseCompoundStatement,
    cst.Else,
    cst.ExceptHandler,
    cst.ExceptStarHandler,
    cst.Finally,
    cst.MatchCase,
)
"""Statement-level nodes that hold blocks (``try``'s handlers, ``match``'s cases...)."""


def _merged(additions: list[Edit]) -> list[Edit]:
    """The additions, those placed at one statement merged into one edit: a second edit
    of a statement another has split would have nothing to apply to."""
    by_node: dict[cst.CSTNode, list[Edit]] = {}
    for edit in additions:
        by_node.setdefault(edit.node, []).append(edit)
    merged: list[Edit] = []
    for node, edits in by_node.items():
        if len(edits) == 1:
            merged.append(edits[0])
            continue
        # Placed before one statement, the addition made first ends up farthest from it:
        # the standard library's first, as isort orders them (plain imports, then `from`).
        edits.sort(key=_isort_key)

        def change(updated: Any, edits: list[Edit] = edits) -> Any:
            # Each addition keeps the statement it is placed at: the element of its
            # result that is not the new import. The next addition applies to that one.
            nodes: list[Any] = [updated]
            at = 0
            for edit in edits:
                out = edit.change(nodes[at])
                pieces = list(out.nodes) if isinstance(out, cst.FlattenSentinel) else [out]
                keep = next(
                    (i for i, piece in enumerate(pieces) if _same_statement(piece, nodes[at])),
                    len(pieces) - 1,
                )
                nodes[at : at + 1] = pieces
                at += keep
            if all(_imports_of(node) for node in nodes):
                nodes = _sorted_imports(nodes)
            return cst.FlattenSentinel(nodes) if len(nodes) > 1 else nodes[0]

        merged.append(Edit(node, change, edits[0].record))
    return merged


def _without_leading_blanks(statement: Any) -> Any:
    lines = list(statement.leading_lines)
    while lines and lines[0].comment is None:
        lines.pop(0)
    return statement.with_changes(leading_lines=lines)


def _sorted_imports(nodes: list[Any]) -> list[Any]:
    """Import statements in isort's order (the standard library's, then the others';
    plain imports before ``from`` ones), a blank line between the two sections, the
    first one keeping the lines above the first statement."""
    head = list(nodes[0].leading_lines)

    def key(statement: Any) -> tuple[bool, bool, str]:
        small = statement.body[0]
        module = _top_module(statement)
        full = _dotted(small.module) if isinstance(small, cst.ImportFrom) and small.module else ""
        return (module not in _STDLIB, isinstance(small, cst.ImportFrom), full or module)

    ordered = sorted(nodes, key=key)
    result = []
    for index, statement in enumerate(ordered):
        if index == 0:
            lines = head
        elif key(statement)[0] != key(ordered[index - 1])[0]:
            lines = [cst.EmptyLine()]
        else:
            lines = []
        result.append(statement.with_changes(leading_lines=lines))
    return result


def _isort_key(edit: Edit) -> tuple[bool, bool, str]:
    words = edit.record.reason.split()
    module = words[1] if len(words) > 1 else ""
    return (module.split(".")[0] not in _STDLIB, words[:1] == ["from"], module)


def _same_statement(piece: cst.CSTNode, before: cst.CSTNode) -> bool:
    """Whether ``piece`` is ``before`` with other blank lines above it."""
    if not isinstance(piece, type(before)) or not hasattr(before, "leading_lines"):
        return False
    return piece.with_changes(leading_lines=()).deep_equals(before.with_changes(leading_lines=()))


def _import_owners(
    owner: cst.Module | cst.IndentedBlock,
    found: dict[cst.SimpleStatementLine, cst.Module | cst.IndentedBlock],
) -> None:
    """Every import statement below ``owner``, with the module or block that holds it.

    Walks statements only, never into expressions (the bulk of a tree's nodes), which
    makes it far cheaper than a libcst visitor over the whole file.
    """
    for statement in owner.body:
        if isinstance(statement, cst.SimpleStatementLine):
            if _imports_of(statement):
                found[statement] = owner
            continue
        pending: list[cst.CSTNode] = [statement]
        while pending:
            node = pending.pop()
            for child in node.children:
                if isinstance(child, cst.IndentedBlock):
                    _import_owners(child, found)
                elif isinstance(child, _NESTING):
                    pending.append(child)


def _assigned_to_all(small: cst.CSTNode) -> cst.BaseExpression | None:
    """The value of ``__all__ = ...`` (or ``+=``, or annotated), else None."""
    if isinstance(small, cst.Assign):
        targets = [target.target for target in small.targets]
    elif isinstance(small, cst.AugAssign | cst.AnnAssign):
        targets = [small.target]
    else:
        return None
    named = any(isinstance(target, cst.Name) and target.value == "__all__" for target in targets)
    return small.value if named else None


def _imports_of(statement: cst.CSTNode) -> list[cst.Import | cst.ImportFrom]:
    if not isinstance(statement, cst.SimpleStatementLine):
        return []
    return [small for small in statement.body if isinstance(small, cst.Import | cst.ImportFrom)]


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def _dotted_expr(dotted: str) -> cst.Name | cst.Attribute:
    first, *rest = dotted.split(".")
    expression: cst.Name | cst.Attribute = cst.Name(first)
    for part in rest:
        expression = cst.Attribute(expression, cst.Name(part))
    return expression


def _bound_name(alias: cst.ImportAlias) -> str:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    return _dotted(alias.name).split(".")[0]


def _without_aliases(
    updated: cst.SimpleStatementLine, doomed: set[cst.ImportAlias]
) -> cst.SimpleStatementLine:
    body: list[cst.BaseSmallStatement] = []
    for small in updated.body:
        if isinstance(small, cst.Import | cst.ImportFrom) and not isinstance(
            small.names, cst.ImportStar
        ):
            # By what it imports, not by its commas: another edit (a name joined to the
            # same ``from`` import) may have laid the names out again.
            gone = {(_dotted(d.name), _bound_name(d)) for d in doomed}
            kept = [
                alias
                for alias in small.names
                if (_dotted(alias.name), _bound_name(alias)) not in gone
            ]
            if not kept:
                continue
            if len(kept) < len(small.names):
                parenthesized = isinstance(small, cst.ImportFrom) and small.lpar is not None
                if not parenthesized:
                    kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                small = small.with_changes(names=kept)
        body.append(small)
    if body and len(body) < len(updated.body):
        body[-1] = body[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
    return updated.with_changes(body=body)


def _first_code_statement(body: Sequence[cst.BaseStatement]) -> int:
    """Index of the first statement after the docstring and ``from __future__`` imports."""
    index = 0
    if body and _is_docstring(body[0]):
        index = 1
    while index < len(body) and any(
        isinstance(small, cst.ImportFrom) and _dotted(small.module or cst.Name("_")) == "__future__"
        for small in _imports_of(body[index])
    ):
        index += 1
    return index


def _is_docstring(statement: cst.BaseStatement) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, cst.SimpleString | cst.ConcatenatedString)
    )


def _leading_imports(
    body: Sequence[cst.BaseStatement], start: int
) -> list[cst.SimpleStatementLine]:
    leading: list[cst.SimpleStatementLine] = []
    for statement in body[start:]:
        if not isinstance(statement, cst.SimpleStatementLine) or not all(
            isinstance(small, cst.Import | cst.ImportFrom) for small in statement.body
        ):
            break
        leading.append(statement)
    return leading


def _top_module(statement: cst.SimpleStatementLine) -> str:
    first = statement.body[0]
    if isinstance(first, cst.Import):
        return _dotted(first.names[0].name).split(".")[0]
    if isinstance(first, cst.ImportFrom) and first.module is not None and not first.relative:
        return _dotted(first.module).split(".")[0]
    return ""


def _full_module(statement: cst.SimpleStatementLine) -> str:
    first = statement.body[0]
    if isinstance(first, cst.Import):
        return _dotted(first.names[0].name)
    return _from_module(statement)


def _from_module(statement: cst.SimpleStatementLine) -> str:
    first = statement.body[0]
    if isinstance(first, cst.ImportFrom) and first.module is not None:
        return _dotted(first.module)
    return ""


def _stdlib_plain(statement: cst.SimpleStatementLine) -> bool:
    return isinstance(statement.body[0], cst.Import) and _top_module(statement) in _STDLIB
