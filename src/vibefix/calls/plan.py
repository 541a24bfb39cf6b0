"""Which functions become ``async def``, which calls are awaited and which are offloaded.

One pure function of the index, the blocking-call table and the selected codes, shared by
VF100-VF104. Every call the index recorded is classified (non-blocking, blocking with an
async twin, to offload, blocking with no rewrite, a project function, or unknown). Then a
greatest fixed point over the call graph decides the sync functions that become async: a
function qualifies when it gains something (a blocking call gets its async twin, or a
callee becomes async), every caller can await it (an async caller, a caller that becomes
async too, or FastAPI itself for handlers and dependencies), and nothing it calls would
block the event loop afterwards. Each function that would have gained but is held back gets
a finding that names what holds it back.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from vibefix.calls.roles import Roles
from vibefix.config import Config
from vibefix.engine.index import (
    ITERATION,
    OVERRIDES,
    UNKNOWN,
    CallFact,
    FunctionFact,
    ModuleFacts,
    NodeKey,
    ProjectIndex,
    node_key,
    shown,
)
from vibefix.engine.plan import PlanContext, PlanPart, Together
from vibefix.http import plan as httpplan
from vibefix.http.rules import HttpRules
from vibefix.known.blocking import (
    BlockingTable,
    Entry,
    Kind,
    Rules,
    guess_category,
    split_last,
    table_for,
)
from vibefix.known.fastapi import (
    BACKGROUND_TASKS,
    DEPENDS,
    FRAMEWORK_DECORATORS,
    PYDANTIC_VALIDATORS,
    ROUTE_METHODS,
    ROUTE_REGISTRATIONS,
)
from vibefix.known.types import PLAIN_METHODS, REFINING, THREAD_BOUND
from vibefix.results import BlockingCall, Finding, Position, Step


class Category(enum.Enum):
    NONBLOCKING = "non-blocking"
    TWIN = "blocking, with an async twin"
    OFFLOAD = "blocking, to run in a thread"
    BLOCKING = "blocking"
    UNKNOWN = "unknown"
    PROJECT = "a project function"


@dataclass(frozen=True)
class Verdict:
    category: Category
    target: str
    code: str | None = None
    function: str | None = None
    note: str = ""
    """Why a call with an async twin is not rewritten to it (VF101: ``verify=``...)."""
    kind: str = ""
    """What it blocks on (``BlockingCall.kind``), when the table says."""
    loop: bool = False
    """Its async twin belongs to the event loop (``Entry.loop``): a function that makes
    such a call cannot run in a thread instead, so one that runs on the loop already
    becomes async even with calls vibefix cannot classify (they stay where they were).
    Any other function is better offloaded whole (VF102)."""


@dataclass(frozen=True)
class AsyncPlan(PlanPart):
    """The calls family's part of the plan, shared by VF100-VF104 and every codemod that
    rewrites inside functions (``Codemod.uses``)."""

    becomes_async: frozenset[NodeKey] = frozenset()
    """Sync functions (by definition position) that become ``async def``."""
    becomes_async_names: frozenset[str] = frozenset()
    handlers: frozenset[str] = frozenset()
    """Route handlers and dependencies: FastAPI calls them."""
    callers: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """For each project function, the project functions that call it."""
    entry_points: frozenset[NodeKey] = frozenset()
    """The same, by definition position (tests aside)."""
    tests: frozenset[NodeKey] = frozenset()
    """pytest's test functions, when the project runs async tests."""
    test_marks: Mapping[NodeKey, str] = field(default_factory=dict)
    """For each test, ``asyncio`` or ``anyio``: the mark it gets as an async test (the
    one its file uses, else the one the project uses)."""
    marked_tests: frozenset[NodeKey] = frozenset()
    """Tests that carry that mark already."""
    awaits: frozenset[NodeKey] = frozenset()
    """Calls of functions that become async, to be awaited (VF104)."""
    runs: Mapping[NodeKey, str] = field(default_factory=dict)
    """Calls of functions that become async from sync test code (a test or a fixture
    pytest calls with no event loop running), run there on an event loop of their own
    (``asyncio.run``, VF104): the function called, by call."""
    offloads: frozenset[NodeKey] = frozenset()
    """Blocking calls in async code to run in a thread (VF102)."""
    twins: frozenset[NodeKey] = frozenset()
    """Calls of requests' API in async code that VF101 rewrites to httpx."""
    blocking: Mapping[NodeKey, BlockingCall] = field(default_factory=dict)
    """For each call of async code that is rewritten because it blocks (an offload, an
    async twin), the blocking call it takes off the event loop and how it is reached."""
    http: httpplan.HttpPlan = field(default_factory=httpplan.HttpPlan)
    """Which functions share the application's HTTP client (VF101)."""
    findings: tuple[Finding, ...] = ()
    held: Mapping[str, str] = field(default_factory=dict)
    """Why each function that would gain from being async stays sync (reported or not)."""
    fastapi: bool = True
    """Whether the project uses FastAPI: blocking calls then run in its thread pool
    (``run_in_threadpool``), else in asyncio's (``asyncio.to_thread``)."""
    neighbours: frozenset[str] = frozenset()
    """What an indexed file calls and the index does not know (``app.db.SessionLocal``):
    the module among its prefixes that defines it is worth indexing."""
    wanted_modules: frozenset[str] = frozenset()
    """What async code calls and the index does not know, directly or through the sync
    functions it calls: asked in every round, so that the plan reads everything async
    code reaches, however deep, whatever words its files hold."""
    wanted_names: frozenset[str] = frozenset()
    """The names of the functions that may become async: every file that says one of them
    may call it, and must be indexed."""
    roles: Roles = field(default_factory=Roles)
    """The codes of the family's codemods, by the role each plays."""
    dead: frozenset[Path] = frozenset()
    """Modules nothing imports or runs (``engine.unused``): the analysis starts nowhere in
    them (their functions count as sync callers only) and the family reports and
    rewrites nothing there (``PlanPart.dead``)."""

    @property
    def touched(self) -> frozenset[Path]:
        """The files this plan rewrites or reports something in."""
        keys = (
            self.becomes_async
            | self.awaits
            | set(self.runs)
            | self.offloads
            | self.twins
            | self.http.takes
        )
        if self.http.app is not None:
            keys |= {self.http.app}
        return frozenset({key[0] for key in keys} | {finding.path for finding in self.findings})

    def findings_for(self, path: Path) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.path == path)

    def together(self, config: Config) -> tuple[Together, ...]:
        """The async conversions, with their awaits in other files; the requests calls
        VF101 rewrites, which change with the functions they are in; the shared client."""
        roles = self.roles
        conversions = tuple(code for code in (roles.endpoints, roles.propagation) if code)
        found = []
        if self.becomes_async:
            found.append(
                Together(
                    f"{len(self.becomes_async)} functions become async, with their awaits",
                    self.becomes_async | self.awaits | set(self.runs),
                    conversions,
                    within=self.becomes_async,
                )
            )
        if self.twins:
            library = httpplan.library(config.options)
            what = f"{len(self.twins)} requests calls become {library} calls"
            codes = (roles.http, *conversions) if roles.http else conversions
            found.append(Together(what, self.twins, codes))
        return (*found, *self.http.together(roles.http))

    @classmethod
    def make(cls, context: PlanContext) -> AsyncPlan:
        """From the index, the blocking-call table (the configuration's, with the rules
        of the applied codemods' parts: VF203's once the project moves to AsyncSession)
        and the codes selected and applied."""
        config = context.config
        rules = tuple(
            rule
            for part in context.applied_parts()
            if isinstance(part, Rules) and (rule := part.blocking_rule()) is not None
        )
        calls = {
            key: entry
            for part in context.applied_parts()
            if isinstance(part, Rules)
            for key, entry in part.blocking_calls().items()
        }
        index, dead = context.index, context.dead
        if dead and not rules:
            # Dead code blocks nothing: the analysis neither starts there nor changes it.
            # Its functions stay what they are and count as sync callers: a helper a
            # dead script calls stays sync, should the script run after all. (Not while
            # the project moves to AsyncSession: the move takes every user of the
            # session along, dead or not, or leaves the session alone.)
            index = ProjectIndex.merge(_as_sync(module, dead) for module in index.modules)
        plan = analyse(
            index,
            table_for(config.options).with_rules(rules),
            context.selected,
            context.writable,
            context.applied,
            context.part(HttpRules),
            Roles.of(context.known, config),
            {code.upper() for code in config.ignore},
            calls,
        )
        if index is context.index:
            return plan
        findings = tuple(finding for finding in plan.findings if finding.path not in dead)
        return replace(plan, findings=findings, dead=dead)


