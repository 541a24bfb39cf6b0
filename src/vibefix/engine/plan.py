"""The plan stage: every cross-file decision, as a pure function of the index and config.

No file is read here: what the plan needs of the files that declare the project's
Python and dependencies, the engine reads beforehand (``PlanContext.declarations``). The
transformers of the next stage consult the plan instead of looking at other files, so
they stay small and can run in any order, in any process.

The plan is made of *parts*, each a small frozen value (a ``PlanPart``): one per selected
codemod (``Codemod.plan_part``), and one per *family part* that the codemods of a family
share and that no single codemod owns (which functions become async; which classes are
request models), made once from the index and the other parts (``PlanPart.make``) when a
codemod asks for it or names it in ``Codemod.uses``. A codemod may then *settle* its part
once the others are known (withdraw a migration a function that stays sync would break);
when one does, the family parts are made again from the settled parts. The engine reads
of every part only what ``PlanPart`` declares; everything else is between the codemods
and families that share a part's type. What a part says of its changes that span files
(``PlanPart.together``) is read by ``apply --interactive``, which asks about each once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar, cast

from vibefix.config import Config
from vibefix.engine.index import NodeKey, ProjectIndex
from vibefix.known.packaging import Declarations
from vibefix.results import Finding, Safety

P = TypeVar("P", bound="PlanPart")


@dataclass(frozen=True)
class Together:
    """Rewrites in several files that are made together or not at all (a function made
    async, and its awaits in other files): ``apply --interactive`` asks about them once,
    before any hunk."""

    what: str
    """What changes, in one line: ``3 functions become async, with their awaits``."""
    keys: frozenset[NodeKey]
    """The definitions and calls that change (the question counts their files)."""
    codes: tuple[str, ...]
    """The codes whose rewrites carry it out: a run that ignores them leaves it out."""
    within: frozenset[NodeKey] = frozenset()
    """Definitions whose every rewrite goes with it: a sleep left blocking in a function
    made async would make it worse than before."""


class PlanPart:
    """A part of the plan. Subclasses are frozen dataclasses; a field of the same name
    overrides each of these properties, which say what the engine reads of a part."""

    @property
    def touched(self) -> frozenset[Path]:
        """The files this part's decisions change or report something in: they are
        rewritten even when indexed only because the plan asked for them."""
        return frozenset()

    @property
    def wanted_names(self) -> frozenset[str]:
        """Names whose every mention in the project must be indexed before deciding."""
        return frozenset()

    @property
    def wanted_modules(self) -> frozenset[str]:
        """Qualified names whose defining module must be indexed before deciding (the
        longest prefix that is a module of the project)."""
        return frozenset()

    @property
    def neighbours(self) -> frozenset[str]:
        """Qualified names whose defining modules are indexed once, after the first round
        only: the neighbourhood of the files the run starts from (asked in every round,
        it would pull in the whole project, one call at a time)."""
        return frozenset()

    @property
    def dead(self) -> frozenset[Path]:
        """The dead modules (``PlanContext.dead``) this part left out of its analysis:
        the report names them."""
        return frozenset()

    @property
    def findings(self) -> tuple[Finding, ...]:
        """What the plan itself reports (a function that stays sync, and why), each in
        its file, besides what the codemods report while rewriting."""
        return ()

    def together(self, config: Config) -> tuple[Together, ...]:
        """This part's changes that span files and are made together or not at all;
        ``config`` is the run's (what they are said to become may depend on it)."""
        return ()

    @classmethod
    def make(cls: type[P], context: PlanContext) -> P | None:
        """A family part made from the index and the other parts; None for a codemod's
        own part, which its ``plan_part`` makes."""
        return None


class Planner(Protocol):
    """What the plan stage needs of a codemod class (``vibefix.codemod.Codemod``)."""

    @property
    def code(self) -> str: ...

    @property
    def safety(self) -> Safety: ...

    @property
    def uses(self) -> tuple[type[PlanPart], ...]: ...

    def plan_part(self, context: PlanContext) -> PlanPart | None: ...

    def settle(self, part: PlanPart | None, context: PlanContext) -> PlanPart | None: ...


