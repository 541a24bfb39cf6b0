"""What a function does with the ORM objects in its variables: where each comes from
(``Origin``), which attributes it reads on them, to what it hands them, and what it
returns. The base of the scan of a function (``vibefix.asyncdb.scan``), which adds its
sessions and queries in the same walk."""

from __future__ import annotations

import libcst as cst

from vibefix.asyncdb.facts import HANDED, UNKNOWN, From, Origin, Pass, SelectFact, Site
from vibefix.asyncdb.messages import Flaw, Problem, Why
from vibefix.asyncdb.names import LOADS, SELECTS, STATEMENT_RUNS, SYNC_ATTRIBUTES, literal_url
from vibefix.asyncdb.syntax import Locate, Qualify, method, query_chain, receiver_name

ALTERNATIVE = "@was"
"""The middle of the name an earlier loaded value of a variable is kept under
(``rows@was0``): a variable two queries may have filled."""

CALLED = "called@"
"""The start of the name of what a query returns when an attribute is read on it there
(``db.scalars(stmt).first().tags``)."""
ITERATED = "iterated@"
"""The start of the name of what a loop iterates when it is a call's result."""

PARAMETER = "@param"
"""The end of a variable's name that stands for the parameter it rebinds."""


KEEP_ITEMS = frozenset(
    {"builtins.sorted", "builtins.reversed", "builtins.list", "builtins.tuple", "builtins.iter"}
)
"""Builtins whose items are those of their first argument."""


PLAIN_VALUES = (
    cst.SimpleString,
    cst.ConcatenatedString,
    cst.FormattedString,
    cst.Integer,
    cst.Float,
)
"""Values of a returned dict that hold no ORM object."""
CONSTANTS = frozenset({"None", "True", "False"})


DML = frozenset(
    f"sqlalchemy.{module}{verb}"
    for module in ("", "sql.", "sql.expression.")
    for verb in ("update", "insert", "delete")
)
"""What makes an ORM-enabled UPDATE, INSERT or DELETE (objects with ``returning(M)``)."""