def _as_sync(module: ModuleFacts, dead: frozenset[Path]) -> ModuleFacts:
    """``module`` as the event-loop analysis reads it: a dead one's functions all sync."""
    if module.path not in dead:
        return module
    functions = tuple(replace(function, is_async=False) for function in module.functions)
    return replace(module, functions=functions)


@dataclass
class _Analysis:
    index: ProjectIndex
    table: BlockingTable
    selected: frozenset[str]
    writable: Callable[[Path], bool]
    roles: Roles = field(default_factory=Roles)
    http: HttpRules = field(default_factory=HttpRules)
    """What the HTTP family says of the calls of requests' API (which VF101 leaves)."""
    verdicts: dict[tuple[str, int, int, int, int], Verdict] = field(default_factory=dict)
    by_targets: dict[tuple[str, ...], Verdict] = field(default_factory=dict)
    """``classify_targets``' answers: they depend on the index and the table only."""
    exposed: frozenset[str] = frozenset()
    """The functions whose exceptions may reach code that catches (or names) requests'
    exceptions, once known: their requests calls must keep raising requests' ones."""
    ignored: frozenset[str] = frozenset()
    """The codes the user ignores (``--ignore``, ``ignore = [...]``): a blocking call
    that one of them would fix is the user's choice, and not reported."""
    calls: Mapping[NodeKey, Entry] = field(default_factory=dict)
    """What the applied parts say of single calls, by position (``Rules.blocking_calls``),
    before their targets."""
    _starts: dict[tuple[Path, int, int], list[NodeKey]] | None = None
    """``calls`` by where each starts (``_within_ruled``)."""

    # -- classification ----------------------------------------------------------------

    def classify(self, function: FunctionFact, call: CallFact) -> Verdict:
        key = (function.qualname, call.line, call.column, *call.end)
        verdict = self.verdicts.get(key)
        if verdict is None:
            ruled = self.calls.get(node_key(function.path, call)) if self.calls else None
            if ruled is None and self.calls and self._within_ruled(function.path, call):
                # ``db.query(M).filter(...)`` inside a query a part rules on: a step of
                # the chain it rewrites, which runs nothing itself.
                ruled = Entry(Kind.NONBLOCKING)
            if ruled is not None:
                verdict = _verdict(ruled, call.targets[0] if call.targets else UNKNOWN)
            else:
                verdict = self.classify_targets(call.targets)
            self.verdicts[key] = verdict
        if verdict.category is Category.TWIN and verdict.code == self.roles.http:
            note = self.http.hold(
                function, call, self.roles.http, self.selected, lambda: self.exposed
            )
            if note:
                streaming = self.http.streaming(function, call)
                kind = Category.BLOCKING if streaming else Category.OFFLOAD
                return replace(verdict, category=kind, note=note)
        return verdict

    def _within_ruled(self, path: Path, call: CallFact) -> bool:
        """``call`` starts where a call the parts rule on starts and ends inside it: the
        receiver chain of that call (``db.query(M).filter(...)`` of ``....first()``)."""
        if self._starts is None:
            self._starts = {}
            for key in self.calls:
                self._starts.setdefault(key[:3], []).append(key)
        end = call.end
        return any(
            (end[0], end[1]) <= (key[3], key[4])
            for key in self._starts.get((path, call.line, call.column), ())
        )

    def classify_targets(self, targets: Iterable[str]) -> Verdict:
        key = tuple(targets)
        known = self.by_targets.get(key)
        if known is None:
            known = self.by_targets[key] = self._classify_targets(key)
        return known

    def _classify_targets(self, targets: tuple[str, ...]) -> Verdict:
        # A name that may mean several things (``try: import x`` / ``except: x = ...``)
        # is known only when every meaning agrees.
        verdicts = {self.target(self.index.resolve(target)) for target in targets}
        if len(verdicts) == 1:
            return verdicts.pop()
        first = min(verdicts, key=lambda verdict: verdict.target, default=None)
        # ``genres = []`` then ``genres = db.query(...).all()``: iterated, either is a
        # list in memory. Meanings that agree but for their names are known.
        if first is not None and all(
            verdict.category is Category.NONBLOCKING for verdict in verdicts
        ):
            return first
        return Verdict(Category.UNKNOWN, first.target if first else UNKNOWN)

    def makes_blocking(self, call: CallFact) -> bool:
        """True when what ``call`` returns blocks in turn (a file from ``open(p)``, read or
        iterated later): offloading the call alone would leave that on the loop."""
        return any(
            self._blocks_in_turn(self.index.resolve(f"{target}()")) for target in call.targets
        )

    def _blocks_in_turn(self, made: str) -> bool:
        """Whether the methods of ``made`` (what a call gives) block: a connection, a
        file, a query. A value read from one (``conn.execute(q).fetchone()``, a row;
        ``f.read()``, a string) does not, whatever a ``.**`` key says of the chains that
        start at the connection."""
        if self.target(f"{made}.{_ANY_METHOD}").category is not Category.BLOCKING:
            return False
        key = self.table.deep_key(made)
        return key is None or made[len(key) :].count("(") <= 1

    def target(self, target: str, depth: int = 0) -> Verdict:
        """What calling ``target`` does to the event loop."""
        if target.endswith(ITERATION):
            return self._iteration(target, depth)
        refined = self._refined(target, depth)
        if refined is not None:
            return refined
        exact = self.table.ruled(target) or self.table.exact.get(target)
        if exact is not None:
            return _verdict(exact, target)
        if _through_attribute(target):
            # ``request.app.state.db.execute()``: an attribute of an object, whose type
            # nothing tells. Whatever the table says of the object's own methods (``.*``)
            # does not reach it; a ``.**`` key on the object says it does.
            deep = self.table.reached_from_instance(target)
            if deep is None:
                return Verdict(Category.UNKNOWN, target)
            return _verdict(deep, target)
        entry = self.table.lookup(target)
        if entry is not None:
            return _verdict(entry, target)
        functions = self.index.functions
        if target in self.index.ambiguous:
            return Verdict(Category.UNKNOWN, target)
        if target in functions:
            return Verdict(Category.PROJECT, target, function=target)
        if target in self.index.classes:
            init = self.method(target, "__init__")
            if init is not None:
                return Verdict(Category.PROJECT, target, function=init)
            return self._inherited(target, "__init__", target, depth)
        owner, method = split_last(target)
        if owner is None or owner == UNKNOWN or not owner.endswith("()") or depth > 8:
            if owner == "builtins":
                return Verdict(Category.NONBLOCKING, target)
            if owner is not None and owner.startswith(UNKNOWN) and method in PLAIN_METHODS:
                return Verdict(Category.NONBLOCKING, target)  # ``row.date.isoformat()``
            return Verdict(Category.UNKNOWN, target)
        maker = owner[:-2]
        if maker in self.index.classes:
            found = self.method(maker, method)
            if found is not None:
                return Verdict(Category.PROJECT, target, function=found)
            return self._inherited(maker, method, target, depth)
        # What a blocking call returned blocks too where the table says so
        # (``open(p).read()``); what an async-twin call returned does not
        # (``requests.get(u).json()``).
        made_by = self.target(maker, depth + 1)
        # Only what the table's own blocking call made: the methods of a file blocks,
        # those of the bytes its ``read()`` gave do not.
        if made_by.category is Category.BLOCKING and "(" not in maker:
            return Verdict(Category.BLOCKING, target, kind=made_by.kind)
        if made_by.category in (Category.TWIN, Category.NONBLOCKING):
            return Verdict(Category.NONBLOCKING, target)
        return Verdict(Category.UNKNOWN, target)

    def _refined(self, target: str, depth: int) -> Verdict | None:
        """A legacy query refined again (``q = q.filter(...)`` after ``db.query(User)
        .filter(...)``): built without I/O as the step before it was, whatever the chain's
        length; None when ``target`` is no such step."""
        owner, method = split_last(target)
        if owner is None or method not in REFINING or ".query()" not in owner or depth > 8:
            return None
        if not owner.endswith("()") or owner in self.table.exact:
            return None
        if self.target(owner[:-2], depth + 1).category is not Category.NONBLOCKING:
            return None
        return Verdict(Category.NONBLOCKING, target)

    def _iteration(self, target: str, depth: int) -> Verdict:
        """``for row in rows``: it blocks where ``rows`` is made without I/O and fetching
        all of it would block (a lazy query: ``db.query(User).filter(...)``). What a
        blocking call made (a result, a file) blocks at that call already; anything
        else iterates in memory."""
        made = target[: -len(ITERATION)]
        if made.endswith("()") and depth <= 8:
            maker = self.target(made[:-2], depth + 1)
            fetched = self.target(f"{made}.all", depth + 1)
            if maker.category is Category.NONBLOCKING and fetched.category is Category.BLOCKING:
                return replace(fetched, target=target)
        return Verdict(Category.NONBLOCKING, target)

    def method(self, cls: str, name: str) -> str | None:
        """The project function that ``cls().name`` calls, through the project's base
        classes (in the order Python looks them up, near enough); None when none does."""
        for klass in self.index.lineage(cls):
            if f"{klass}.{name}" in self.index.functions:
                return self._implementation(klass, name)
        return None

    def _implementation(self, cls: str, name: str) -> str:
        """``cls.name``, or where it is abstract (``@abstractmethod``, a ``Protocol``'s)
        and the project implements it once, that implementation: what a call through
        the interface runs (``provider: UploadProvider``, ``S3Provider`` its only
        subclass). Implemented more than once: the abstract method, which calls nothing."""
        qualname = f"{cls}.{name}"
        function = self.index.functions[qualname]
        if not (
            ABSTRACT & set(function.decorators) or PROTOCOLS & set(self.index.outside_bases(cls))
        ):
            return qualname
        overrides = {
            f"{klass}.{name}"
            for klass in self.index.bases
            if klass != cls
            and f"{klass}.{name}" in self.index.functions
            and cls in self.index.lineage(klass)
        }
        return overrides.pop() if len(overrides) == 1 else qualname

    def _inherited(self, cls: str, name: str, target: str, depth: int) -> Verdict:
        """A method the project class does not define: what its outside bases say (a
        Pydantic model's ``model_dump``), else unknown (an attribute holding anything)."""
        if name == "__init__" and not self.index.outside_bases(cls):
            return Verdict(Category.NONBLOCKING, target)
        for base in self.index.outside_bases(cls):
            verdict = self.target(f"{self.index.resolve(base)}().{name}", depth + 1)
            if verdict.category is not Category.UNKNOWN:
                return replace(verdict, target=target)
        return Verdict(Category.UNKNOWN, target)


