"""The codemod contract: one class per module, its docstring is its documentation.

A codemod is a metadata-aware libcst visitor over the original tree. It records edits with
``self.replace`` and findings with ``self.report``; it never mutates the tree. Its class
attributes say everything else about it: ``code``, ``safety``, ``triggers`` (the text
a file must contain for the codemod to care about it). Its name is its module's name.
Optionally it names a ``collector``, a visitor that gathers facts of one file for the
project index, and turns the merged index into its part of the plan (``plan_part``).

Every file is walked once per stage, whatever the number of codemods: the collectors of
the selected codemods (each class once, however many codemods share it) walk it together
while it is indexed, and the codemods together while it is rewritten.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, TypeVar, cast

import libcst as cst
from libcst.metadata import PositionProvider, ProviderT

from vibefix.config import Config
from vibefix.engine.context import Collector, FileContext, NeededName
from vibefix.engine.edits import Edit
from vibefix.engine.plan import Plan, PlanContext, PlanPart
from vibefix.results import Blocking, BlockingCall, EditRecord, Finding, Position, Safety

__all__ = ["Codemod", "Collector", "FileContext", "NeededName", "PlanContext", "PlanPart"]


PartT = TypeVar("PartT", bound=PlanPart, covariant=True)


class Codemod(cst.CSTVisitor, Generic[PartT]):
    """Base class of every codemod. Subclasses set ``code`` and ``triggers``; one that
    makes a part of the plan names its type: ``class SessionDependency(Codemod[SessionPlan])``,
    and reads it, typed, as ``self.part``."""

    code: ClassVar[str]
    safety: ClassVar[Safety] = Safety.SAFE
    triggers: ClassVar[tuple[str, ...]] = ()
    """Regular expressions over the raw file (a plain word is one) that must all match for
    the codemod to look at it; a file no codemod wants is never parsed. Make them as narrow
    as the rewrite's real precondition: resolving a file's metadata costs about fifteen
    parses."""
    seeds: ClassVar[tuple[str, ...] | None] = None
    """Where the codemod's analysis starts, when that is narrower than what it concerns:
    regular expressions (all must match) for the files to index first, in the paths given
    and, read-only, in the rest of the project. A file its ``triggers`` match and its
    seeds do not waits: it is indexed only once the plan asks for it (by name or module)
    and rewritten only if the plan touches it; else it is reported unchanged. (VF300-VF304
    start from route handlers, not from every file that says ``BaseModel``.) None: the
    triggers are the seeds."""
    project_trigger: ClassVar[str | None] = None
    """A regular expression that some file of the project must match for the codemod's
    ``collector`` to run at all (``FileContext.in_project`` says whether one does)."""
    follows_plan: ClassVar[bool] = False
    """True for codemods that carry out the plan's cross-file decisions: they visit every
    file that is parsed, whatever their triggers (which then only add candidates)."""
    collectors: ClassVar[tuple[type[Collector[Any]], ...]] = ()
    """The visitors that gather the facts this codemod's plan reads for the index, run on
    every file the codemod concerns (on none while its ``project_trigger`` matches no
    file of the project). Codemods of one family share theirs: each runs once a file."""
    collector: ClassVar[type[Collector[Any]] | None] = None
    """One collector: ``collector = X`` adds ``X`` to the ``collectors`` it inherits."""
    uses: ClassVar[tuple[type[PlanPart], ...]] = ()
    """The family parts of the plan its rewrites read (``AsyncPlan``: which functions
    become async): the engine makes them even when no part asks for them."""
    verifies: ClassVar[Blocking | None] = None
    """The kind of blocking call seen at run time that this codemod fixes: ``vibefix
    verify`` reports such a call with its code and ``verify_hint`` (one codemod a kind,
    the first in the registry's order)."""
    verify_hint: ClassVar[str] = ""
    """What to do about such a call, in a few words, after the finding's message."""
    linked: ClassVar[bool] = False
    """True when its rewrites carry out changes that span files (``PlanPart.together``:
    a function made async and its awaits elsewhere): ``apply --interactive`` makes them
    with those changes, after one question, never hunk by hunk, and suggests ignoring it
    to whoever declines."""
    name: ClassVar[str]
    METADATA_DEPENDENCIES: ClassVar[tuple[ProviderT, ...]] = (PositionProvider,)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = cls.__module__.rpartition(".")[2].replace("_", "-")
        own = cls.__dict__.get("collector")
        if own is not None and own not in cls.collectors:
            cls.collectors = (*cls.collectors, own)

    def __init__(self, file: FileContext, plan: Plan) -> None:
        super().__init__()
        self.file = file
        self.plan = plan

    # -- documentation -----------------------------------------------------------------

    @classmethod
    def documentation(cls) -> str:
        """The class docstring, dedented: summary line, then Why, Example, Safety..."""
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        """The first line of the documentation, as shown by ``vibefix list``."""
        return cls.documentation().partition("\n")[0].strip()

    # -- index and plan hooks ----------------------------------------------------------

    @classmethod
    def needed_names(cls, config: Config) -> tuple[NeededName, ...]:
        """The names its rewrites write into functions: the index records, per function,
        those that mean something else there; none by default."""
        return ()

    @classmethod
    def plan_part(cls, context: PlanContext) -> PartT | None:
        """This codemod's cross-file decisions, from the merged index and the other
        parts (``context.part(SomePart)``); None by default."""
        return None

    @classmethod
    def settle(cls, part: PartT | None, context: PlanContext) -> PartT | None:
        """This codemod's part once the others are known (``context.part``, for the
        family parts made from the unsettled ones): ``part`` itself, or a new one (a
        migration withdrawn). The family parts are made again from the settled parts."""
        return part

    @property
    def part(self) -> PartT | None:
        """This codemod's own part of the plan."""
        return cast("PartT | None", self.plan.parts.get(self.code))

    # -- recording ---------------------------------------------------------------------

    def position(self, node: cst.CSTNode) -> Position:
        where = self.get_metadata(PositionProvider, node)
        return Position(where.start.line, where.start.column + 1)

    def replace(
        self,
        node: cst.CSTNode,
        change: Callable[[Any], Any],
        reason: str,
        *,
        needs: Sequence[str] = (),
        drops: Sequence[cst.CSTNode] = (),
        blocking: BlockingCall | None = None,
    ) -> None:
        """Record that ``node`` becomes ``change(updated_node)``, for ``reason``.

        ``needs`` names the modules the new code uses (imported if missing, see
        ``self.file.imports.module_alias``); ``drops`` the name references that vanish
        with the old code (their import goes once nothing else uses it); ``blocking`` the
        blocking call the rewrite takes off the event loop.
        """
        where = self.get_metadata(PositionProvider, node)
        start = Position(where.start.line, where.start.column + 1)
        record = EditRecord(self.code, reason, start, where.end.line, blocking=blocking)
        self.file.edits.append(Edit(node, change, record, tuple(needs), tuple(drops)))

    def report(self, node: cst.CSTNode, message: str) -> None:
        """Record a finding at ``node``: something wrong that is not rewritten."""
        self.file.findings.append(Finding(self.file.path, self.position(node), self.code, message))
