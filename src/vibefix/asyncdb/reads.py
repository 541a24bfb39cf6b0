"""What each function reads on the ORM objects it holds: the attributes whose read may
do I/O (``Orm.watched``), read on a variable, by a helper or a model's method the object
is handed to, by a schema that validates it, or by the route's response model."""

from __future__ import annotations

from collections.abc import Mapping

from vibefix.asyncdb.draft import Draft
from vibefix.asyncdb.facts import UNKNOWN, From, FunctionDb, Origin

UNSEEN = "?unseen:"
"""Marks a read by a function or class of the project that the planner has not read."""

Read = tuple[str | Origin, set[str], int, int]
"""A read: the variable (or what a ``return`` returns), the attributes, the position."""


class Reads:
    def __init__(self, draft: Draft) -> None:
        self.draft = draft
        self.functions = draft.functions
        self.orm = draft.orm
        self.first_party = {module.module.partition(".")[0] for module in draft.index.modules}
        self.of_params: dict[tuple[str, int], set[str]] = {}
        """What each function reads of each parameter (by index), through the helpers it
        hands it to."""
        for _ in range(10):
            changed = False
            for qualname, (_, function) in self.functions.items():
                for var, attrs, _line, _column in self.of(function):
                    if (
                        isinstance(var, str)
                        and var in function.params
                        and var not in dict(function.origins)
                    ):
                        key = (qualname, function.params.index(var))
                        before = len(self.of_params.setdefault(key, set()))
                        self.of_params[key] |= attrs
                        changed |= len(self.of_params[key]) != before
            if not changed:
                break

    def of(self, function: FunctionDb) -> list[Read]:
        """``(var, relationship names read, line, column)`` of ``function``: read on the
        variable (``a.b`` for a relationship of a relationship), by a helper or a method
        it is handed to, by a schema that validates it, or by the response model (then
        ``var`` may be the origin of what a ``return`` returns)."""
        classes = {model.rpartition(".")[2] for model in self.orm.models}
        found: list[Read] = [
            # ``row.Todo.tags`` on a row of a statement: ``tags`` read on the ``Todo``.
            (var, {rest if first in classes and rest else attr}, line, column)
            for var, attr, line, column in function.touches
            for first, _, rest in (attr.partition("."),)
            if first in self.orm.watched or (first in classes and rest in self.orm.watched)
        ]
        origins = dict(function.origins)
        for handed in function.passes:
            if handed.session:
                continue
            index, var, line, column = handed.index, handed.var, handed.line, handed.column
            for callee in handed.callees:
                name, _, keyword = callee.partition(":")
                if name == "method":
                    model = self.model_of(var, origins, function)
                    name, keyword, index = f"{model}.{keyword}", "", 0
                if name not in self.functions:
                    exported = self.draft.index.resolve(name)
                    if exported in self.functions:  # ``from app.crud import get_user``
                        name = exported
                helper = self.functions.get(name)
                position = index
                library = False
                if helper is None and index >= 0:
                    # ``self._assert_models(order)``: its class's method, or a base's.
                    method, library = self._method(name)
                    if method:
                        name, helper, position = method, self.functions[method], index + 1
                if keyword and helper is not None and keyword in helper[1].params:
                    position = helper[1].params.index(keyword)
                attrs = self.of_params.get((name, position))
                if attrs:
                    found.append((var, set(attrs), line, column))
                owner, _, verb = name.rpartition(".")
                owner = self.draft.index.resolve(owner) if owner else owner
                if (
                    verb in ("model_validate", "from_orm")
                    and owner in self.orm.schemas
                    and index == 0
                ):
                    fields = self.orm.fields(owner)
                    if fields:
                        found.append((var, fields, line, column))
                elif (
                    helper is None
                    and not library
                    and self._unseen(owner if verb == "model_validate" else name)
                ):
                    found.append((var, {f"{UNSEEN}{name}"}, line, column))
        resolve = self.draft.index.resolve
        schema = next(
            (resolve(s) for s in function.response if resolve(s) in self.orm.schemas), None
        )
        unseen = [s for s in function.response if self._unseen(s)]
        line, column = function.end, function.span[1]  # read as the response is built
        if schema is None and unseen:
            returns = [*function.returns, *(value for _, value in function.keyed)]
            found.extend((returned, {f"{UNSEEN}{unseen[0]}"}, line, column) for returned in returns)
        if schema is not None:
            fields = self.orm.fields(schema)
            if fields:
                found.extend((returned, fields, line, column) for returned in function.returns)
            # ``return {"todos": todos}``: the field ``todos`` reads what ``todos`` holds.
            for key, value in function.keyed:
                inner = {f[len(key) + 1 :] for f in fields if f.startswith(f"{key}.")}
                if inner:
                    found.append((value, inner, line, column))
        return found

    def _method(self, name: str) -> tuple[str, bool]:
        """For a method called on an instance (``Owner().name``, ``self.name()`` in a
        method of ``Owner``): the project's function it runs, its class's or a base's;
        else ``""``, and whether an outside base has it (``self.assertEqual`` of a
        ``unittest.TestCase``: a library's method)."""
        index = self.draft.index
        owner, _, method = index.resolve(name).rpartition(".")
        if not owner.endswith("()"):
            return "", False
        cls = index.resolve(owner[:-2])
        for klass in index.lineage(cls):
            if f"{klass}.{method}" in self.functions:
                return f"{klass}.{method}", False
        return "", bool(index.outside_bases(cls))

    def _unseen(self, name: str) -> bool:
        """Whether ``name`` is the project's (its package is one of the project's) but
        VF203 has not read it: what it does with an object is unknown."""
        top = name.partition(".")[0]
        if top not in self.first_party or name in self.functions:
            return False
        # ``pwd_context.verify`` of a module-level ``CryptContext()``: a library's method.
        resolved = self.draft.index.resolve(name)
        if resolved != name and resolved.partition(".")[0] not in self.first_party:
            return False
        if {name, resolved} & (self.orm.models.keys() | self.orm.schemas.keys()):
            return False
        if "<locals>" not in name:  # a nested function is read with its own
            self.draft.unseen_names.add(name.rpartition(".")[2])
        return True

    def model_of(
        self, var: str | Origin, origins: Mapping[str, Origin], function: FunctionDb
    ) -> str:
        """The model of the object ``var`` holds; ``?`` when it is unknown."""
        origin = origins.get(var, UNKNOWN) if isinstance(var, str) else UNKNOWN
        if origin.kind in (From.CALL, From.SELECT, From.GET):
            return self.orm.model([origin.name]) or "?"
        if origin.kind in (From.QUERY, From.LIST):
            for session in function.sessions:
                for query in session.queries:
                    if query.span[:2] == origin.at and len(query.entities) == 1:
                        return self.orm.model(query.entities[0]) or "?"
        return "?"