def _verdict(entry: Entry, target: str) -> Verdict:
    """What the table's ``entry`` says of calling ``target``."""
    return Verdict(
        _CATEGORIES[entry.kind], target, entry.code, kind=entry.category or "", loop=entry.loop
    )


ABSTRACT = frozenset({"abc.abstractmethod"})
PROTOCOLS = frozenset({"typing.Protocol", "typing_extensions.Protocol"})

_ANY_METHOD = "__any_method__"
"""A method name no table names, to ask what the methods of an object do in general."""


def _through_attribute(target: str) -> bool:
    """True when ``target`` reaches an attribute of an object: ``X().attr.m``, as opposed
    to ``X().m`` or ``X().m().n``."""
    return any(segment.count(".") > 1 for segment in target.split("()")[1:])


_CATEGORIES = {
    Kind.TWIN: Category.TWIN,
    Kind.OFFLOAD: Category.OFFLOAD,
    Kind.BLOCKING: Category.BLOCKING,
    Kind.NONBLOCKING: Category.NONBLOCKING,
}


@dataclass(frozen=True)
class _Site:
    """One use of a project function: a call from a function, or anything else."""

    path: Path
    line: int
    column: int
    caller: str | None
    call: CallFact | None
    via: str = ""


def analyse(
    index: ProjectIndex,
    table: BlockingTable,
    selected: Iterable[str],
    writable: Callable[[Path], bool] = lambda path: True,
    applied: Iterable[str] | None = None,
    http: HttpRules | None = None,
    roles: Roles | None = None,
    ignored: Iterable[str] = (),
    calls: Mapping[NodeKey, Entry] | None = None,
) -> AsyncPlan:
    """The async part of the plan; see the module docstring. ``applied`` are the selected
    codes whose rewrites are made (all by default); where a selected REVIEW codemod
    (VF103) would make a handler async, a finding says so."""
    selected = frozenset(selected)
    applied = selected if applied is None else frozenset(applied)
    roles = roles or Roles()
    http = http or HttpRules()
    # What a call's targets are does not depend on the selection: both analyses share it.
    known = _Analysis(
        index, table, applied, writable, roles, http, ignored=frozenset(ignored), calls=calls or {}
    )
    plan = _analyse(known)
    endpoints = roles.endpoints
    if endpoints and endpoints in selected - applied:
        wider = _analyse(replace(known, selected=applied | {endpoints}, exposed=frozenset()))
        index_functions = index.functions
        extra = [
            Finding(
                function.path,
                Position(function.name_line or function.line, function.column),
                endpoints,
                f"`{_display(name)}` can become `async def` once its blocking calls are"
                " rewritten: a REVIEW rewrite, made with --unsafe",
            )
            for name in sorted(wider.becomes_async_names - plan.becomes_async_names)
            if name in wider.handlers and (function := index_functions[name])
        ]
        plan = replace(plan, findings=tuple(sorted((*plan.findings, *extra), key=_order)))
    return plan


def _order(finding: Finding) -> tuple[str, Position, str]:
    return (str(finding.path), finding.position, finding.code)