class ObjectScan(cst.CSTVisitor):
    """ORM objects in one top-level function, and where each use is."""

    def __init__(self, function: cst.FunctionDef, qualify: Qualify, locate: Locate) -> None:
        super().__init__()
        self.qualify = qualify
        self.locate = locate
        self.function = function
        self.defs: list[cst.FunctionDef] = []
        """The functions around the node being walked, inside ``function``."""
        self.candidates: dict[str, str] = {}
        """The names bound to a session, and where each comes from
        (``SessionFacts.source``)."""
        self.locals: set[str] = set()
        self.query_vars: dict[str, str] = {}
        """Variables holding a legacy query: the session that made it."""
        self.sites: dict[str, list[Site]] = {}
        self.origins: dict[str, Origin] = {}
        self.touches: list[tuple[str, str, int, int]] = []
        self.passes: list[Pass] = []
        self.returns: list[str | Origin] = []
        self.keyed: list[tuple[str, str | Origin]] = []
        self.called: set[cst.CSTNode] = set()
        """The functions of the calls walked (``x.attr()`` reads no attribute)."""
        self.statements: dict[str, list[cst.BaseExpression]] = {}
        """Variables assigned a ``select(...)``: each statement assigned to them."""
        self.selects: dict[tuple[int, int, int, int], SelectFact] = {}
        self.stores: list[tuple[int, int]] = []
        self.yields: list[str] = []
        """The names the function yields (a fixture's session)."""
        self.owner = ""
        """The class the function is a method of (qualified); ``""`` for none."""
        self.results: dict[str, cst.Call | None] = {}
        """Variables assigned what a session's ``execute(stmt)`` returns (a result whose
        ``.scalars().all()`` are the statement's objects); None once assigned anything
        else too."""
        self.rebound: set[str] = set()
        """Parameters the function assigns anew (``blog = Blog(**blog.dict())``)."""
        self.bound: set[str] = set()
        """The names assigned so far in the walk (the assignment's value walked)."""

    def _read(self, name: str) -> str:
        """The variable a read of ``name`` here is of: a parameter read before the
        function assigns it anew is the parameter (``blog@param``), whatever it holds
        later."""
        return f"{name}{PARAMETER}" if name in self.rebound and name not in self.bound else name

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.defs.append(node)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.defs.pop()

    def _site(self, node: cst.CSTNode, problem: Why = "", awaits: bool = True) -> Site:
        span = self.locate(node)
        inner = self.defs[-1] if self.defs else self.function
        return Site(span, self.locate(inner), awaits, problem, isinstance(node, cst.With))

    def _add(self, name: str, site: Site) -> None:
        self.sites.setdefault(name, []).append(site)

    def _origin(self, value: cst.BaseExpression) -> Origin:
        if isinstance(value, cst.Await):
            value = value.expression
        if isinstance(value, cst.Call):
            chain = query_chain(value)
            if chain is not None:
                receiver, calls = chain
                root = receiver_name(receiver)
                last = method(calls[-1])
                line, column, _, _ = self.locate(value)
                if (root in self.candidates and method(calls[0]) == "query") or (
                    root in self.query_vars
                ):
                    if last == "all":
                        return Origin(From.LIST, (line, column))
                    if last in LOADS:
                        return Origin(From.QUERY, (line, column))
                elif root in self.candidates and len(calls) == 1 and last in ("get", "get_one"):
                    names = self.qualify(value.args[0].value) if value.args else ()
                    if len(names) == 1:
                        return Origin(From.GET, (line, column), names[0])
                elif root in self.candidates and method(calls[0]) in STATEMENT_RUNS:
                    selected = self._run_statement(calls)
                    if selected is not None:
                        return selected
                elif (run := self.results.get(root)) is not None:
                    # ``result = db.execute(stmt)``, then ``result.scalars().all()``.
                    selected = self._run_statement([run, *calls])
                    if selected is not None:
                        return selected
                if root in self.candidates or root in self.results:
                    # A session's call VF203 cannot tell the objects of (rows of
                    # several entities: ``db.execute(select(A, B)).first()``).
                    return UNKNOWN
            names = self.qualify(value.func)
            if names == ("builtins.next",) and value.args and not value.args[0].keyword:
                return self._item_of(value.args[0].value)  # ``next(iter(rows))``
            if len(names) == 1:
                return Origin(From.CALL, name=names[0])
        if isinstance(value, cst.Subscript):
            return self._item_of(value.value)  # ``rows[0]``, ``crud.list(db)[:2]``
        if isinstance(value, cst.ListComp | cst.SetComp | cst.GeneratorExp):
            return self._comprehended(value)
        return UNKNOWN

    def _comprehended(self, value: cst.ListComp | cst.SetComp | cst.GeneratorExp) -> Origin:
        """What a comprehension's items are: items of what it iterates
        (``[u for u in users if u]``), or what each call gives (``[crud.get(db, i) for i
        in ids]``); UNKNOWN for anything else."""
        loop = value.for_in
        elt = value.elt
        if (
            isinstance(elt, cst.Name)
            and isinstance(loop.target, cst.Name)
            and elt.value == loop.target.value
            and loop.inner_for_in is None
        ):
            return self._item_of(loop.iter)
        if isinstance(elt, cst.Call | cst.Await | cst.Subscript):
            origin = self._origin(elt)
            if origin == UNKNOWN or origin.item_of_variable == getattr(loop.target, "value", ""):
                return UNKNOWN
            line, column, end, last = self.locate(elt)
            kept = f"{ITERATED}{line}:{column}-{end}:{last}"
            self.origins[kept] = origin
            return Origin(From.ITEM, name=kept)
        return UNKNOWN

    def _item_of(self, source: cst.BaseExpression) -> Origin:
        """Where an item of ``source`` comes from (``rows``, ``user.todos``, a call's
        result, kept under a name for where it is; ``sorted(x)`` and ``iter(x)`` are
        ``x``); UNKNOWN for what is not followed (``map(f, xs)``)."""
        while (
            isinstance(source, cst.Call)
            and source.args
            and not source.args[0].keyword
            and set(self.qualify(source.func)) & KEEP_ITEMS
        ):
            source = source.args[0].value
        if isinstance(source, cst.Name):
            return Origin(From.ITEM, name=source.value)
        if isinstance(source, cst.Attribute) and isinstance(source.value, cst.Name):
            return Origin(From.ITEM, name=f"{source.value.value}.{source.attr.value}")
        if isinstance(source, cst.Call) and any(
            name.startswith("builtins.") for name in self.qualify(source.func)
        ):
            return UNKNOWN  # ``map(f, xs)``, ``filter(...)``: their items are not followed
        if isinstance(source, cst.Call | cst.Await | cst.Subscript):
            origin = self._origin(source)
            if origin == UNKNOWN:
                return UNKNOWN
            # ``for book in crud.get_books(db)``: an item of what the call gives, as if
            # it were kept in a variable first (named for where it is).
            line, column, end, last = self.locate(source)  # ``rows[:2]`` starts as ``rows``
            kept = f"{ITERATED}{line}:{column}-{end}:{last}"
            self.origins[kept] = origin
            return Origin(From.ITEM, name=kept)
        return UNKNOWN

    def _run_statement(self, calls: list[cst.Call]) -> Origin | None:
        """``db.scalars(select(M)...).all()``, ``db.execute(stmt).scalar_one()``: the
        ORM objects of a 2.0 statement; None for anything else (rows, columns)."""
        run, then = calls[0], method(calls[1]) if len(calls) > 1 else ""
        if then not in STATEMENT_RUNS[method(run)] or not run.args or run.args[0].keyword:
            return None
        statement: cst.BaseExpression = run.args[0].value
        if isinstance(statement, cst.Name):
            assigned = self.statements.get(statement.value, [])
            if len(assigned) != 1:
                return None
            statement = assigned[0]
        found = self.select(statement)
        if found is None:
            return None
        span = self.locate(statement)
        self.selects[span] = SelectFact(span, *found)
        return Origin(From.SELECT, span[:2], found[0])

    def select(self, node: cst.BaseExpression) -> tuple[str, str] | None:
        """``select(Model).where(...).options(...)``: the model (qualified) and the code
        of the options; None for any other expression."""
        options: list[str] = []
        returned: cst.BaseExpression | None = None
        while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            if node.func.attr.value == "options":
                options.extend(cst.Module([]).code_for_node(arg.value) for arg in node.args)
            if node.func.attr.value == "returning" and len(node.args) == 1:
                returned = node.args[0].value  # ``update(M)...returning(M)``: objects
            node = node.func.value
        if not (
            isinstance(node, cst.Call)
            and len(node.args) == 1
            and not node.args[0].keyword
            and not node.args[0].star
        ):
            return None
        called = set(self.qualify(node.func))
        if called & SELECTS:
            names = self.qualify(node.args[0].value)
        elif called & DML and returned is not None:
            names = self.qualify(returned)
        else:
            return None
        return (names[0], " ".join(options)) if len(names) == 1 else None

    def visit_For(self, node: cst.For) -> None:
        self._item(node.target, node.iter)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._item(node.target, node.iter)

    def _item(self, target: cst.BaseExpression, source: cst.BaseExpression) -> None:
        """``for target in source``: ``target`` is an item of ``source`` (of ``x`` in
        ``sorted(x)``, ``reversed(x)``, ``list(x)``; ``for i, target in enumerate(x)``).
        Each name of a tuple ``target`` is taken for an item too: what the loop reads on
        it is tied to the load of ``source`` (or said, when nothing loads it)."""
        while isinstance(source, cst.Call) and source.args and not source.args[0].keyword:
            called = set(self.qualify(source.func))
            if isinstance(target, cst.Tuple) and called == {"builtins.enumerate"}:
                items = target.elements
                target = items[1].value if len(items) == 2 else target
            elif not called & KEEP_ITEMS:
                break
            source = source.args[0].value
        names = [target] if isinstance(target, cst.Name) else unpacked_names(target)
        if not names:
            return
        origin = self._item_of(source)
        for name in names:
            self.origins[name.value] = origin

    def visit_Return(self, node: cst.Return) -> None:
        if self.defs:
            return  # a nested function's (a fixture's ``get_db`` override): not its own
        value = node.value
        if isinstance(value, cst.Await):
            value = value.expression
        if value is None or (isinstance(value, cst.Name) and value.value == "None"):
            return
        if isinstance(value, cst.Dict) and self._keyed(value):
            return  # ``return {"todos": todos}``: what each key holds (``keyed``)
        returned = self._returned(value)
        self.returns.append(returned if returned is not None else UNKNOWN)

    def _returned(self, value: cst.BaseExpression) -> str | Origin | None:
        """What ``return value`` returns: a variable, or the origin of a call; None
        when it is anything else."""
        if isinstance(value, cst.Await):
            value = value.expression
        if isinstance(value, cst.Name):
            return value.value
        if isinstance(value, cst.Call):
            origin = self._origin(value)
            if origin.kind in (From.CALL, From.SELECT, From.GET):
                return origin  # what a helper returns, handed on
            line, column, _, _ = self.locate(value)
            return Origin(From.QUERY, (line, column))
        if isinstance(value, cst.ListComp | cst.SetComp | cst.GeneratorExp):
            origin = self._comprehended(value)  # ``[u for u in users if u is not None]``
            return origin if origin != UNKNOWN else None
        return None

    def _keyed(self, value: cst.Dict) -> bool:
        """Whether a returned dict literal holds, under string keys, only variables,
        calls and plain values (``keyed`` then says what each key holds)."""
        held: list[tuple[str, str | Origin]] = []
        for element in value.elements:
            if not isinstance(element, cst.DictElement):
                return False
            key = literal_url(element.key)
            if key is None:
                return False
            if isinstance(element.value, PLAIN_VALUES) or (
                isinstance(element.value, cst.Name) and element.value.value in CONSTANTS
            ):
                continue
            returned = self._returned(element.value)
            if returned is None:
                return False
            held.append((key, returned))
        self.keyed.extend(held)
        return True

    def visit_Attribute(self, node: cst.Attribute) -> None:
        kept = receiver_name(node.value) if isinstance(node.value, cst.Attribute) else ""
        if (
            kept in self.candidates
            and node not in self.called
            and node.attr.value not in SYNC_ATTRIBUTES
        ):
            # ``self.db.bind``: an attribute of what the object keeps, perhaps a session.
            self._add(kept, self._site(node, f"no rewrite for `{kept}.{node.attr.value}`"))
        inner = node.value
        if isinstance(inner, cst.Subscript):
            inner = inner.value  # ``user.todos[0].tags``: an item of a relationship
        if (
            isinstance(inner, cst.Attribute)
            and isinstance(inner.value, cst.Name)
            and node not in self.called
        ):
            # ``order.user.orders``: a relationship of a relationship.
            line, column, _, _ = self.locate(node)
            self.touches.append(
                (
                    self._read(inner.value.value),
                    f"{inner.attr.value}.{node.attr.value}",
                    line,
                    column,
                )
            )
        through = isinstance(inner, cst.Attribute) and isinstance(inner.value, cst.Name)
        held: cst.BaseExpression = node.value
        read = node.attr.value
        if (
            isinstance(node.value, cst.Attribute)
            and isinstance(node.value.value, cst.Call | cst.Await | cst.Subscript)
            and node not in self.called
        ):
            # ``rows[0].Todo.tags``: a relationship of what the item (or call) gives.
            held, read = node.value.value, f"{node.value.attr.value}.{read}"
        if isinstance(held, cst.Call | cst.Await | cst.Subscript) and not (
            node in self.called or through
        ):
            # ``db.scalars(stmt).first().tags``, ``crud.get(db, 1).tags``, ``rows[0].tags``:
            # read on what the call (or the item) gives, as if it were kept in a variable
            # first (named for where it is). What a session's call gives that VF203
            # cannot tell is read all the same.
            origin = self._origin(held)
            chain = query_chain(held) if isinstance(held, cst.Call) else None
            root = receiver_name(chain[0]) if chain is not None else ""
            if origin != UNKNOWN or root in self.candidates or root in self.results:
                line, column, end, last = self.locate(held)
                kept = f"{CALLED}{line}:{column}-{end}:{last}"
                self.origins[kept] = origin
                self.touches.append((kept, read, *self.locate(node)[:2]))
            return
        if not isinstance(node.value, cst.Name):
            return
        name = node.value.value
        attr = node.attr.value
        if node in self.called:
            return
        if name in self.candidates:
            if attr not in SYNC_ATTRIBUTES:
                self._add(name, self._site(node, f"no rewrite for `{name}.{attr}`"))
            if not self.candidates[name].startswith(
                ("alias:", "fixture:", "dep:", "untyped:", "made:")
            ):
                return
            # A parameter annotated with a name the plan may not take for ``Session``
            # (``user: models.User``), given by a dependency (``current_user``), or what
            # a call the plan may not take for a session factory made (``todo =
            # result.first()``): an object whose reads count.
        line, column, _, _ = self.locate(node)
        self.touches.append((self._read(name), attr, line, column))

    def visit_Yield(self, node: cst.Yield) -> None:
        if isinstance(node.value, cst.Name) and not self.defs:  # not a nested function's
            self.yields.append(node.value.value)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        target = node.target
        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            self.stores.append(self.locate(target)[:2])

    def _orm_call(self, node: cst.Call) -> None:
        names = self.qualify(node.func) if isinstance(node.func, cst.Name | cst.Attribute) else ()
        if (
            names == ("builtins.getattr",)
            and len(node.args) >= 2
            and isinstance(node.args[0].value, cst.Name)
            and (attr := literal_url(node.args[1].value))
        ):
            # ``getattr(todo, "tags")``: ``todo.tags``.
            line, column, _, _ = self.locate(node)
            self.touches.append((self._read(node.args[0].value.value), attr, line, column))
        func = node.func
        root = func
        while isinstance(root, cst.Attribute):
            root = root.value
        if isinstance(root, cst.Name) and (
            root.value in self.locals or root.value in self.origins or root.value in self.candidates
        ):
            names = ()  # a method of a local object (``db.add``, ``items.append``)
            if (
                self.owner
                and root.value == "self"
                and isinstance(func, cst.Attribute)
                and func.value is root
            ):
                names = (f"{self.owner}().{func.attr.value}",)  # ``self.get(db)``
        if (
            not names
            and isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Call)
            and isinstance(func.value.func, cst.Name | cst.Attribute)
        ):
            made = self.qualify(func.value.func)
            if len(made) == 1:
                names = (f"{made[0]}().{func.attr.value}",)  # ``ItemRepo().rename(db)``
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            # ``order.to_dict()``: ``order`` is ``self`` of a method of its model.
            line, column, _, _ = self.locate(func.value)
            callee = f"method:{func.attr.value}"
            self.passes.append(Pass((callee,), 0, self._read(func.value.value), line, column))
        for index, arg in enumerate(node.args):
            value = arg.value
            keyed = names
            if arg.keyword is not None:
                keyed = tuple(f"{n}:{arg.keyword.value}" for n in names)
            position = -2 if arg.keyword is not None else (-1 if arg.star else index)
            line, column, _, _ = self.locate(value)
            var = receiver_name(value)  # a name, or ``self.db`` (what an object keeps)
            if var in self.candidates and not (
                isinstance(node.func, cst.Attribute)
                and receiver_name(node.func.value) in self.candidates
            ):
                # A session handed on: a helper that takes it as ``Session`` is rewritten
                # with it; anything else would get an AsyncSession it cannot use.
                problem = "" if names else Problem(Flaw.HANDED_ON, var)
                self._add(var, self._site(value, problem, awaits=False))
                self.passes.append(Pass(keyed, position, var, line, column, session=True))
            if isinstance(value, cst.Name):
                self.passes.append(Pass(keyed, position, self._read(value.value), line, column))
            else:
                # Anything else handed on (``f(load(db))``): what it holds is unknown.
                self.passes.append(Pass(keyed, position, HANDED, line, column))
                made = (
                    self.qualify(value.func)
                    if isinstance(value, cst.Call) and _factory_call(value)
                    else ()
                )
                if len(made) == 1:
                    # ``f(SessionLocal())``: a session made there, if the plan finds the
                    # factory is one.
                    self.passes.append(
                        Pass(keyed, position, f"made:{made[0]}", line, column, session=True)
                    )


def _factory_call(value: cst.BaseExpression) -> bool:
    """``Factory()``: a call of a name (or ``a.b``) with no arguments."""
    return (
        isinstance(value, cst.Call)
        and not value.args
        and isinstance(value.func, cst.Name | cst.Attribute)
    )


def unpacked_names(target: cst.BaseExpression) -> list[cst.Name]:
    """The names a tuple (or list) target binds, nested ones included: ``a, (b, c)``."""
    if not isinstance(target, cst.Tuple | cst.List):
        return []
    found: list[cst.Name] = []
    for element in target.elements:
        value = element.value
        found.extend([value] if isinstance(value, cst.Name) else unpacked_names(value))
    return found
