"""The planner: turns every file's facts into VF203's plan, or into the obstacles that
hold the whole project back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from vibefix.asyncdb.collect import FileScan
from vibefix.asyncdb.facts import HANDED, UNKNOWN, DbFacts, From, FunctionDb, Origin, Span
from vibefix.asyncdb.names import (
    SESSION_PREFIXES,
)
from vibefix.asyncdb.plan import DbPlan, QueryPlan
from vibefix.engine.index import NodeKey, ProjectIndex

UNSEEN = "?unseen:"
"""Marks a read by a function or class of the project that VF203 has not read."""


def _key(path: Path, span: Span) -> NodeKey:
    return (path, *span)


class _Planner:
    def __init__(self, index: ProjectIndex, facts: Mapping[Path, DbFacts], code: str) -> None:
        from vibefix.sessions.plan import plan_sessions, plan_shared

        self.index = index
        self.code = code
        self.shared = plan_shared(index).users
        self.facts = facts
        self.obstacles: list[tuple[Path, int, int, str]] = []
        self.dependencies = plan_sessions(index).dependencies
        self.models: dict[str, dict[str, str]] = {}
        self.schemas: dict[str, dict[str, tuple[str, ...]]] = {}
        self.functions: dict[str, tuple[Path, FunctionDb]] = {}
        self.eager: dict[tuple[str, str], str] = {}
        """``(model, attribute)``: the ``lazy=`` strategy its mapping gives it."""
        for path, file in facts.items():
            for name, relationships in file.models:
                self.models[name] = dict(relationships)
            for name, fields in file.schemas:
                self.schemas[name] = dict(fields)
            for function in file.functions:
                self.functions[function.qualname] = (path, function)
        # A subclass of a model is a model (inheritance), with its base's relationships;
        # a schema has its bases' fields.
        for name in list(self.schemas):
            lineage = index.lineage(name)
            if any(klass in self.models for klass in lineage):
                self.schemas.pop(name)
                self.models[name] = {}
        for table in (self.models, self.schemas):
            for name in list(table):
                merged: dict[str, Any] = {}
                for klass in reversed(index.lineage(name)):
                    merged.update(table.get(klass, {}))
                merged.update(table[name])
                table[name] = merged
        by_short = {name.rpartition(".")[2]: name for name in self.models}
        for file in facts.values():
            for model, attr, lazy, backref in file.loading:
                if lazy:
                    self.eager[(model, attr)] = lazy
                target = by_short.get(self.models.get(model, {}).get(attr, "").rpartition(".")[2])
                if backref and target is not None and backref != "?":
                    self.models[target][backref] = model.rpartition(".")[2]
        self.relationship_names = {r for rels in self.models.values() for r in rels}
        # Attributes whose read does I/O besides relationships: a property that reads
        # one (``order.item_count``), a deferred column, a column the database sets on
        # update (read after a commit).
        self.properties: dict[str, dict[str, str]] = {}
        for qualname, (_, function) in self.functions.items():
            owner, _, attr = qualname.rpartition(".")
            if owner in self.models and any("property" in d for d in function.decorators):
                self.properties.setdefault(owner, {})[attr] = qualname
        for model in self.models:
            for klass in index.lineage(model):
                for attr, qualname in self.properties.get(klass, {}).items():
                    self.properties.setdefault(model, {}).setdefault(attr, qualname)
        self.columns: dict[str, dict[str, str]] = {}
        for file in facts.values():
            for model, attr, kind in file.columns:
                self.columns.setdefault(model, {})[attr] = kind
        self.watched = (
            self.relationship_names
            | {a for props in self.properties.values() for a in props}
            | {a for cols in self.columns.values() for a in cols}
        )
        self.param_reads: Mapping[tuple[str, int], set[str]] = {}
        self.first_party = {module.module.partition(".")[0] for module in index.modules}
        self.unseen_names: set[str] = set()
        """The project's functions and classes an ORM object goes to that VF203 has not
        read: the next round of indexing reads the files that name them."""
        self.awaits: set[NodeKey] = set()
        self.queries: dict[NodeKey, QueryPlan] = {}
        self.loads: dict[NodeKey, set[str]] = {}
        self.refreshes: dict[NodeKey, set[str]] = {}
        self.get_loads: dict[NodeKey, set[str]] = {}
        self.async_functions: set[NodeKey] = set()
        self.sessions: dict[NodeKey, frozenset[str]] = {}

    def obstacle(self, path: Path, line: int, column: int, why: str) -> None:
        self.obstacles.append((path, line, column, why))

    def model(self, names: Iterable[str]) -> str | None:
        for name in names:
            resolved = self.index.resolve(name)
            if resolved in self.models:
                return resolved
        return None

    def confirmed(self, source: str) -> bool:
        from vibefix.sessions.plan import factory

        kind, _, name = source.partition(":")
        if kind == "typed":
            return True
        if kind == "dep":
            return self.index.resolve(name) in self.dependencies or name in self.dependencies
        if kind == "made":
            return factory(self.index, name) is not None
        if kind == "global":
            made = self.index.objects.get(name)
            return (
                made is not None
                and made.endswith("()")
                and factory(self.index, made[:-2]) is not None
            )
        return False

    def plan(self) -> DbPlan:
        engines = [(p, e) for p, f in self.facts.items() for e in f.engines]
        makers = [(p, m) for p, f in self.facts.items() for m in f.makers]
        if not engines:
            # Sessions but no engine among the files read: a run on part of a project.
            for _, (path, function) in sorted(self.functions.items()):
                if any(self.confirmed(session.source) for session in function.sessions):
                    line, column = function.span[:2]
                    self.obstacle(
                        path,
                        line,
                        column,
                        "the engine (`create_engine`) is not in the files read: VF203 moves"
                        " the whole project at once, so run it on the whole project",
                    )
                    break
            return DbPlan(obstacles=tuple(self.obstacles))
        if len(engines) > 1:
            for path, (_, span, _) in engines:
                self.obstacle(path, span[0], span[1], "the project makes several engines")
        for path, (_, span, problem) in [*engines, *makers]:
            if problem:
                self.obstacle(path, span[0], span[1], problem)
        for _, (path, function) in sorted(self.functions.items()):
            self._function(path, function)
        disposals = self._engine_uses()
        self._file_problems()
        self._state_sessions()
        self._lazy_loads()
        create_all, app = self._tables()
        if create_all is not None:
            for path, file in sorted(self.facts.items()):
                for span, entered in file.test_clients:
                    if not entered:
                        self.obstacle(
                            path,
                            span[0],
                            span[1],
                            "a `TestClient` not entered with `with` runs no lifespan, where"
                            " VF203 moves `create_all`: the tables would be missing; use"
                            " `with TestClient(app) as client:`",
                        )
        plan = DbPlan(
            migrates=not self.obstacles,
            obstacles=tuple(sorted(set(self.obstacles))),
            engines=frozenset(_key(p, e[1]) for p, e in engines),
            disposals=disposals,
            makers=frozenset(_key(p, m[1]) for p, m in makers),
            awaits=frozenset(self.awaits),
            queries={
                key: replace(q, loads=tuple(sorted(self.loads.get(key, ()))))
                for key, q in self.queries.items()
            },
            refreshes={key: tuple(sorted(rels)) for key, rels in self.refreshes.items() if rels},
            gets={key: tuple(sorted(rels)) for key, rels in self.get_loads.items() if rels},
            async_functions=frozenset(self.async_functions),
            models=frozenset(self.models),
            create_all=create_all,
            app=app,
            sessions=self.sessions,
            wanted_names=frozenset(
                {
                    "sqlalchemy",
                    "Session",
                    *self.unseen_names,
                    *(name for _, (name, _, _) in engines if name),
                    *(name for _, (name, _, _) in makers if name),
                    *(name.rpartition(".")[2] for name in self.dependencies),
                    *(name.rpartition(".")[2] for name in self.models),
                }
            ),
            files=frozenset(
                key[0]
                for key in (
                    *(_key(p, e[1]) for p, e in engines),
                    *(_key(p, m[1]) for p, m in makers),
                    *self.awaits,
                    *self.queries,
                    *self.async_functions,
                    *self.sessions,
                    *disposals,
                    *((create_all,) if create_all else ()),
                )
            ),
        )
        return plan

    def _function(self, path: Path, function: FunctionDb) -> None:
        names = set()
        for session in function.sessions:
            if not self.confirmed(session.source):
                continue
            names.add(session.name)
            if session.source.startswith("global:") and (
                _key(path, function.span) not in self.shared
            ):
                line, column = function.span[:2]
                self.obstacle(
                    path,
                    line,
                    column,
                    f"`{session.name}` is a session made at import and shared by every"
                    " caller: an AsyncSession cannot be (VF201 gives route handlers their"
                    " own; elsewhere, open one in the function)",
                )
            for site in session.sites:
                if site.problem:
                    self.obstacle(path, site.span[0], site.span[1], site.problem)
                elif site.awaits:
                    self.awaits.add(_key(path, site.span))
                    self.async_functions.add(_key(path, site.function))
            for query in session.queries:
                models = [self.model(entity) for entity in query.entities]
                model = models[0] if len(models) == 1 else None
                if (
                    any(models)
                    and model is None
                    and query.terminal in ("all", "one", "one_or_none")
                ):
                    self.obstacle(
                        path,
                        query.span[0],
                        query.span[1],
                        "a legacy query of a model and other columns returned each row once,"
                        " which 2.0's `.unique()` cannot always do (a JSON column): select"
                        " the model alone, or write the statement by hand",
                    )
                eager = "joinedload" in query.options or any(
                    lazy == "joined" for (owner, _), lazy in self.eager.items() if owner in models
                )
                self.queries[_key(path, query.span)] = QueryPlan(
                    session.name,
                    model is not None,
                    query.joined,
                    query.terminal,
                    model=query.model,
                    mapped=any(models),
                    eager=eager,
                )
                if query.terminal in ("delete", "update", "get") and model is None:
                    self.obstacle(
                        path,
                        query.span[0],
                        query.span[1],
                        "the query's model is unknown: no 2.0 statement can be written for it",
                    )
        for handed in function.passes:
            if not handed.session or handed.var not in names:
                continue
            index = handed.index
            # ``helper(db)`` by position, or ``helper(db=db)`` by keyword.
            targets = [n.partition(":") for n in handed.callees]
            found = next(((n, kw) for n, _, kw in targets if n in self.functions), None)
            callee = self.functions[found[0]] if found else None
            param = found[1] if found else ""
            if callee is not None and not param and 0 <= index < len(callee[1].params):
                param = callee[1].params[index]
            typed = callee is not None and any(
                s.name == param and s.source == "typed" for s in callee[1].sessions
            )
            if not typed:
                self.obstacle(
                    path,
                    handed.line,
                    handed.column,
                    f"`{handed.var}` is handed to something that does not take it as a `Session`"
                    " parameter: VF203 cannot tell it gets an AsyncSession",
                )
        if names:
            self.sessions[_key(path, function.span)] = frozenset(names)

    def _file_problems(self) -> None:
        engines = {
            f"{self.index_module(path)}.{name}"
            for path, f in self.facts.items()
            for name, _, _ in f.engines
        }
        aliases = {alias for f in self.facts.values() for alias in f.aliases}
        for path, file in sorted(self.facts.items()):
            for span, why in file.problems:
                self.obstacle(path, span[0], span[1], why)
            for (model, attr), lazy in sorted(self.eager.items()):
                if (
                    lazy in ("dynamic", "?")
                    and self.models.get(model) is not None
                    and any(m == model for m, *_ in file.loading)
                ):
                    self.obstacle(
                        path,
                        1,
                        1,
                        f'`{model.rpartition(".")[2]}.{attr}` is loaded `lazy="{lazy}"`,'
                        ' which an AsyncSession cannot do (`lazy="write_only"` can)',
                    )
            for name, span, callee in file.arguments:
                resolved = self.index.resolve(name)
                if name in engines or resolved == "sqlalchemy.create_engine()":
                    if callee.endswith("create_all") and any(
                        kind == "create_all" and where[0] <= span[0] <= where[2]
                        for _, where, kind in file.module_uses
                    ):
                        continue  # the module-level create_all that moves to the lifespan
                    self.obstacle(
                        path,
                        span[0],
                        span[1],
                        f"the engine is handed to `{callee.rpartition('.')[2]}`, which would get"
                        " an AsyncEngine",
                    )
            for _, (where, scanned) in self.functions.items():
                if where != path:
                    continue
                for param, named in scanned.annotated:
                    if named in aliases or self.index.resolve(named) in aliases:
                        line, column = scanned.span[:2]
                        self.obstacle(
                            path,
                            line,
                            column,
                            f"`{param}` is annotated with an alias of `Session`"
                            f" (`{named.rpartition('.')[2]}`): VF203 does not follow"
                            " aliases yet; annotate it `Session` itself",
                        )
        for fact in self.index.functions.values():
            for call in fact.calls:
                for target in call.targets:
                    resolved = self.index.resolve(target)
                    if resolved.startswith(
                        ("sqlalchemy.orm.sessionmaker().", "sqlalchemy.orm.session.sessionmaker().")
                    ):
                        verb = resolved.rpartition(".")[2]
                        self.obstacle(
                            fact.path,
                            call.line,
                            call.column,
                            f"the session factory's `{verb}` has no rewrite in {self.code}",
                        )
                    if target in self.dependencies or resolved in self.dependencies:
                        self.obstacle(
                            fact.path,
                            call.line,
                            call.column,
                            f"the session dependency `{target.rpartition('.')[2]}` is called"
                            " directly: it becomes an async generator",
                        )

    def _state_sessions(self) -> None:
        """A session kept on ``app.state`` and read by the app's code: VF201 gives its
        readers the request's session first (a run of the default recipe)."""
        from vibefix.sessions.plan import factory

        kept = {
            attribute
            for file in self.facts.values()
            for attribute, callee, _ in file.state
            if factory(self.index, callee) is not None
        }
        for path, file in sorted(self.facts.items()):
            for attribute, span in file.state_reads:
                if attribute in kept:
                    self.obstacle(
                        path,
                        span[0],
                        span[1],
                        f"the session kept on `app.state.{attribute}` is shared by every"
                        " request and would be an AsyncSession used without `await` here:"
                        " run the default recipe first (VF201 gives each handler the"
                        " request's own), then remove the session from `app.state` and"
                        " the code that still uses it, then run async-db",
                    )

    def index_module(self, path: Path) -> str:
        for module in self.index.modules:
            if module.path == path:
                return module.module
        return ""

    def _engine_uses(self) -> dict[NodeKey, str]:
        """The engine's ``dispose()`` calls (awaited, or run in sync code); any other
        call of one of its methods in a function is an obstacle."""
        disposals: dict[NodeKey, str] = {}
        for name, function in sorted(self.index.functions.items()):
            for call in function.calls:
                for target in call.targets:
                    resolved = self.index.resolve(target)
                    if not resolved.startswith("sqlalchemy.create_engine()."):
                        continue
                    verb = resolved.removeprefix("sqlalchemy.create_engine().")
                    key = (function.path, call.line, call.column, *call.end)
                    if verb == "dispose" and call.awaitable:
                        disposals[key] = name
                    elif verb.split(".")[0] not in ("url", "dialect", "pool", "name"):
                        self.obstacle(
                            function.path,
                            call.line,
                            call.column,
                            f"no rewrite for the engine's `{verb.split('(')[0]}`",
                        )
        return disposals

    # -- lazy loads --------------------------------------------------------------------

    def _lazy_loads(self) -> None:
        # What each function reads of each parameter, through the helpers it hands it to.
        reads: dict[tuple[str, int], set[str]] = {}
        for _ in range(10):
            changed = False
            for qualname, (_, function) in self.functions.items():
                for var, attrs, _line, _column in self._reads(function, reads):
                    if (
                        isinstance(var, str)
                        and var in function.params
                        and var not in dict(function.origins)
                    ):
                        key = (qualname, function.params.index(var))
                        before = len(reads.setdefault(key, set()))
                        reads[key] |= attrs
                        changed |= len(reads[key]) != before
            if not changed:
                break
        self.param_reads = reads
        for _, (path, function) in sorted(self.functions.items()):
            self._expired_reads(path, function)
            origins = dict(function.origins)
            for var, attrs, line, column in self._reads(function, reads):
                if isinstance(var, str) and var in function.params and var not in origins:
                    continue
                self._load(path, function, origins, var, attrs, line, column)

    def _reads(
        self, function: FunctionDb, reads: Mapping[tuple[str, int], set[str]]
    ) -> list[tuple[str | Origin, set[str], int, int]]:
        """``(var, relationship names read, line, column)`` of ``function``: read on the
        variable (``a.b`` for a relationship of a relationship), by a helper or a method
        it is handed to, by a schema that validates it, or by the response model (then
        ``var`` may be the origin of what a ``return`` returns)."""
        found: list[tuple[str | Origin, set[str], int, int]] = [
            (var, {attr}, line, column)
            for var, attr, line, column in function.touches
            if attr.partition(".")[0] in self.watched
        ]
        origins = dict(function.origins)
        for handed in function.passes:
            if handed.session:
                continue
            index, var, line, column = handed.index, handed.var, handed.line, handed.column
            for callee in handed.callees:
                name, _, keyword = callee.partition(":")
                if name == "method":
                    model = self._model_of(var, origins, function)
                    name, keyword, index = f"{model}.{keyword}", "", 0
                helper = self.functions.get(name)
                position = index
                if keyword and helper is not None and keyword in helper[1].params:
                    position = helper[1].params.index(keyword)
                attrs = reads.get((name, position))
                if attrs:
                    found.append((var, set(attrs), line, column))
                owner, _, verb = name.rpartition(".")
                if verb in ("model_validate", "from_orm") and owner in self.schemas and index == 0:
                    fields = self._fields(owner)
                    if fields:
                        found.append((var, fields, line, column))
                elif helper is None and self._unseen(owner if verb == "model_validate" else name):
                    found.append((var, {f"{UNSEEN}{name}"}, line, column))
        schema = next((s for s in function.response if s in self.schemas), None)
        unseen = [s for s in function.response if self._unseen(s)]
        if schema is None and unseen:
            line, column = function.end, function.span[1]
            found.extend(
                (returned, {f"{UNSEEN}{unseen[0]}"}, line, column) for returned in function.returns
            )
        if schema is not None:
            fields = self._fields(schema)
            if fields:
                # Read when the response is built: after everything in the function.
                line, column = function.end, function.span[1]
                found.extend((returned, fields, line, column) for returned in function.returns)
        return found

    def _unseen(self, name: str) -> bool:
        """Whether ``name`` is the project's (its package is one of the project's) but
        VF203 has not read it: what it does with an object is unknown."""
        top = name.partition(".")[0]
        if top not in self.first_party or name in self.functions:
            return False
        if name in self.models or name in self.schemas:
            return False
        if "<locals>" not in name:  # a nested function is read with its own
            self.unseen_names.add(name.rpartition(".")[2])
        return True

    def _expired_reads(self, path: Path, function: FunctionDb) -> None:
        """An object read after ``rollback()`` or ``expire()`` reloads: MissingGreenlet."""
        if not function.expiries:
            return
        origins = dict(function.origins)
        for var, attr, line, column in function.touches:
            origin = origins.get(var, UNKNOWN)
            while origin.item_of_variable:
                origin = origins.get(origin.item_of_variable, UNKNOWN)
            orm = origin.loaded or (
                origin.kind is From.CALL and self.model([origin.name]) is not None
            )
            after = [verb for verb, at in function.expiries if at < line]
            if orm and after:
                self.obstacle(
                    path,
                    line,
                    column,
                    f"`{var}.{attr.partition('.')[0]}` is read after `{after[-1]}()`, which"
                    " expires the session's objects: the read reloads it, which raises"
                    " MissingGreenlet in async code; read what you need before it",
                )
                return

    def _fields(self, schema: str, depth: int = 0) -> set[str]:
        """The relationships a schema reads (with ``from_attributes``), by field name:
        ``items``, and ``items.product`` for a field of a nested schema."""
        found: set[str] = set()
        for field_name, referenced in self.schemas.get(schema, {}).items():
            if field_name not in self.watched:
                continue
            found.add(field_name)
            for nested in referenced:
                if nested in self.schemas and nested != schema and depth < 3:
                    found |= {f"{field_name}.{inner}" for inner in self._fields(nested, depth + 1)}
        return found

    def _model_of(
        self, var: str | Origin, origins: Mapping[str, Origin], function: FunctionDb
    ) -> str:
        origin = origins.get(var, UNKNOWN) if isinstance(var, str) else UNKNOWN
        if origin.kind is From.CALL:
            return self.model([origin.name]) or "?"
        if origin.kind in (From.QUERY, From.LIST):
            for session in function.sessions:
                for query in session.queries:
                    if query.span[:2] == origin.at and len(query.entities) == 1:
                        return self.model(query.entities[0]) or "?"
        return "?"

    def _target(self, model: str, relationship: str) -> str | None:
        """The model a relationship leads to."""
        target = self.models.get(model, {}).get(relationship, "")
        short = target.rpartition(".")[2]
        for name in self.models:
            if name.rpartition(".")[2] == short:
                return name
        return None

    def _needed(self, model: str, attrs: set[str], options: str = "") -> tuple[set[str], str]:
        """Which of ``attrs`` (relationship paths) a load of ``model`` must add, and why
        it cannot when it cannot (a relationship of a relationship)."""
        wanted: set[str] = set()
        expanded = set(attrs)
        for attr in attrs:
            prop = self.properties.get(model, {}).get(attr.partition(".")[0])
            if prop is not None:  # a property reads what its ``self`` reads
                expanded |= set(self.param_reads.get((prop, 0), set()))
        for path in sorted(expanded):
            first, _, rest = path.partition(".")
            kind = self.columns.get(model, {}).get(first)
            if kind == "deferred":
                return set(), (
                    f"`{first}` is a deferred column of `{model.rpartition('.')[2]}`: reading"
                    " it loads it, which raises MissingGreenlet in async code; undefer it in"
                    " the query (`.options(undefer(...))`)"
                )
            if first not in self.models.get(model, {}):
                continue
            if rest:
                target = self._target(model, first)
                inner = rest.partition(".")[0]
                if target is None or inner in self.models.get(target, {}):
                    return set(), (
                        f"`{path}` reads a relationship of a relationship"
                        f" (`{model.rpartition('.')[2]}.{first}`, then `{inner}`), which"
                        " VF203 does not load yet: add"
                        f" `.options(selectinload(...{first}).selectinload(...{inner}))`"
                    )
                continue
            if self.eager.get((model, first)) in ("selectin", "joined", "subquery", "immediate"):
                continue  # the mapping loads it with the object
            if f".{first})" in options or f".{first}," in options:
                continue  # the query's own options load it
            wanted.add(first)
        return wanted, ""

    def _load(
        self,
        path: Path,
        function: FunctionDb,
        origins: Mapping[str, Origin],
        var: str | Origin,
        attrs: set[str],
        line: int,
        column: int,
    ) -> None:
        origin = var if isinstance(var, Origin) else origins.get(var, UNKNOWN)
        while origin.item_of_variable:
            origin = origins.get(origin.item_of_variable, UNKNOWN)
        kind = origin.kind
        unseen = sorted(a[len(UNSEEN) :] for a in attrs if a.startswith(UNSEEN))
        attrs = {a for a in attrs if not a.startswith(UNSEEN)}
        orm = origin.loaded or (
            kind is From.CALL
            and (origin.name in self.functions or self.model([origin.name]) is not None)
        )
        if unseen and orm:
            self.obstacle(
                path,
                line,
                column,
                f"{self._what(var, function)} goes to `{unseen[0].rpartition('.')[2]}`, which"
                " VF203 has not read (outside the files given, or in a module that names no"
                " session, query, model or schema): it may read a relationship, which raises"
                " MissingGreenlet in async code",
            )
            return
        if not attrs:
            return
        model_of = self._model_of(var, origins, function) if kind is not From.QUERY else None
        updated = {
            attr
            for attr in attrs
            if model_of and self.columns.get(model_of, {}).get(attr) == "onupdate"
        }
        if updated and any(flush < line for flush in function.flushes):
            self.obstacle(
                path,
                line,
                column,
                f"`{sorted(updated)[0]}` is set by the database on update and read after the"
                " commit, which reloads it: MissingGreenlet in async code; add"
                f" `await db.refresh({var})` after the commit",
            )
            return
        if kind in (From.QUERY, From.LIST):
            query_key = next(
                (k for k in self.queries if k[0] == path and k[1:3] == origin.at), None
            )
            query = self.queries.get(query_key) if query_key else None
            model = self._query_model(path, function, query_key) if query_key else None
            if query is None or not query.entity or model is None:
                self._unknown(path, self._what(var, function), attrs, line, column)
                return
            assert query_key is not None
            wanted, why = self._needed(model, attrs, self._options(path, function, query_key))
            if why:
                self.obstacle(path, line, column, why)
            elif wanted:
                self.loads.setdefault(query_key, set()).update(wanted)
            return
        if kind is From.GET:
            key = next((k for k in self.awaits if k[0] == path and k[1:3] == origin.at), None)
            model = self.model([origin.name])
            if key is None or model is None:
                self._unknown(path, self._what(var, function), attrs, line, column)
                return
            wanted, why = self._needed(model, attrs)
            if why:
                self.obstacle(path, line, column, why)
            elif wanted:
                self.get_loads.setdefault(key, set()).update(wanted)
            return
        if kind is From.CALL and origin.name in self.functions:
            # What a helper returns (``crud.get_user(db, id)``): the query in it loads.
            loads = self._returned(origin.name)
            if not loads:
                self._unknown(path, self._what(var, function), attrs, line, column)
                return
            for where, helper, local in loads:
                self._load(where, helper, dict(helper.origins), local, attrs, line, column)
            return
        if kind is From.CALL:
            model = self.model([origin.name])
            if model is None:  # what a function returned: any object, loaded anywhere
                self._unknown(path, self._what(var, function), attrs, line, column)
                return
            wanted, why = self._needed(model, attrs)
            if why:
                self.obstacle(path, line, column, why)
                return
            refresh = next(
                (span for name, span in function.refreshes if name == var and span[0] <= line),
                None,
            )
            if (
                wanted
                and refresh is None
                and any(name == f"!{var}" for name, _ in function.refreshes)
            ):
                self.obstacle(
                    path,
                    line,
                    column,
                    f"`{var}.{sorted(wanted)[0]}` lazy-loads a relationship after a refresh"
                    " that shares its line with other code: put the refresh on a line of"
                    " its own, so that VF203 can load the relationship after it",
                )
            elif wanted and refresh is None:
                self.obstacle(
                    path,
                    line,
                    column,
                    f"`{var}.{sorted(wanted)[0]}` lazy-loads a relationship of a new object,"
                    " which raises MissingGreenlet in async code: load it with"
                    f" `await session.refresh({var}, {sorted(wanted)!r})`",
                )
            elif wanted and refresh is not None:
                self.refreshes.setdefault(_key(path, refresh), set()).update(wanted)
            return
        self._unknown(path, self._what(var, function), attrs, line, column)

    @staticmethod
    def _what(var: str | Origin, function: FunctionDb) -> str:
        """How a finding names what a relationship is read on."""
        if var == HANDED:
            return "a value handed to a helper"
        if isinstance(var, str):
            return f"`{var}`"
        if var.kind is From.QUERY:
            return "what this call returns"
        if var.kind is From.CALL:
            return f"what `{var.name.rpartition('.')[2]}` returns"
        return f"what `{function.qualname.rpartition('.')[2]}` returns"

    def _returned(
        self, qualname: str, depth: int = 0
    ) -> list[tuple[Path, FunctionDb, str | Origin]] | None:
        """Where what ``qualname`` returns is loaded: ``(file, function, origin)`` for
        each ``return`` (a query run there, or a variable holding its result, or what
        another helper returns); None when one of them is anything else."""
        path, function = self.functions[qualname]
        if not function.returns or depth > 5:
            return None
        origins = dict(function.origins)
        found: list[tuple[Path, FunctionDb, str | Origin]] = []
        for returned in function.returns:
            origin = returned if isinstance(returned, Origin) else origins.get(returned, UNKNOWN)
            kind = origin.kind
            if kind is From.QUERY and any(
                k[0] == path and k[1:3] == origin.at for k in self.queries
            ):
                found.append((path, function, origin))
            elif origin.loaded:
                found.append((path, function, returned))
            elif kind is From.CALL and origin.name in self.functions:
                deeper = self._returned(origin.name, depth + 1)
                if deeper is None:
                    return None
                found.extend(deeper)
            else:
                return None
        return found

    def _unknown(self, path: Path, what: str, attrs: set[str], line: int, column: int) -> None:
        relationship = sorted(attrs)[0].partition(".")[0]
        self.obstacle(
            path,
            line,
            column,
            f"a relationship (`{relationship}`) is read on {what}, which raises"
            " MissingGreenlet in async code unless it is loaded, and VF203 cannot tell"
            " which query loads it: load it there with"
            f" `.options(selectinload(Model.{relationship}))`",
        )

    def _options(self, path: Path, function: FunctionDb, key: NodeKey) -> str:
        for session in function.sessions:
            for query in session.queries:
                if _key(path, query.span) == key:
                    return query.options
        return ""

    def _query_model(self, path: Path, function: FunctionDb, key: NodeKey) -> str | None:
        for session in function.sessions:
            for query in session.queries:
                if _key(path, query.span) == key and len(query.entities) == 1:
                    return self.model(query.entities[0])
        return None

    # -- tables --------------------------------------------------------------------------

    def _lifespan_problem(self, lifespan: str) -> str:
        """Why VF203 cannot wrap the app's own lifespan in the one that creates the
        tables; ``""`` when it can (or there is none)."""
        if not lifespan:
            return ""
        function = self.index.functions.get(self.index.resolve(lifespan)) or (
            self.index.functions.get(lifespan)
        )
        if lifespan == "?" or function is None:
            return (
                "the app's `lifespan=` is not a function of the project that VF203 can"
                " wrap: move `create_all` into it by hand"
            )
        if not any(d.endswith("asynccontextmanager") for d in function.decorators):
            return (
                f"the app's lifespan `{lifespan.rpartition('.')[2]}` is no"
                " `@asynccontextmanager`: move `create_all` into it by hand"
            )
        return ""

    def _tables(self) -> tuple[NodeKey | None, NodeKey | None]:
        create_all: NodeKey | None = None
        app: NodeKey | None = None
        for path, file in self.facts.items():
            for name, span, kind in file.module_uses:
                if kind == "create_all":
                    if not file.apps or create_all is not None:
                        self.obstacle(
                            path,
                            span[0],
                            span[1],
                            "`create_all` at import, outside the module that makes the app:"
                            " VF203 moves it into the app's lifespan only there",
                        )
                        continue
                    statement, call, keywords = file.apps[0]
                    if statement[0] < span[0]:
                        self.obstacle(
                            path,
                            span[0],
                            span[1],
                            "`create_all` comes after the app is made: move it above",
                        )
                        continue
                    taken = {"on_startup", "on_shutdown", "**"} & set(keywords)
                    if taken:
                        self.obstacle(
                            path,
                            span[0],
                            span[1],
                            f"the app has `{sorted(taken)[0]}`, which a lifespan would switch off",
                        )
                        continue
                    lifespan = file.lifespans[0] if file.lifespans else ""
                    problem = self._lifespan_problem(lifespan)
                    if problem:
                        self.obstacle(path, span[0], span[1], problem)
                        continue
                    create_all, app = _key(path, span), _key(path, call)
                    continue
                resolved = self.index.resolve(name)
                if resolved.startswith(("sqlalchemy.create_engine()", *SESSION_PREFIXES)):
                    self.obstacle(
                        path,
                        span[0],
                        span[1],
                        "a session or the engine used at import, where nothing can be awaited",
                    )
        return create_all, app


def plan_async_db(index: ProjectIndex, code: str) -> DbPlan:
    """The plan of VF203 (``code``): every file, query and load the move rewrites, or
    the obstacles that hold the whole project back."""
    return replace(_Planner(index, index.facts(FileScan), code).plan(), code=code)