def _analyse(analysis: _Analysis) -> AsyncPlan:
    index, writable, roles = analysis.index, analysis.writable, analysis.roles
    decider = _Decider(analysis)
    functions = index.functions
    # Every sync function that would gain if its callers allowed it: the files that call
    # one of them must be indexed before anything is decided about it.
    hopeful = decider.grounded({name for name, f in functions.items() if not f.is_async})
    chosen, reasons = decider.fixed_point(hopeful)

    findings: list[Finding] = []
    # A function held back matters where async code reaches it, or FastAPI calls it; the
    # blocking calls of code that only sync code reaches are where they belong.
    relevant = decider.reached_from_async() | decider.handlers
    for name, reason in sorted(reasons.items()):
        function = functions[name]
        if (
            not reason
            or name not in relevant
            or not writable(function.path)
            or not decider.gains(function, chosen - {name})
        ):
            continue
        findings.append(
            Finding(
                function.path,
                Position(function.name_line or function.line, function.column),
                roles.endpoints if name in decider.handlers - decider.tests else roles.propagation,
                f"`{_display(name)}` stays sync, so its blocking calls stay: {reason}",
            )
        )
    awaits = {
        node_key(site.path, site.call)
        for name in chosen
        for site in decider.sites.get(name, ())
        if site.call is not None and not site.call.awaited and not decider.runs_apart(site, chosen)
    }
    runs = {
        node_key(site.path, site.call): name
        for name in sorted(chosen)
        for site in decider.sites.get(name, ())
        if site.call is not None and decider.runs_apart(site, chosen)
    }
    async_after = {name for name, f in functions.items() if f.is_async or name in chosen}
    twins: dict[NodeKey, str] = {}
    blocking: dict[NodeKey, BlockingCall] = {}
    held = {(finding.path, finding.position) for finding in findings}
    offloads = decider.offloads(async_after, findings, twins, blocking, held)
    shared = httpplan.share(
        analysis.roles.http,
        index,
        analysis.http.taken,
        decider.sites,
        decider.handlers - decider.tests,
        twins,
        async_after,
        writable,
        lambda via: injected_use(via, index),
    )
    findings.extend(shared.findings)
    if roles.family & analysis.selected:
        findings.extend(decider.in_validators())
    neighbours = {
        verdict.target.partition("(")[0]
        for verdict in analysis.verdicts.values()
        if verdict.category is Category.UNKNOWN
    }
    return AsyncPlan(
        becomes_async=frozenset(node_key(functions[n].path, functions[n]) for n in chosen),
        becomes_async_names=frozenset(chosen),
        handlers=frozenset(decider.handlers),
        callers={
            name: frozenset(site.caller for site in uses if site.call and site.caller)
            for name, uses in sorted(decider.sites.items())
        },
        entry_points=frozenset(
            node_key(functions[name].path, functions[name])
            for name in decider.handlers - decider.tests
        ),
        tests=frozenset(node_key(functions[name].path, functions[name]) for name in decider.tests),
        test_marks={
            node_key(functions[name].path, functions[name]): decider.mark_for(name)
            for name in sorted(decider.tests)
        },
        marked_tests=frozenset(
            node_key(functions[name].path, functions[name])
            for name in decider.tests
            if decider.marked(functions[name])
        ),
        awaits=frozenset(awaits),
        runs=runs,
        offloads=frozenset(offloads),
        twins=frozenset(twins),
        blocking=blocking,
        http=shared,
        findings=tuple(sorted(set(findings), key=_order)),
        held={name: reason for name, reason in sorted(reasons.items()) if reason},
        neighbours=frozenset(neighbours),
        wanted_modules=frozenset(decider.unknown_reached(async_after)),
        roles=roles,
        wanted_names=frozenset(_display(name) for name in hopeful | shared.candidates)
        # Names they are re-exported under (``from .mod import helper as fetch``).
        | {
            _display(alias)
            for alias, value in index.objects.items()
            if value in hopeful | shared.candidates
        },
        fastapi=decider.fastapi,
    )


def _display(name: str) -> str:
    return shown(name)


def _where(site: _Site) -> str:
    return f"{site.path.name}:{site.line}"