class PlanContext:
    """What a part is made from: the index, the configuration, what the project declares,
    the selected codemods, and the other parts (``part``), made when first asked for."""

    def __init__(
        self,
        index: ProjectIndex,
        config: Config,
        codemods: Sequence[Planner],
        applied: frozenset[str],
        writable: Callable[[Path], bool],
        parts: Mapping[str, PlanPart | None] | None = None,
        known: Sequence[Planner] = (),
        declarations: Declarations | None = None,
        dead: frozenset[Path] = frozenset(),
    ) -> None:
        self.index = index
        self.dead = dead
        """The project's modules that nothing imports or runs (``engine.unused``): the
        event-loop analysis leaves them out."""
        self.config = config
        self.declarations = declarations or Declarations()
        """The Python the project runs on and the files that declare its dependencies,
        as the engine read them."""
        self.codemods = tuple(codemods)
        self.known = tuple(known) or self.codemods
        """Every codemod the command line knows, selected or not (the built-in ones and
        the plugins'): a family names one that is not selected by its class attributes."""
        self.selected = frozenset(codemod.code for codemod in codemods)
        self.applied = applied
        """The codes whose rewrites are made (REVIEW ones need ``--unsafe``)."""
        self.writable = writable
        """Whether a file may change (a file outside the paths given may not)."""
        self._parts: dict[str, PlanPart | None] = dict(parts or {})
        self._family: dict[type[PlanPart], PlanPart | None] = {}
        self._making: set[type[PlanPart]] = set()
        self._owning: set[str] = set()

    def own(self, codemod: Planner) -> PlanPart | None:
        """``codemod``'s own part, made on first use (None while it is being made: a
        part made from itself is none of the others)."""
        if codemod.code not in self._parts:
            if codemod.code in self._owning:
                return None
            self._owning.add(codemod.code)
            try:
                self._parts[codemod.code] = codemod.plan_part(self)
            finally:
                self._owning.discard(codemod.code)
        return self._parts[codemod.code]

    def supposing(self, code: str, part: PlanPart) -> PlanContext:
        """Another context, on the same project, in which codemod ``code``'s part is
        ``part`` and the family parts are made from it again: what the plan would be
        were that part another (the obstacles a move would also meet)."""
        for codemod in self.codemods:
            self.own(codemod)
        return PlanContext(
            self.index,
            self.config,
            self.codemods,
            self.applied,
            self.writable,
            {**self._parts, code: part},
            self.known,
            self.declarations,
            self.dead,
        )

    def part(self, kind: type[P]) -> P | None:
        """The part of type ``kind``: a selected codemod's, else the family part, made
        once; None when there is none."""
        for codemod in self.codemods:
            found = self.own(codemod)
            if isinstance(found, kind):
                return found
        if kind not in self._family:
            if kind in self._making:
                raise RuntimeError(f"{kind.__name__} is made from itself")
            self._making.add(kind)
            try:
                self._family[kind] = kind.make(self)
            finally:
                self._making.discard(kind)
        return cast("P | None", self._family[kind])

    def applied_part(self, kind: type[P]) -> P | None:
        """A selected codemod's part of type ``kind`` when that codemod's rewrites are
        made, else None."""
        for codemod in self.codemods:
            found = self.own(codemod)
            if isinstance(found, kind):
                return found if codemod.code in self.applied else None
        return None

    def applied_parts(self) -> Iterator[PlanPart]:
        """The parts of the codemods whose rewrites are made, in catalogue order."""
        for codemod in self.codemods:
            found = self.own(codemod)
            if codemod.code in self.applied and found is not None:
                yield found

    @property
    def family(self) -> Mapping[type[PlanPart], PlanPart | None]:
        return self._family


