"""What the HTTP family tells the calls family's plan: which calls of requests' API VF101
leaves, and why (they then run in a thread, or block where no thread helps).

A family part (``HttpRules.make``), made whenever the calls family plans, VF101 selected
or not: a requests call VF101 does not rewrite is still a blocking call to offload.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from vibefix.engine.index import CallFact, FunctionFact, NodeKey, node_key
from vibefix.engine.plan import PlanContext, PlanPart
from vibefix.http import mapping as httpmap
from vibefix.http.facts import HttpCollector, HttpFact


@dataclass(frozen=True)
class HttpRules(PlanPart):
    problem: str = ""
    """Why VF101 can rewrite no call at all (its backend does not run on the target)."""
    calls: Mapping[NodeKey, HttpFact] = field(default_factory=dict)
    taken: Mapping[Path, tuple[str, ...]] = field(default_factory=dict)
    """The modules that define a name VF101's code needs as something else."""
    collector: ClassVar[type[HttpCollector]] = HttpCollector
    """What the codemods that read this part collect, for ``make`` to read."""

    @classmethod
    def make(cls, context: PlanContext) -> HttpRules:
        config = context.config
        facts = context.index.facts(HttpCollector)
        calls = {
            (path, *span): fact
            for path, found in facts.items()
            for span, fact in found.calls.items()
        }
        return cls(
            httpmap.backend_problem(config.options, context.declarations.target),
            calls,
            {path: found.taken for path, found in facts.items() if found.taken},
        )

    def fact(self, function: FunctionFact, call: CallFact) -> HttpFact | None:
        return self.calls.get(node_key(function.path, call))

    def hold(
        self,
        function: FunctionFact,
        call: CallFact,
        http: str,
        selected: Collection[str],
        exposed: Callable[[], Collection[str]],
    ) -> str:
        """Why ``http`` (the code of the rewrite of requests' calls) leaves ``call``, which
        then runs in a thread instead; ``""`` when it rewrites it. ``exposed``: the
        functions whose exceptions reach code that names requests' own."""
        if http not in selected:
            return f"{http} is not selected"
        fact = self.fact(function, call)
        if fact is None:
            return (
                f"{http} rewrites requests' functions and the sessions a function makes and"
                " closes, not a session kept elsewhere (on `self`, in a module) yet"
            )
        if self.problem or fact.obstacle:
            return httpmap.said(self.problem or fact.obstacle, http)
        if not call.awaitable:
            return "it sits in a lambda or a generator expression, where `await` is not allowed"
        taken = set(httpmap.NAMED_MODULES) & set(function.shadowed)
        if taken:
            return f"the name `{sorted(taken)[0].split('.')[0]}` means something else here"
        own = self.taken.get(function.path)
        if own:
            return f"the module defines its own `{own[0]}`, a name {http}'s code needs"
        if function.qualname in exposed() and any(
            (other_fact := self.fact(function, other)) is not None
            and other_fact.escapes
            and not other_fact.obstacle
            for other in function.calls
        ):
            return (
                "no `except` here catches all its errors, and its callers would get httpx's"
                " exceptions instead of requests' ones"
            )
        return ""

    def streaming(self, function: FunctionFact, call: CallFact) -> bool:
        """Whether ``call`` streams its response, read later on the event loop."""
        fact = self.fact(function, call)
        return fact is not None and fact.streaming

    @staticmethod
    def names_exception(targets: Collection[str]) -> bool:
        """Whether a reference to ``targets`` names one of requests' exceptions."""
        return httpmap.exception_name(targets) is not None