class _Decider:
    """The call graph's facts, and the decisions made from them."""

    def __init__(self, analysis: _Analysis) -> None:
        self.analysis = analysis
        self.functions = analysis.index.functions
        self.sites, self.unresolved = _sites(analysis.index, analysis)
        self.marker = _async_test_marker(analysis.index)
        self.collected = _tests(analysis.index)
        """pytest's test functions, whether the project runs async ones or not."""
        self.tests = self.collected if self.marker else set()
        self.sync_tests = {
            name
            for name in _tests(analysis.index) | _fixtures(analysis.index)
            if not self.functions[name].is_async
        }
        """pytest's sync tests and fixtures: pytest calls them with no event loop
        running, so an async function they call can run there on a loop of its own."""
        self.handlers = _framework_called(analysis.index, self.sites) | self.tests
        analysis.exposed = frozenset(_exposed(analysis))
        self.fastapi = any(module.uses_fastapi for module in analysis.index.modules)
        self.blocks, self.unsure = _sync_effects(analysis)
        self._within: dict[str, tuple[BlockingCall, ...]] = {}
        self._bound_cache: dict[str, str] = {}
        """``_bound_reached``'s answers, by function."""
        self._stars: dict[str, tuple[str, ...]] | None = None
        self._modules = {module.path: module.module for module in analysis.index.modules}

    def mark_for(self, test: str) -> str:
        """The async-test mark for ``test``: its file's, else the project's."""
        path = self.functions[test].path
        return _async_test_marker(self.analysis.index, path) or self.marker or ""

    def marked(self, test: FunctionFact) -> bool:
        """Whether ``test`` carries its async mark already: on itself, or through its
        file's ``pytestmark``."""
        mark = f"pytest.mark.{self.mark_for(test.qualname)}"
        return mark in test.decorators or any(
            reference.function is None and mark in reference.targets
            for module in self.analysis.index.modules
            if module.path == test.path
            for reference in module.references
        )

    def reached_from_async(self) -> set[str]:
        """The sync functions that async code calls, directly or through sync functions."""
        reached: set[str] = set()
        pending = [name for name, function in self.functions.items() if function.is_async]
        while pending:
            function = self.functions[pending.pop()]
            for call in function.calls:
                callee = self.verdict(function, call).function
                if (
                    callee is not None
                    and callee in self.functions
                    and callee not in reached
                    and not self.functions[callee].is_async
                ):
                    reached.add(callee)
                    pending.append(callee)
        return reached

    def unknown_reached(self, async_after: set[str]) -> set[str]:
        """What the functions of ``async_after`` call that the index does not know,
        directly or through the sync project functions they call, by the name of what
        is called without its call chain (``app.services.user.get_user``,
        ``app.repo.UserRepo``): the module that defines it is next to read."""
        unknown: set[str] = set()
        seen = set(async_after)
        pending = sorted(async_after)
        while pending:
            function = self.functions[pending.pop()]
            for call in function.calls:
                verdict = self.verdict(function, call)
                callee = verdict.function
                if verdict.category is Category.UNKNOWN:
                    head = verdict.target.partition("(")[0]
                    if head and not head.startswith(UNKNOWN):
                        unknown.add(head)
                        unknown.update(self._through_star_imports(head))
                elif callee is not None and callee in self.functions and callee not in seen:
                    seen.add(callee)
                    pending.append(callee)
        return unknown

    def _through_star_imports(self, name: str) -> list[str]:
        """Where ``name`` may come from when a module that it names imports everything
        from others (``from .user_repository import *`` in a package's ``__init__``):
        the same name in each of those."""
        if self._stars is None:
            self._stars = {
                module.module: module.star_imports
                for module in self.analysis.index.modules
                if module.star_imports
            }
        parts = name.split(".")
        for end in range(len(parts) - 1, 0, -1):
            sources = self._stars.get(".".join(parts[:end]))
            if sources:
                rest = ".".join(parts[end:])
                return [f"{source}.{rest}" for source in sources]
        return []

    def verdict(self, function: FunctionFact, call: CallFact) -> Verdict:
        return self.analysis.classify(function, call)

    def gains(self, function: FunctionFact, chosen: set[str]) -> bool:
        """True when ``function`` has something to gain from being async: a blocking call
        with a selected async twin, or a callee that becomes async."""
        for call in function.calls:
            verdict = self.verdict(function, call)
            if verdict.category is Category.TWIN and verdict.code in self.analysis.selected:
                return True
            if verdict.category is Category.PROJECT and verdict.function in chosen:
                return True
        return False

    def fixed_point(self, candidates: set[str]) -> tuple[set[str], dict[str, str]]:
        """The largest subset of ``candidates`` that can all become async together, and
        why each of the others cannot (``""``: nothing to report)."""
        chosen = set(candidates)
        reasons: dict[str, str] = {}
        while True:
            self._remove_obstacles(chosen, reasons)
            grounded = self.grounded(chosen)
            if grounded == chosen:
                return chosen, reasons
            for name in chosen - grounded:
                reasons.pop(name, None)
            chosen &= grounded

    def grounded(self, among: set[str]) -> set[str]:
        """The functions of ``among`` that gain from being async: they make a blocking call
        with a selected async twin, or call one of ``among`` that does, transitively. (A
        cycle of functions that call each other gains nothing by itself.)"""
        grounded = {
            name
            for name in among
            if any(
                verdict.category is Category.TWIN and verdict.code in self.analysis.selected
                for verdict in self._verdicts(name)
            )
        }
        callers: dict[str, set[str]] = {}
        for name in among:
            for verdict in self._verdicts(name):
                if verdict.function in among:
                    callers.setdefault(verdict.function, set()).add(name)
        pending = list(grounded)
        while pending:
            for caller in callers.get(pending.pop(), ()):
                if caller not in grounded:
                    grounded.add(caller)
                    pending.append(caller)
        return grounded

    def _verdicts(self, name: str) -> list[Verdict]:
        function = self.functions[name]
        return [self.verdict(function, call) for call in function.calls]

    def _remove_obstacles(self, chosen: set[str], reasons: dict[str, str]) -> None:
        changed = True
        while changed:
            changed = False
            for name in sorted(chosen):
                function = self.functions[name]
                reason = self.obstacle(function, chosen) if self.gains(function, chosen) else ""
                if reason is not None:
                    chosen.discard(name)
                    if reason:
                        reasons[name] = reason
                    else:
                        reasons.pop(name, None)
                    changed = True

    def obstacle(self, function: FunctionFact, chosen: set[str]) -> str | None:
        """Why ``function`` cannot become async given ``chosen`` (``""`` when it is not
        worth a finding); None when it can."""
        name = function.qualname
        selected = self.analysis.selected
        roles = self.analysis.roles
        code = (
            roles.propagation
            if name in self.tests or name not in self.handlers
            else roles.endpoints
        )
        if code not in selected:
            return ""
        if not self.analysis.writable(function.path):
            return "it is outside the paths given"
        if function.is_generator and name not in self.handlers:
            return "it is a generator (its callers iterate it)"
        if _display(name).startswith("__"):
            return "it is a special method"
        if function.sync_only:
            return f"{function.sync_only}, which an async generator cannot"
        if name in self.analysis.index.ambiguous:
            return "it is defined more than once, and which definition runs is not known"
        other = self._override(function)
        if other is not None:
            return f"`{other}` overrides it or is overridden by it"
        if not _allowed_decorators(function, self.analysis.index, name in self.tests):
            if not self.marker and name in self.collected:
                # ``@pytest.mark.usefixtures(...)`` wraps nothing: the plugin is lacking.
                return (
                    "it is a pytest test, and the project's tests run no coroutine (no"
                    " `pytest.mark.asyncio`, `pytest.mark.anyio` or `pytest_asyncio`"
                    " fixture): add pytest-asyncio and make it an async test by hand"
                )
            return "a decorator wraps it (it may not accept a coroutine function)"
        unresolved = self.unresolved.get(_display(name))
        if function.owner_class is not None and unresolved is not None:
            return (
                f"`.{_display(name)}()` is called at {_where(unresolved)} on an object whose"
                " type vibefix cannot tell"
            )
        uses = self.sites.get(name, [])
        if name not in self.handlers and not any(site.call for site in uses):
            return ""  # no caller in the project: perhaps called from outside, leave it
        for site in uses:
            problem = self._caller_problem(site, chosen)
            if problem is not None:
                return problem
        on_loop = self._on_loop(name, uses) and any(
            self.verdict(function, call).loop
            and self.verdict(function, call).category is Category.TWIN
            for call in function.calls
        )
        for call in function.calls:
            verdict = self.verdict(function, call)
            problem = _callee_problem(
                verdict, call, chosen, self.analysis, self.blocks, self.unsure, self.functions
            ) or self._shadow_problem(function, verdict)
            if problem is not None and on_loop and self._unsure_only(verdict):
                # What vibefix cannot classify runs on the event loop already: every
                # caller is an ``async def`` that calls it directly.
                continue
            if problem is not None:
                return f"{problem} at line {call.line}"
        return None

    def _on_loop(self, name: str, uses: list[_Site]) -> bool:
        """Whether ``name`` runs on the event loop as the code is: not a handler
        (FastAPI runs a ``def`` one in a thread), and called only, directly, from
        functions that are ``async def`` already."""
        if name in self.handlers or not uses:
            return False
        for site in uses:
            caller = self.functions.get(site.caller) if site.caller else None
            if site.call is None or caller is None or not caller.is_async:
                return False
        return True

    def _unsure_only(self, verdict: Verdict) -> bool:
        """A call that may block only because vibefix cannot tell what it does."""
        if verdict.category is Category.UNKNOWN:
            return True
        callee = verdict.function
        return (
            verdict.category is Category.PROJECT
            and callee is not None
            and not self.blocks.get(callee)
            and self.unsure.get(callee) is not None
        )

    def runner(self) -> str:
        """The name VF102's rewrite uses."""
        return "run_in_threadpool" if self.fastapi else "asyncio"

    def _shadow_problem(self, function: FunctionFact, verdict: Verdict) -> str | None:
        """The rewrite a call needs uses a name that means something else here."""
        needs = self.analysis.roles.needs.get(verdict.code or "", ())
        if verdict.category is Category.TWIN and needs:
            needed = needs[0]
        elif verdict.category is Category.OFFLOAD or (
            verdict.category is Category.PROJECT and self._runs_in_thread(verdict, set())
        ):
            needed = self.runner()
        else:
            return None
        if needed in function.shadowed:
            return f"the name `{needed}` means something else in it"
        return None

    def _override(self, function: FunctionFact) -> str | None:
        """Another project class's method of the same name up or down the hierarchy: a
        call through a base class may reach either."""
        owner = function.owner_class
        if owner is None:
            return None
        name = _display(function.qualname)
        index = self.analysis.index
        related = set(index.lineage(owner)) | {
            klass for klass in index.bases if owner in index.lineage(klass)
        }
        for klass in sorted(related - {owner}):
            if f"{klass}.{name}" in self.functions:
                return f"{_display(klass)}.{name}"
        return None

    def runs_apart(self, site: _Site, chosen: set[str]) -> bool:
        """The call at ``site`` is in sync test code that stays sync (no async-test
        plugin to make it an async test): it runs its callee with ``asyncio.run``."""
        return (
            site.call is not None
            and site.caller in self.sync_tests
            and site.caller not in chosen
            and site.caller not in self.handlers
            and not site.call.awaited
        )

    def _caller_problem(self, site: _Site, chosen: set[str]) -> str | None:
        if self.runs_apart(site, chosen):
            return None
        if site.call is None:
            if _framework_use(site.via, self.analysis.index):
                return None
            return f"it is used as a value at {_where(site)}, not called"
        if site.caller is None:
            return f"it is called from module-level code at {_where(site)}"
        caller = self.functions.get(site.caller)
        if caller is None or not (caller.is_async or site.caller in chosen):
            return f"it is called from sync code in `{_display(site.caller)}` at {_where(site)}"
        if not site.call.awaitable:
            return (
                f"its call at {_where(site)} is in a lambda, a generator expression or a"
                " class body, where `await` is not allowed"
            )
        if not self.analysis.writable(site.path):
            return f"its caller at {_where(site)} is outside the paths given"
        if self.analysis.roles.propagation not in self.analysis.selected:
            return ""  # its callers would need an await: not asked for
        return None

    def offloads(
        self,
        async_after: set[str],
        findings: list[Finding],
        twins: dict[NodeKey, str],
        blocking: dict[NodeKey, BlockingCall],
        held: set[tuple[Path, Position]] | None = None,
    ) -> set[NodeKey]:
        """The blocking calls in async code that run in a thread (VF102); a finding for
        each that cannot, and for each blocking call of async code with no rewrite, at
        its own line. ``twins`` receives the calls VF101 rewrites, with their functions'
        names; ``blocking``, for each call rewritten, the blocking call it is about."""
        offloads: set[NodeKey] = set()
        selected = self.analysis.selected
        roles = self.analysis.roles
        # Only a run about the event loop (a VF1xx codemod selected) reports what still
        # blocks it: ``--select VF300`` is about models.
        reporting = bool(roles.family & selected)
        # Blocking calls that async code outside the paths given reaches, in a file of
        # the paths given: reported there, once, with the shortest way to them.
        elsewhere: dict[Step, tuple[BlockingCall, str]] = {}
        for name, function in self._definitions(async_after):
            if not self.analysis.writable(function.path):
                if reporting and function.is_async and roles.offload in selected:
                    self._reached_elsewhere(function, elsewhere, held or set())
                continue
            # By where each starts: of a chain of blocking calls (``db.query(X)
            # .first()``), the whole chain, which the index lists first.
            stuck: dict[tuple[int, int], Finding] = {}
            for call in function.calls:
                verdict = self.verdict(function, call)
                if call.awaited:
                    continue
                key = node_key(function.path, call)
                if (
                    verdict.category is Category.TWIN
                    and verdict.code in selected
                    and call.awaitable
                ):
                    # Rewritten to its twin (VF100, VF101, VF203): the rewrite says what
                    # it takes off the event loop.
                    blocking[key] = self.direct(function, call, verdict)
                if (
                    verdict.category is Category.TWIN
                    and verdict.code == roles.http
                    and roles.http in selected
                    and call.awaitable
                ):
                    twins[key] = name
                stays = reporting and function.is_async
                if stays and (
                    verdict.category is Category.BLOCKING
                    # A selected twin rewrite reports for itself where it cannot rewrite;
                    # one the user ignores, they know of.
                    or (
                        verdict.category is Category.TWIN
                        and verdict.code not in selected
                        and verdict.code not in self.analysis.ignored
                    )
                ):
                    if (call.line, call.column) not in stuck:
                        stuck[call.line, call.column] = self._stuck(function, call, verdict)
                    continue
                if not self._runs_in_thread(verdict, async_after):
                    continue
                reached = self.reached(function, call, verdict)
                if roles.offload not in selected:
                    # What runs it in a thread is not asked for; unless the user ignores
                    # that, or a rewrite that is selected leaves the call and says why.
                    if (
                        stays
                        and (
                            roles.offload not in self.analysis.ignored
                            or (verdict.note and verdict.code in selected)
                        )
                        and (call.line, call.column) not in stuck
                    ):
                        stuck[call.line, call.column] = self._stuck(function, call, verdict)
                    continue
                if self.runner() in function.shadowed:
                    findings.append(
                        Finding(
                            function.path,
                            Position(call.line, call.column),
                            roles.offload,
                            f"`{_short(verdict.target)}` blocks the event loop, but the name"
                            f" `{self.runner()}` means something else here: offload it by hand",
                            reached,
                        )
                    )
                elif shared := self._shared_object(function, call, verdict):
                    findings.append(
                        Finding(
                            function.path,
                            Position(call.line, call.column),
                            roles.offload,
                            f"`{_short(verdict.target)}` blocks the event loop, but it uses"
                            f" `{shared}`, made once at import for every request: a worker"
                            " thread must not use it (sqlite3 refuses another thread, and"
                            " these connections and cursors are not thread-safe); open one"
                            " per request (a dependency) and run that in a thread",
                            reached,
                        )
                    )
                elif call.awaitable and call.offloadable and not self.analysis.makes_blocking(call):
                    offloads.add(key)
                    if reached is not None:
                        blocking[key] = reached
                    if verdict.note and roles.http in selected:
                        findings.append(
                            Finding(
                                function.path,
                                Position(call.line, call.column),
                                roles.http,
                                f"`{_short(verdict.target)}` is not rewritten to an awaited client"
                                f" ({verdict.note}): it runs in a thread instead",
                                reached,
                            )
                        )
                else:
                    findings.append(
                        Finding(
                            function.path,
                            Position(call.line, call.column),
                            roles.offload,
                            f"`{_short(verdict.target)}` blocks the event loop, and its result"
                            " blocks in turn (a file, a connection) or it sits where `await` is"
                            " not allowed (a lambda, a class body): move the"
                            " blocking part into a sync function and offload that with"
                            " `await run_in_threadpool(...)`",
                            reached,
                        )
                    )
            findings.extend(stuck.values())
        for last, (reached, why) in elsewhere.items():
            head = reached.chain[0]
            findings.append(
                Finding(
                    last.path,
                    Position(last.line, last.column),
                    roles.offload,
                    f"`{_short(reached.call)}` blocks the event loop: `async def"
                    f" {head.function}` in {head.path.name} reaches it, outside the paths"
                    f" given; {why}",
                    reached,
                )
            )
        return offloads

    def _shared_object(self, function: FunctionFact, call: CallFact, verdict: Verdict) -> str:
        """The module-level object of a ``THREAD_BOUND`` type that running ``call`` in a
        thread would use (``conn`` of ``conn = sqlite3.connect(...)``), through the sync
        functions it calls too; "" when none."""
        found = self._bound_in(call.targets)
        if found or verdict.function is None:
            return found
        return self._bound_reached(verdict.function, set())

    def _bound_reached(self, name: str, seen: set[str]) -> str:
        if name in self._bound_cache:
            return self._bound_cache[name]
        seen.add(name)
        found = ""
        callee = self.functions.get(name)
        if callee is not None and not callee.is_async:
            for call in callee.calls:
                found = self._bound_in(call.targets)
                deeper = self.verdict(callee, call).function
                if not found and deeper is not None and deeper not in seen:
                    found = self._bound_reached(deeper, seen)
                if found:
                    break
        self._bound_cache[name] = found
        return found

    def _bound_in(self, targets: Iterable[str]) -> str:
        index = self.analysis.index
        for target in targets:
            for end in (i for i, char in enumerate(target) if char in ".("):
                prefix = target[:end]
                if "(" in prefix or prefix not in index.objects:
                    continue
                if index.resolve(prefix).startswith(THREAD_BOUND):
                    return prefix.rpartition(".")[2]
        return ""

    def _definitions(self, names: set[str]) -> list[tuple[str, FunctionFact]]:
        """Each of ``names`` with its definition; and, for an async one defined more than
        once under FastAPI's decorators (two routes whose functions share a name, both
        registered), every such definition: each runs on the event loop."""
        found = [(name, self.functions[name]) for name in sorted(names)]
        ambiguous = self.analysis.index.ambiguous & names
        if ambiguous:
            for module in self.analysis.index.modules:
                for function in module.functions:
                    name = function.qualname
                    if (
                        name in ambiguous
                        and function is not self.functions[name]
                        and function.is_async
                        and route_decorated(function, self.analysis.index)
                    ):
                        found.append((name, function))
        return found

    def in_validators(self) -> list[Finding]:
        """The blocking calls of the validators of the project's Pydantic models that an
        ``async def`` route handler names (its body, its parameters, its response model):
        FastAPI runs them on the event loop as it reads the request and checks the
        response. No rewrite: a validator is called by Pydantic, which cannot await."""
        index = self.analysis.index
        models: dict[str, FunctionFact] = {}
        for module in index.modules:
            for reference in module.references:
                handler = self.functions.get(reference.function or "")
                if handler is None or not handler.is_async or handler.qualname not in self.handlers:
                    continue
                for target in reference.targets:
                    if target in index.classes and "pydantic.BaseModel" in self._bases(target):
                        models.setdefault(target, handler)
        findings: list[Finding] = []
        roles = self.analysis.roles
        seen: set[Step] = set()
        for function in self.functions.values():
            handler = models.get(function.owner_class or "")
            if (
                handler is None
                or function.is_async
                or not PYDANTIC_VALIDATORS & set(function.decorators)
                or not self.analysis.writable(function.path)
            ):
                continue
            step = Step(handler.path, handler.name_line or handler.line, self.local(handler))
            for found in self.within(function.qualname):
                last = found.chain[-1]
                if last in seen:
                    continue
                seen.add(last)
                reached = replace(found, chain=(step, *found.chain))
                findings.append(
                    Finding(
                        last.path,
                        Position(last.line, last.column),
                        roles.offload,
                        f"`{_short(found.call)}` blocks the event loop: the validator"
                        f" `{self.local(function)}` runs on it while FastAPI reads the"
                        f" request of `async def {_display(handler.qualname)}`; check it in"
                        " the handler instead, offloaded",
                        reached,
                    )
                )
        return findings

    def _bases(self, cls: str) -> set[str]:
        """Every base of ``cls``, the project's and the outside ones."""
        index = self.analysis.index
        return {*index.lineage(cls), *index.outside_bases(cls)}

    # -- what async code reaches --------------------------------------------------------

    def direct(self, function: FunctionFact, call: CallFact, verdict: Verdict) -> BlockingCall:
        """A blocking call made by ``function`` itself."""
        return BlockingCall(verdict.target, _kind(verdict), (self._step(function, call),))

    def reached(
        self, function: FunctionFact, call: CallFact, verdict: Verdict
    ) -> BlockingCall | None:
        """The first blocking call that ``call`` (made by ``function``) reaches: itself,
        or one that the sync project function it calls makes, at any depth."""
        if verdict.category in (Category.TWIN, Category.OFFLOAD, Category.BLOCKING):
            return self.direct(function, call, verdict)
        within = self.within(verdict.function or "")
        if not within:
            return None
        first = within[0]
        return replace(first, chain=(self._step(function, call), *first.chain))

    def within(self, name: str) -> tuple[BlockingCall, ...]:
        """Every blocking call the sync function ``name`` makes or reaches through the
        sync project functions it calls, each once, by its shortest way, in the order of
        its body."""
        known = self._within.get(name)
        if known is not None:
            return known
        self._within[name] = ()  # a cycle reaches nothing new
        function = self.functions.get(name)
        found: dict[Step, BlockingCall] = {}
        if function is not None and not function.is_async:
            for call in function.calls:
                verdict = self.verdict(function, call)
                if verdict.category in (Category.TWIN, Category.OFFLOAD, Category.BLOCKING):
                    direct = self.direct(function, call, verdict)
                    found.setdefault(direct.chain[-1], direct)
                    continue
                callee = self.functions.get(verdict.function or "")
                if callee is None or callee.is_async or not self.blocks.get(callee.qualname):
                    continue
                step = self._step(function, call)
                for deeper in self.within(callee.qualname):
                    longer = replace(deeper, chain=(step, *deeper.chain))
                    shorter = found.get(deeper.chain[-1])
                    if shorter is None or len(shorter.chain) > len(longer.chain):
                        found[deeper.chain[-1]] = longer
        self._within[name] = tuple(found.values())
        return self._within[name]

    def _reached_elsewhere(
        self,
        function: FunctionFact,
        elsewhere: dict[Step, tuple[BlockingCall, str]],
        held: set[tuple[Path, Position]],
    ) -> None:
        """The blocking calls in files of the paths given that ``function``, an async
        function outside them, reaches through the sync functions it calls (one that a
        finding says stays sync, at ``held``, is reported there)."""
        for call in function.calls:
            verdict = self.verdict(function, call)
            callee = self.functions.get(verdict.function or "")
            if call.awaited or callee is None or callee.is_async:
                continue
            if (callee.path, Position(callee.name_line or callee.line, callee.column)) in held:
                continue
            step = self._step(function, call)
            for deeper in self.within(callee.qualname):
                last = deeper.chain[-1]
                if not self.analysis.writable(last.path):
                    continue
                reached = replace(deeper, chain=(step, *deeper.chain))
                known = elsewhere.get(last)
                if known is None or len(known[0].chain) > len(reached.chain):
                    why = f"run `{_display(callee.qualname)}` in a thread where it is called"
                    elsewhere[last] = (reached, why)

    def _step(self, function: FunctionFact, call: CallFact) -> Step:
        return Step(function.path, call.line, self.local(function), call.column)

    def local(self, function: FunctionFact) -> str:
        """``UserService.load``: a function's name within its module."""
        module = self._modules.get(function.path, "")
        prefix = f"{module}."
        name = function.qualname
        return name[len(prefix) :] if module and name.startswith(prefix) else _display(name)

    def _stuck(self, function: FunctionFact, call: CallFact, verdict: Verdict) -> Finding:
        """The finding for a blocking call that stays on the event loop in an ``async
        def``: the reverse case of VF103 for handlers and dependencies."""
        roles = self.analysis.roles
        reached = self.reached(function, call, verdict)
        if verdict.note:
            remedy = f"{verdict.code} leaves it: {verdict.note}"
        elif verdict.category is Category.TWIN:
            remedy = f"{verdict.code} rewrites it to its async twin when it is selected"
        elif verdict.category in (Category.OFFLOAD, Category.PROJECT):
            remedy = f"{roles.offload} runs it in a thread when it is selected"
        else:
            remedy = (
                "vibefix has no rewrite for it: make the function a plain `def`, or move to an"
                " async library"
            )
        return Finding(
            function.path,
            Position(call.line, call.column),
            roles.endpoints if function.qualname in self.handlers else roles.offload,
            f"`{_short(verdict.target)}` blocks the event loop in `async def"
            f" {_display(function.qualname)}`; {remedy}",
            reached,
        )

    def _runs_in_thread(self, verdict: Verdict, async_after: set[str]) -> bool:
        if verdict.category is Category.OFFLOAD:
            return True
        callee = self.functions.get(verdict.function or "")
        return (
            callee is not None
            and callee.qualname not in async_after
            and not callee.is_generator
            and self.blocks[callee.qualname]
        )


