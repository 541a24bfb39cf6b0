"""The plan stage: every cross-file decision, as a pure function of the index and config.

No file is read here. The transformers of the next stage consult the plan instead of
looking at other files, so they stay small and can run in any order, in any process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vibefix.calls.plan import AsyncPlan, analyse
from vibefix.codemod import Codemod
from vibefix.config import Config
from vibefix.engine.index import ProjectIndex
from vibefix.http import mapping as httpmap
from vibefix.known.blocking import table_for
from vibefix.results import Safety


@dataclass(frozen=True)
class Plan:
    parts: Mapping[str, object] = field(default_factory=dict)
    """Each codemod's own decisions, by code."""
    asyncs: AsyncPlan = field(default_factory=AsyncPlan)
    """Which functions become async, which calls are awaited or offloaded (VF100-VF104)."""
    first_party: frozenset[str] = frozenset()
    """The top-level packages of the project's modules (imports are placed by it)."""
    applied: frozenset[str] = frozenset()
    """The codes whose rewrites are made (REVIEW ones need ``--unsafe``)."""

    def part(self, code: str) -> object:
        return self.parts.get(code)

    @property
    def wanted_names(self) -> frozenset[str]:
        """Names whose every mention in the project must be read before deciding: the
        async plan's, and those a codemod's part asks for (``wanted_names``)."""
        names = set(self.asyncs.wanted_names)
        for part in self.parts.values():
            more = getattr(part, "wanted_names", None)
            if isinstance(more, frozenset):
                names |= more
        return frozenset(names)

    @property
    def wanted_modules(self) -> frozenset[str]:
        """Names whose defining module must be read before deciding, as a codemod's part
        asks (``wanted_modules``): the engine indexes the longest prefix of each that is
        a module of the project."""
        names: set[str] = set()
        for part in self.parts.values():
            more = getattr(part, "wanted_modules", None)
            if isinstance(more, frozenset):
                names |= more
        return frozenset(names)

    @property
    def touched(self) -> frozenset[Path]:
        """The files the plan's cross-file decisions change: the async ones, and those of
        a codemod's part that says (``touched``, as VF203's does)."""
        files = set(self.asyncs.touched)
        for part in self.parts.values():
            more = getattr(part, "touched", None)
            if isinstance(more, frozenset):
                files |= more
        return frozenset(files)

    @property
    def route_handlers(self) -> frozenset[str]:
        """The functions FastAPI calls: route handlers, dependencies (and the tests pytest
        runs as async tests)."""
        return self.asyncs.handlers

    @property
    def callers(self) -> Mapping[str, frozenset[str]]:
        """For each project function, the project functions that call it."""
        return self.asyncs.callers


def build_plan(
    index: ProjectIndex,
    config: Config,
    codemods: Sequence[type[Codemod]],
    writable: frozenset[Path] | None = None,
    unsafe: bool = False,
) -> Plan:
    """The plan; ``writable`` limits the files whose code may change (all by default).

    The async decisions count only the codemods whose rewrites are applied (REVIEW ones
    need ``unsafe``); what a REVIEW codemod would add is reported instead."""
    selected = {codemod.code for codemod in codemods}
    applied = {c.code for c in codemods if c.safety is Safety.SAFE or unsafe}
    parts = {codemod.code: codemod.plan_part(index, config) for codemod in codemods}
    table = table_for(config.options)

    def asyncs_for(parts: dict[str, object]) -> AsyncPlan:
        rules = tuple(
            rule
            for codemod in codemods
            if codemod.code in applied
            and (rule := codemod.blocking_rule(parts[codemod.code])) is not None
        )
        return analyse(
            index,
            table.with_rules(rules),
            selected,
            (lambda path: True) if writable is None else writable.__contains__,
            applied,
            httpmap.backend_problem(config.options, config.root, config.target_version),
        )

    asyncs = asyncs_for(parts)
    settled = {
        codemod.code: codemod.settle(
            parts[codemod.code],
            asyncs,
            index,
            (lambda path: True) if writable is None else writable.__contains__,
        )
        for codemod in codemods
        if codemod.code in applied
    }
    if any(settled[code] is not parts[code] for code in settled):
        parts.update(settled)
        asyncs = asyncs_for(parts)
    return Plan(
        parts=parts,
        asyncs=asyncs,
        first_party=frozenset(module.module.split(".")[0] for module in index.modules),
        applied=frozenset(applied),
    )