@dataclass(frozen=True)
class Plan:
    parts: Mapping[str, PlanPart | None] = field(default_factory=dict)
    """Each codemod's own decisions, by code."""
    family: Mapping[type[PlanPart], PlanPart | None] = field(default_factory=dict)
    """The family parts the codemods share, by type."""
    first_party: frozenset[str] = frozenset()
    """The top-level packages of the project's modules (imports are placed by it)."""
    applied: frozenset[str] = frozenset()
    """The codes whose rewrites are made (REVIEW ones need ``--unsafe``)."""
    imported_from: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """For each module the index read, the names other modules import from it: an
    import of such a name is kept when the code that used it is rewritten."""

    def _all(self) -> Iterator[PlanPart]:
        for part in (*self.parts.values(), *self.family.values()):
            if part is not None:
                yield part

    @property
    def dead(self) -> frozenset[Path]:
        """The dead modules a family part, as settled, left out of its analysis
        (``PlanPart.dead``)."""
        return frozenset(
            path for part in self.family.values() if part is not None for path in part.dead
        )

    def part(self, kind: type[P]) -> P | None:
        """The part of type ``kind`` (a codemod's, else a family's); None if none."""
        for part in self._all():
            if isinstance(part, kind):
                return part
        return None

    def applied_part(self, kind: type[P]) -> P | None:
        """A codemod's part of type ``kind`` when that codemod's rewrites are made."""
        for code, part in self.parts.items():
            if isinstance(part, kind):
                return part if code in self.applied else None
        return None

    @property
    def wanted_names(self) -> frozenset[str]:
        return frozenset(name for part in self._all() for name in part.wanted_names)

    @property
    def wanted_modules(self) -> frozenset[str]:
        return frozenset(name for part in self._all() for name in part.wanted_modules)

    @property
    def neighbours(self) -> frozenset[str]:
        return frozenset(name for part in self._all() for name in part.neighbours)

    @property
    def touched(self) -> frozenset[Path]:
        return frozenset(path for part in self._all() for path in part.touched)

    def findings_for(self, path: Path) -> tuple[Finding, ...]:
        return tuple(
            finding for part in self._all() for finding in part.findings if finding.path == path
        )

    def together(self, config: Config) -> tuple[Together, ...]:
        """Every part's changes that are made together or not at all, in part order."""
        return tuple(change for part in self._all() for change in part.together(config))


def build_plan(
    index: ProjectIndex,
    config: Config,
    codemods: Sequence[Planner],
    writable: frozenset[Path] | None = None,
    unsafe: bool = False,
    known: Sequence[Planner] = (),
    declarations: Declarations | None = None,
    dead: frozenset[Path] = frozenset(),
) -> Plan:
    """The plan; ``writable`` limits the files whose code may change (all by default);
    ``known``: every codemod there is (the selected ones by default); ``declarations``:
    what the project declares (nothing by default).

    Family parts count only the codemods whose rewrites are applied (REVIEW ones need
    ``unsafe``); what a REVIEW codemod would add is reported instead."""
    applied = frozenset(c.code for c in codemods if c.safety is Safety.SAFE or unsafe)
    may_change: Callable[[Path], bool] = (
        (lambda path: True) if writable is None else writable.__contains__
    )
    context = PlanContext(
        index,
        config,
        codemods,
        applied,
        may_change,
        known=known,
        declarations=declarations,
        dead=dead,
    )
    parts = {codemod.code: context.own(codemod) for codemod in codemods}
    _make_used(context, codemods)
    settled = {
        codemod.code: codemod.settle(parts[codemod.code], context)
        for codemod in codemods
        if codemod.code in applied
    }
    if any(settled[code] is not parts[code] for code in settled):
        parts.update(settled)
        made = tuple(context.family)
        context = PlanContext(
            index, config, codemods, applied, may_change, parts, known, declarations, dead
        )
        for kind in made:  # every family part again, from the settled parts
            context.part(kind)
    return Plan(
        parts=parts,
        family=dict(context.family),
        first_party=frozenset(module.module.split(".")[0] for module in index.modules),
        applied=applied,
        imported_from=_imported_from(index),
    )


def _make_used(context: PlanContext, codemods: Sequence[Planner]) -> None:
    """Make the family parts the codemods read while rewriting (``Codemod.uses``)."""
    for codemod in codemods:
        for kind in codemod.uses:
            context.part(kind)


def _imported_from(index: ProjectIndex) -> dict[str, frozenset[str]]:
    modules = {module.module for module in index.modules}
    found: dict[str, set[str]] = {}
    for alias, value in index.objects.items():
        if value is None:
            continue
        source, _, name = value.rpartition(".")
        if source in modules and source != alias.rpartition(".")[0]:
            found.setdefault(source, set()).add(name)
    return {module: frozenset(names) for module, names in found.items()}