def _kind(verdict: Verdict) -> str:
    """What kind of work a blocking call blocks on: the table's entry says, else (a
    user's entry in the string form) its name does (``known.blocking.guess_category``)."""
    return verdict.kind or guess_category(verdict.target)


def _short(target: str) -> str:
    """A call target as a person would write it: ``Session().query`` for
    ``sqlalchemy.orm.Session().query``, ``.first()`` for a long chain."""
    if target.endswith(ITERATION):
        return f"for ... in {_short(target[: -len(ITERATION)].removesuffix('()'))}()"
    if target.startswith(UNKNOWN):
        # An untyped parameter's placeholder (``?app.main.backup:worker.join``, see
        # ``parameter_type``): the parameter's name is how the code spells it.
        owner, colon, rest = target.removeprefix(UNKNOWN).partition(":")
        if colon and "(" not in owner:
            target = rest
    head, paren, tail = target.partition("(")
    head = head.removeprefix("builtins.")
    if not paren:
        return head
    if tail.count("(") > 1 or tail.startswith(")("):
        return f".{target.rpartition('.')[2]}()"
    return f"{head.rpartition('.')[2]}({tail}"


def _callee_problem(
    verdict: Verdict,
    call: CallFact,
    chosen: set[str],
    analysis: _Analysis,
    blocks: Mapping[str, bool],
    unsure: Mapping[str, str | None],
    functions: Mapping[str, FunctionFact],
) -> str | None:
    """Why this call would block the event loop once its function is async."""
    name = _short(verdict.target)
    category = verdict.category
    if category is Category.NONBLOCKING:
        return None
    if category is Category.TWIN:
        if verdict.code not in analysis.selected:
            return f"`{name}` blocks and {verdict.code} is not selected"
        return None if call.awaitable else f"`{name}` blocks inside a lambda or generator"
    if category is Category.OFFLOAD:
        if (
            analysis.roles.offload in analysis.selected
            and call.awaitable
            and call.offloadable
            and not analysis.makes_blocking(call)
        ):
            return None
        return f"`{name}` blocks and cannot be offloaded where it is"
    if category is Category.BLOCKING:
        return f"`{name}` blocks and has no automatic rewrite"
    if category is Category.UNKNOWN:
        return (
            f"vibefix cannot tell whether `{name}` blocks (declare it in [tool.vibefix.blocking])"
        )
    callee = verdict.function or ""
    target = functions.get(callee)
    if target is None or target.is_async:
        return None
    if callee in chosen:
        return None if call.awaitable else f"`{name}` would need an await in a lambda"
    if target.is_generator:
        if blocks.get(callee) or unsure.get(callee):
            return f"`{name}` is a generator that may block as it is iterated"
        return None
    if blocks.get(callee):
        if analysis.roles.offload in analysis.selected and call.awaitable and call.offloadable:
            return None
        return f"`{name}` blocks"
    reason = unsure.get(callee)
    if reason is not None:
        return f"`{name}` may block ({reason})"
    return None


