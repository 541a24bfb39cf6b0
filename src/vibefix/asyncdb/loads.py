"""Lazy loads: an ORM object loaded in async code cannot lazy-load a relationship
(``MissingGreenlet``). Each relationship read on an object (in the function, in a helper
it is handed to, by a schema that validates it, or by the handler's response model) is
tied to the load of the object, which then loads it too (``selectinload``, or a second
``refresh``); a read that cannot be tied to a load is an obstacle."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from vibefix.asyncdb.draft import Draft, key_of
from vibefix.asyncdb.facts import HANDED, UNKNOWN, From, FunctionDb, Origin
from vibefix.asyncdb.objects import ALTERNATIVE, CALLED, ITERATED
from vibefix.asyncdb.reads import UNSEEN, Reads
from vibefix.engine.index import NodeKey, shown


class LazyLoads:
    def __init__(self, draft: Draft) -> None:
        self.draft = draft
        self.functions = draft.functions
        self.orm = draft.orm
        self.code = draft.code
        self.reads = Reads(draft)
        self._report: Path | None = None
        """Where a read is said while its load is looked for in a helper's file."""

    def _at(self, path: Path) -> Path:
        """The file a finding about a read goes to: the one the read is in."""
        return self._report or path

    def check(self) -> None:
        for _, (path, function) in sorted(self.functions.items()):
            self._expired_reads(path, function)
            origins = dict(function.origins)
            for var, attrs, line, column in self.reads.of(function):
                if isinstance(var, str) and var in function.params and var not in origins:
                    continue
                self._load(path, function, origins, var, attrs, line, column)

    def _expired_reads(self, path: Path, function: FunctionDb) -> None:
        """An object read after ``rollback()`` or ``expire()`` reloads: MissingGreenlet."""
        if not function.expiries:
            return
        origins = dict(function.origins)
        for var, attr, line, column in function.touches:
            origin = _through_items(origins.get(var, UNKNOWN), origins)
            orm = origin.loaded or (
                origin.kind is From.CALL and self.orm.model([origin.name]) is not None
            )
            after = [verb for verb, at in function.expiries if at < line]
            if orm and after:
                self.draft.obstacle(
                    self._at(path),
                    line,
                    column,
                    f"`{_named(var)}.{attr.partition('.')[0]}` is read after `{after[-1]}()`, which"
                    " expires the session's objects: the read reloads it, which raises"
                    " MissingGreenlet in async code; read what you need before it",
                )
                return

    def _needed(
        self,
        model: str,
        attrs: set[str],
        options: str = "",
        chains: bool = False,
        mapped: bool = True,
    ) -> tuple[set[str], str]:
        """Which of ``attrs`` (relationship paths) a load of ``model`` must add, and why
        it cannot when it cannot. With ``chains`` (loader options: a statement's, a
        ``get``'s), a relationship of a relationship is loaded by a chain of loaders,
        written ``posts|app.models.Post:comments`` (each later link: the class it is on,
        and the relationship); without (a refresh), it cannot be."""
        wanted: set[str] = set()
        expanded = set(attrs)
        for attr in attrs:
            prop = self.orm.properties.get(model, {}).get(attr.partition(".")[0])
            if prop is not None:  # a property reads what its ``self`` reads
                expanded |= set(self.reads.of_params.get((prop, 0), set()))
        for path in sorted(expanded):
            first, _, rest = path.partition(".")
            kind = self.orm.columns.get(model, {}).get(first)
            if kind == "deferred":
                return set(), (
                    f"`{first}` is a deferred column of `{model.rpartition('.')[2]}`: reading"
                    " it loads it, which raises MissingGreenlet in async code; undefer it in"
                    " the query (`.options(undefer(...))`)"
                )
            if first not in self.orm.models.get(model, {}):
                continue
            # ``mapped``: a load of the object loads what its mapping loads eagerly (a
            # new object only once a refresh reads it back).
            loaded = (mapped and self._eager(model, first)) or (
                f".{first})" in options or f".{first}," in options  # the query's options
            )
            if rest:
                target = self.orm.target(model, first)
                inner = rest.partition(".")[0]
                # A column of the related object comes with it; a relationship of it
                # is loaded with it only by its own mapping, or by a chain of loaders.
                chain = self._chain(target, rest, options) if chains and target else None
                if chain:
                    wanted.add(f"{first}|{chain}")  # it loads ``first`` too
                    continue
                if chain is None and (
                    target is None
                    or (inner in self.orm.models.get(target, {}) and not self._eager(target, inner))
                ):
                    return set(), (
                        f"`{path}` reads a relationship of a relationship"
                        f" (`{model.rpartition('.')[2]}.{first}`, then `{inner}`), which"
                        f" {self.code} cannot load here: add"
                        f" `.options(selectinload(...{first}).selectinload(...{inner}))`"
                        " to the query that loads it"
                    )
            if not loaded:
                wanted.add(first)
        return wanted, ""

    def _chain(self, model: str, rest: str, options: str) -> str | None:
        """The later links of a chain of loaders for the path ``rest`` read on a loaded
        ``model`` (``app.models.Post:comments``); ``""`` when nothing past ``model`` needs
        loading, None when something cannot be (an unknown class on the way)."""
        first, _, deeper = rest.partition(".")
        if first not in self.orm.models.get(model, {}):
            return ""  # a column: it comes with the object
        target = self.orm.target(model, first)
        if target is None:
            return None
        further = self._chain(target, deeper, options) if deeper else ""
        if further is None:
            return None
        loaded = self._eager(model, first) or f".{first})" in options
        if loaded and not further:
            return ""
        link = f"{model}:{first}"
        return f"{link}|{further}" if further else link

    def _eager(self, model: str, relationship: str) -> bool:
        """The mapping loads the relationship with the object (``lazy="selectin"``...)."""
        lazy = self.orm.eager.get((model, relationship))
        return lazy in ("selectin", "joined", "subquery", "immediate")

    def _load(
        self,
        path: Path,
        function: FunctionDb,
        origins: Mapping[str, Origin],
        var: str | Origin,
        attrs: set[str],
        line: int,
        column: int,
        after: int = 0,
    ) -> None:
        """``after``: the read comes after this line of ``function`` (the end of a helper
        whose result is read); ``line`` and ``column`` are where it is said."""
        origin = var if isinstance(var, Origin) else origins.get(var, UNKNOWN)
        held = var if isinstance(var, str) else ""
        seen = {held}
        while origin.item_of_variable and origin.item_of_variable not in seen:
            held = origin.item_of_variable
            seen.add(held)
            origin = origins.get(held, UNKNOWN)
        if held and ALTERNATIVE not in held:
            # A variable two queries fill (one in each branch): what either loaded. A
            # value an assignment under no condition ended is read only before it, and
            # what the variable holds last only after the last such assignment.
            at = after or line
            ended = dict(function.rebinds)
            for earlier in sorted(o for o in origins if o.startswith(f"{held}{ALTERNATIVE}")):
                if ended.get(earlier, at + 1) <= at:
                    continue
                alternative = earlier if held == var else Origin(From.ITEM, name=earlier)
                self._load(path, function, origins, alternative, attrs, line, column, after)
            if any(
                name.startswith(f"{held}{ALTERNATIVE}") and end > at
                for name, end in function.rebinds
            ):
                return
        if origin.kind is From.CALL and origin.name not in self.functions:
            exported = self.draft.index.resolve(origin.name)
            if exported in self.functions:  # ``from app.crud import get_user``: re-exported
                origin = Origin(From.CALL, origin.at, exported)
        base, dot, relationship = origin.name.partition(".")
        if origin.kind is From.ITEM and dot and "." not in relationship and base in origins:
            # ``for item in shop.items: item.product``: read through the relationship
            # (``items.product`` on ``shop``), loaded with it by a chain of loaders.
            through = {a if a.startswith(UNSEEN) else f"{relationship}.{a}" for a in attrs}
            self._load(path, function, origins, base, through, line, column, after)
            return
        kind = origin.kind
        unseen = sorted(a[len(UNSEEN) :] for a in attrs if a.startswith(UNSEEN))
        attrs = {a for a in attrs if not a.startswith(UNSEEN)}
        orm = origin.loaded or (
            kind is From.CALL
            and (origin.name in self.functions or self.orm.model([origin.name]) is not None)
        )
        if unseen and orm:
            self.draft.obstacle(
                self._at(path),
                line,
                column,
                f"{self._what(var, function)} goes to `{unseen[0].rpartition('.')[2]}`, which"
                f" {self.code} has not read (outside the files given, or in a module that names no"
                " session, query, model or schema): it may read a relationship, which raises"
                " MissingGreenlet in async code",
            )
            return
        if not attrs:
            return
        model_of = self.reads.model_of(var, origins, function) if kind is not From.QUERY else None
        updated = {
            attr
            for attr in attrs
            if model_of and self.orm.columns.get(model_of, {}).get(attr) == "onupdate"
        }
        last = max((flush for flush in function.flushes if flush < line), default=0)
        reloaded = any(
            isinstance(var, str) and r.var == var and last < r.span[0] <= line
            for r in function.refreshes
        )
        if updated and last and not reloaded:
            self.draft.obstacle(
                self._at(path),
                line,
                column,
                f"`{sorted(updated)[0]}` is set by the database on update and read after the"
                " commit, which reloads it: MissingGreenlet in async code; add"
                f" `await db.refresh({var})` after the commit",
            )
            return
        if kind in (From.QUERY, From.LIST):
            self._load_query(path, function, origin, var, attrs, line, column)
        elif kind is From.GET:
            self._load_get(path, function, origin, var, attrs, line, column)
        elif kind is From.SELECT:
            self._load_select(path, function, origin, var, attrs, line, column)
        elif kind is From.CALL and origin.name in self.functions:
            # What a helper returns (``crud.get_user(db, id)``): the query in it loads.
            loads = self._returned(origin.name)
            if not loads:
                self._unknown(path, self._what(var, function), attrs, line, column)
                return
            # Said where it is read (the helper's file is where it is loaded).
            outer, self._report = self._report, self._report or path
            try:
                for where, helper, local in loads:
                    origins = dict(helper.origins)
                    self._load(where, helper, origins, local, attrs, line, column, helper.end)
            finally:
                self._report = outer
        elif kind is From.CALL:
            self._load_new(path, function, origin, var, attrs, line, column, after)
        else:
            self._unknown(path, self._what(var, function), attrs, line, column)

    def _load_query(
        self,
        path: Path,
        function: FunctionDb,
        origin: Origin,
        var: str | Origin,
        attrs: set[str],
        line: int,
        column: int,
    ) -> None:
        """The query that loads the object loads the relationships too."""
        query_key = next(
            (k for k in self.draft.queries if k[0] == path and k[1:3] == origin.at), None
        )
        query = self.draft.queries.get(query_key) if query_key else None
        model = self._query_model(path, function, query_key) if query_key else None
        if query is not None and not query.entity and query_key is not None:
            # A row of a model and columns (``query(Post, func.count(...))``): what is
            # read on it through relationships is read on the model.
            model = self._row_model(path, function, query_key)
        if query is None or not (query.entity or query.mapped) or model is None:
            self._unknown(path, self._what(var, function), attrs, line, column)
            return
        assert query_key is not None
        options = self._options(path, function, query_key)
        self._tie(path, line, column, model, attrs, self.draft.loads, query_key, options)
        if query.terminal == "get" and self.draft.loads.get(query_key):
            # ``db.query(M).get(id)`` with relationships to load: a statement on the key
            # (``get`` would hand back an object the session holds as it is).
            primary = self.orm.key(model)
            if primary is None:
                self.draft.obstacle(
                    self._at(path),
                    line,
                    column,
                    f"a relationship is read on what `get` returns, and"
                    f" `{model.rpartition('.')[2]}` has no single primary key {self.code}"
                    " knows to load it by: write `select(...).where(...).options(selectinload"
                    "(...))` by hand",
                )
            else:
                self.draft.get_keys[query_key] = primary

    def _load_get(
        self,
        path: Path,
        function: FunctionDb,
        origin: Origin,
        var: str | Origin,
        attrs: set[str],
        line: int,
        column: int,
    ) -> None:
        """``db.get(Model, id)`` loads the relationships with the object."""
        key = next(
            (
                k
                for k in self.draft.awaits | self.draft.waits
                if k[0] == path and k[1:3] == origin.at
            ),
            None,
        )
        model = self.orm.model([origin.name])
        if key is None or model is None:
            self._unknown(path, self._what(var, function), attrs, line, column)
            return
        self._tie(path, line, column, model, attrs, self.draft.get_loads, key)
        # ``get`` hands back the object the session holds already as it is, options or
        # not (a dependency loaded it): a statement on its key loads what it lacks.
        primary = self.orm.key(model)
        if key in self.draft.get_loads and primary is not None:
            self.draft.get_keys[key] = primary

    def _load_select(
        self,
        path: Path,
        function: FunctionDb,
        origin: Origin,
        var: str | Origin,
        attrs: set[str],
        line: int,
        column: int,
    ) -> None:
        """A 2.0 statement loads the relationships with what it selects (its own
        ``.options(...)``, the mapping's ``lazy=``, or a ``selectinload`` added)."""
        select = next((f for f in function.selects if f.span[:2] == origin.at), None)
        model = self.orm.model([origin.name])
        if select is None or model is None:
            self._unknown(path, self._what(var, function), attrs, line, column)
            return
        key = key_of(path, select.span)
        self._tie(path, line, column, model, attrs, self.draft.select_loads, key, select.options)

    def _tie(
        self,
        path: Path,
        line: int,
        column: int,
        model: str,
        attrs: set[str],
        loads: dict[NodeKey, set[str]],
        key: NodeKey,
        options: str = "",
    ) -> None:
        """The relationships ``attrs`` read at ``line`` loaded by the load at ``key``
        (a query, a ``get``, a statement: ``loads`` is where the plan keeps its kind);
        an obstacle when they cannot be."""
        wanted, why = self._needed(model, attrs, options, chains=True)
        if why:
            self.draft.obstacle(self._at(path), line, column, why)
        elif wanted:
            loads.setdefault(key, set()).update(wanted)

    def _load_new(
        self,
        path: Path,
        function: FunctionDb,
        origin: Origin,
        var: str | Origin,
        attrs: set[str],
        line: int,
        column: int,
        after: int = 0,
    ) -> None:
        """A new object (``Model(...)``): a second ``refresh`` after its own loads them.
        ``after``: read after that line (a helper made and returned it), else at
        ``line``."""
        at = after or line
        model = self.orm.model([origin.name])
        made = self.draft.index.resolve(origin.name)
        if model is None and (
            made in self.orm.schemas
            or made in self.draft.index.bases
            or made.startswith("builtins.")
        ):
            return  # a schema or another class of the project's (``User(**resp.json())``)
        if model is None:  # what a function returned: any object, loaded anywhere
            self._unknown(path, self._what(var, function), attrs, line, column)
            return
        if not any(site.span[0] < at for session in function.sessions for site in session.sites):
            return  # a new object no session has seen yet (or flushed): nothing to load
        if (
            not after
            and (line, column) in function.stores
            and not any(f < line for f in function.flushes)
        ):
            return  # ``todo.tags = [...]`` before it is flushed: nothing to load
        refresh = next(
            (r.span for r in function.refreshes if r.alone and r.var == var and r.span[0] <= at),
            None,
        )
        wanted, why = self._needed(model, attrs, mapped=refresh is not None)
        if why:
            self.draft.obstacle(self._at(path), line, column, why)
            return
        if (
            wanted
            and refresh is None
            and any(not r.alone and r.var == var for r in function.refreshes)
        ):
            self.draft.obstacle(
                self._at(path),
                line,
                column,
                f"`{_named(var)}.{sorted(wanted)[0]}` lazy-loads a relationship after a refresh"
                " that shares its line with other code: put the refresh on a line of"
                f" its own, so that {self.code} can load the relationship after it",
            )
        elif wanted and refresh is None:
            self.draft.obstacle(
                self._at(path),
                line,
                column,
                f"`{_named(var)}.{sorted(wanted)[0]}` lazy-loads a relationship of a new"
                " object, which raises MissingGreenlet in async code: load it with"
                f" `await session.refresh({_named(var)}, {sorted(wanted)!r})`",
            )
        elif wanted and refresh is not None:
            self.draft.refreshes.setdefault(key_of(path, refresh), set()).update(wanted)

    @staticmethod
    def _what(var: str | Origin, function: FunctionDb) -> str:
        """How a finding names what a relationship is read on."""
        if var == HANDED:
            return "a value handed to a helper"
        if isinstance(var, str) and var.startswith(ITERATED):
            return "what the loop iterates"
        if isinstance(var, str) and var.startswith(CALLED):
            return "what the query returns"
        if isinstance(var, str):
            return f"`{_named(var)}`"
        if var.kind is From.QUERY:
            return "what this call returns"
        if var.kind is From.CALL:
            return f"what `{var.name.rpartition('.')[2]}` returns"
        return f"what `{shown(function.qualname)}` returns"

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
            # ``return [get_user(db, i) for i in ids]``: what its items come from.
            origin = _through_items(origin, origins)
            if origin.kind is From.CALL and origin.name not in self.functions:
                exported = self.draft.index.resolve(origin.name)
                if exported in self.functions:  # a package's re-export
                    origin = Origin(From.CALL, origin.at, exported)
            kind = origin.kind
            if kind is From.QUERY and any(
                k[0] == path and k[1:3] == origin.at for k in self.draft.queries
            ):
                found.append((path, function, origin))
            elif origin.loaded:
                found.append((path, function, returned))
            elif kind is From.CALL and isinstance(returned, str) and self.orm.model([origin.name]):
                found.append((path, function, returned))  # a new object it made
            elif kind is From.CALL and origin.name in self.functions:
                deeper = self._returned(origin.name, depth + 1)
                if deeper is None:
                    return None
                found.extend(deeper)
            else:
                return None
        return found

    def _unknown(self, path: Path, what: str, attrs: set[str], line: int, column: int) -> None:
        """A read VF203 cannot tie to a load: an obstacle, unless every model that has
        what is read loads it with the object by its mapping (``lazy="selectin"``)."""
        paths = sorted(a for a in attrs if not self._always_loaded(a))
        if not paths:
            return
        first = paths[0].partition(".")[0]
        reads = sorted(
            {
                read
                for props in self.orm.properties.values()
                if first in props
                for read in self.reads.of_params.get((props[first], 0), set())
            }
        )
        relationship = reads[0].partition(".")[0] if reads else first
        said = f"(`{first}`, a property that reads `{relationship}`)" if reads else f"(`{first}`)"
        self.draft.obstacle(
            self._at(path),
            line,
            column,
            f"a relationship {said} is read on {what}, which raises MissingGreenlet in"
            f" async code unless it is loaded, and {self.code} cannot tell which query loads"
            f" it: load it there with `.options(selectinload(Model.{relationship}))`, or"
            f' map it `lazy="selectin"`',
        )

    def _always_loaded(self, path: str) -> bool:
        """Every model with the relationship (or the property) that ``path`` starts
        with loads it with the object by its mapping (``lazy="selectin"``), and so on
        down the path: whatever loads the object loads what is read."""
        attr = path.partition(".")[0]
        owners = [m for m, rels in self.orm.models.items() if attr in rels]
        owners += [m for m, props in self.orm.properties.items() if attr in props]
        return bool(owners) and all(self._eager_path(model, path) for model in owners)

    def _eager_path(self, model: str, path: str, depth: int = 0) -> bool:
        """Reading ``path`` on a loaded ``model`` loads nothing its mapping does not."""
        first, _, rest = path.partition(".")
        prop = self.orm.properties.get(model, {}).get(first)
        if prop is not None:
            reads = self.reads.of_params.get((prop, 0), set())
            return depth < 5 and all(self._eager_path(model, r, depth + 1) for r in reads)
        if first not in self.orm.models.get(model, {}):
            return True  # a column
        target = self.orm.target(model, first)
        if not self._eager(model, first) or target is None:
            return False
        return not rest or (depth < 5 and self._eager_path(target, rest, depth + 1))

    def _options(self, path: Path, function: FunctionDb, key: NodeKey) -> str:
        for session in function.sessions:
            for query in session.queries:
                if key_of(path, query.span) == key:
                    return query.options
        return ""

    def _row_model(self, path: Path, function: FunctionDb, key: NodeKey) -> str | None:
        """The model a legacy query selects first, with columns after it and no other
        model; None for anything else."""
        for session in function.sessions:
            for query in session.queries:
                if key_of(path, query.span) == key and query.entities:
                    models = [self.orm.model(entity) for entity in query.entities]
                    if models[0] is not None and not any(models[1:]):
                        return models[0]
        return None

    def _query_model(self, path: Path, function: FunctionDb, key: NodeKey) -> str | None:
        for session in function.sessions:
            for query in session.queries:
                if key_of(path, query.span) == key and len(query.entities) == 1:
                    return self.orm.model(query.entities[0])
        return None


def _named(var: str | Origin) -> str:
    """A variable as the source names it: ``user`` for ``user@was0`` (an earlier value
    of it, ``ALTERNATIVE``) and ``blog@param`` (the parameter it rebinds)."""
    return var.partition("@")[0] if isinstance(var, str) else "?"


def _through_items(origin: Origin, origins: Mapping[str, Origin]) -> Origin:
    """Where what ``origin`` is an item of comes from, through every variable on the
    way (``rows = rows[:10]`` stops where it would go round)."""
    seen: set[str] = set()
    while origin.item_of_variable and origin.item_of_variable not in seen:
        seen.add(origin.item_of_variable)
        origin = origins.get(origin.item_of_variable, UNKNOWN)
    return origin