def _exposed(analysis: _Analysis) -> set[str]:
    """The functions that code naming one of requests' exceptions (an ``except``, a
    ``pytest.raises``) calls, directly or through other functions."""
    index = analysis.index
    naming = [
        reference
        for module in index.modules
        for reference in module.references
        if analysis.http.names_exception(reference.targets)
    ]
    # Outside the call chain, code that sees every request's errors: an exception
    # handler (``@app.exception_handler(requests.RequestException)``), a middleware, a
    # dependency that yields. Naming requests' exceptions there exposes every function.
    for reference in naming:
        function = index.functions.get(reference.function or "")
        if (
            function is None
            or function.is_generator
            or any(
                decorator.rpartition(".")[2] in ("middleware", "exception_handler")
                for decorator in function.decorators
            )
        ):
            return set(index.functions)
    pending = [reference.function for reference in naming if reference.function is not None]
    exposed: set[str] = set()
    while pending:
        function = index.functions.get(pending.pop())
        if function is None:
            continue
        for call in function.calls:
            callee = analysis.classify(function, call).function
            if callee is not None and callee not in exposed:
                exposed.add(callee)
                pending.append(callee)
    return exposed


def _sync_effects(analysis: _Analysis) -> tuple[dict[str, bool], dict[str, str | None]]:
    """For each sync function: whether it blocks, directly or through the project
    functions it calls; and, when it does not, the unknown call that may make it block."""
    functions = analysis.index.functions
    blocks: dict[str, bool] = {}
    unsure: dict[str, str | None] = {}
    for name, function in functions.items():
        blocks[name] = False
        unsure[name] = None
        if function.is_async:
            continue
        for call in function.calls:
            verdict = analysis.classify(function, call)
            if verdict.category in (Category.TWIN, Category.OFFLOAD, Category.BLOCKING):
                blocks[name] = True
            elif verdict.category is Category.UNKNOWN and unsure[name] is None:
                unsure[name] = f"it calls `{_short(verdict.target)}`"
    changed = True
    while changed:
        changed = False
        for name, function in functions.items():
            if function.is_async or blocks[name]:
                continue
            for call in function.calls:
                callee = analysis.classify(function, call).function
                if callee is None or callee not in functions or functions[callee].is_async:
                    continue
                if functions[callee].is_generator:
                    # Calling it runs nothing; iterating it, which the index cannot
                    # see, runs its body.
                    if (blocks[callee] or unsure[callee]) and unsure[name] is None:
                        unsure[name] = f"it iterates the generator `{callee.rpartition('.')[2]}`"
                        changed = True
                    continue
                if blocks[callee]:
                    blocks[name] = changed = True
                    break
                if unsure[callee] is not None and unsure[name] is None:
                    unsure[name] = f"through `{callee.rpartition('.')[2]}`"
                    changed = True
    return blocks, {n: (None if blocks[n] else r) for n, r in unsure.items()}


def _sites(
    index: ProjectIndex, analysis: _Analysis
) -> tuple[dict[str, list[_Site]], dict[str, _Site]]:
    """Every use of every project function: calls (from functions and from module-level
    code) and references (``Depends(f)``, ``Thread(target=self.tick)``); and, by method
    name, the first call or reference whose object's type is unknown: it may reach any
    project method of that name."""
    sites: dict[str, list[_Site]] = {}
    unresolved: dict[str, _Site] = {}

    def add(targets: tuple[str, ...], site: _Site, verdict: Verdict | None = None) -> None:
        verdict = verdict or analysis.classify_targets(targets)
        if verdict.function is not None:
            sites.setdefault(verdict.function, []).append(site)
        elif verdict.category is Category.UNKNOWN:
            owner, method = split_last(verdict.target)
            if owner is not None:
                unresolved.setdefault(method, site)

    for function in index.functions.values():
        for call in function.calls:
            site = _Site(function.path, call.line, call.column, function.qualname, call)
            add(call.targets, site, analysis.classify(function, call))
    for module in index.modules:
        for call in module.module_calls:
            add(call.targets, _Site(module.path, call.line, call.column, None, call))
        for reference in module.references:
            via = index.resolve(reference.via) if reference.via else ""
            site = _Site(
                module.path, reference.line, reference.column, reference.function, None, via
            )
            add(reference.targets, site)
    return sites, unresolved


ASYNC_TEST_MARKS = {
    "pytest.mark.asyncio": "asyncio",
    "pytest.mark.anyio": "anyio",
    # An async fixture of pytest-asyncio: its tests run on its loop (marked, or in auto mode).
    "pytest_asyncio.fixture": "asyncio",
}


def _async_test_marker(index: ProjectIndex, path: Path | None = None) -> str | None:
    """``asyncio`` or ``anyio``: the pytest plugin the project's tests (or the file at
    ``path``'s) already use for async tests (a mark on a test or in ``pytestmark``)."""
    used = {
        decorator
        for f in index.functions.values()
        if path is None or f.path == path
        for decorator in f.decorators
    }
    used.update(
        target
        for module in index.modules
        if path is None or module.path == path
        for reference in module.references
        for target in reference.targets
    )
    found = sorted(ASYNC_TEST_MARKS[mark] for mark in used & ASYNC_TEST_MARKS.keys())
    return found[0] if found else None


def _tests(index: ProjectIndex) -> set[str]:
    """pytest's test functions: ``test*`` in ``test_*.py`` or ``*_test.py``, at module
    level or in a ``Test*`` class."""
    tests = set()
    for name, function in index.functions.items():
        owner = function.owner_class
        if (
            _display(name).startswith("test")
            and _test_file(function.path)
            and (
                owner is None
                # pytest collects plain ``Test*`` classes; a ``unittest.TestCase`` runs
                # its methods itself, and would not await them.
                or (_display(owner).startswith("Test") and not index.outside_bases(owner))
            )
            and "<locals>" not in name
        ):
            tests.add(name)
    return tests


def _test_file(path: Path) -> bool:
    """A module pytest collects tests from: ``test_*.py`` or ``*_test.py``."""
    return path.name.startswith("test_") or path.name.endswith("_test.py")


def _fixtures(index: ProjectIndex) -> set[str]:
    """pytest's fixtures in the test suite's modules (``conftest.py``, ``test_*.py``)."""
    return {
        name
        for name, function in index.functions.items()
        if (function.path.name == "conftest.py" or _test_file(function.path))
        and any(d.rpartition(".")[2] == "fixture" for d in function.decorators)
        and "<locals>" not in name
    }


def _framework_called(index: ProjectIndex, sites: Mapping[str, list[_Site]]) -> set[str]:
    """Route handlers, dependencies and other callables that FastAPI awaits."""
    called = set()
    for name, function in index.functions.items():
        if route_decorated(function, index):
            called.add(name)
    for name, uses in sites.items():
        if any(site.call is None and _framework_use(site.via, index) for site in uses):
            called.add(name)
    # A generator shaped as a session dependency (``get_db``) is FastAPI's to call even
    # before VF200 hands it to a handler with ``Depends`` in the same run.
    called |= {
        name
        for module in index.modules
        for name in module.yield_dependencies
        if name in index.functions
    }
    return called


def _framework_use(via: str, index: ProjectIndex) -> bool:
    """True when a function passed to ``via`` is called by FastAPI or Starlette, which
    await it if it is async: ``Depends``, ``app.add_api_route``, ``BackgroundTasks``."""
    owner, method = split_last(via)
    return injected_use(via, index) or (method == "add_task" and owner in BACKGROUND_TASKS)


def injected_use(via: str, index: ProjectIndex) -> bool:
    """True when FastAPI calls a function passed to ``via`` with its own parameters
    solved as dependencies: ``Depends(f)``, ``app.add_api_route(path, f)``,
    ``app.dependency_overrides[f] = g`` (a background task gets only the arguments it
    was queued with)."""
    owner, method = split_last(via)
    return (
        via in DEPENDS
        or via == OVERRIDES
        or (method in ROUTE_REGISTRATIONS and owner in index.applications)
    )


def route_decorated(function: FunctionFact, index: ProjectIndex) -> bool:
    for decorator in function.decorators:
        owner, _, method = decorator.rpartition(".")
        if owner in index.applications and (
            method in ROUTE_METHODS or method in FRAMEWORK_DECORATORS
        ):
            return True
    return False


def _allowed_decorators(function: FunctionFact, index: ProjectIndex, test: bool) -> bool:
    """A function may become async only under decorators that accept coroutine
    functions: FastAPI's own, and pytest's marks on a test."""
    if test:
        return all(decorator.startswith("pytest.mark.") for decorator in function.decorators)
    return not function.decorators or (
        route_decorated(function, index)
        and all(
            decorator.rpartition(".")[0] in index.applications for decorator in function.decorators
        )
    )
