"""The parts the codemods of the calls family play in its plan, and their codes.

The analysis of which functions become async names codemods in what it decides and
reports ("VF102 runs it in a thread when it is selected"), including codemods that are
not selected. It learns their codes from their classes: a codemod of the family says its
``role`` (and what names its rewrite writes into a function), and the plan reads the
roles of every codemod the command line knows (``PlanContext.known``), not only of those
selected.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, runtime_checkable

from vibefix.config import Config
from vibefix.engine.context import NeededName


class Role(enum.Enum):
    TWIN = "rewrites a blocking call to its async twin"
    HTTP = "rewrites requests' calls to an async client, or says why it leaves one"
    OFFLOAD = "runs blocking calls in a thread"
    ENDPOINTS = "makes route handlers and dependencies async"
    PROPAGATION = "makes the functions they call async, and awaits them"


@runtime_checkable
class Cast(Protocol):
    """A codemod class of the calls family (``vibefix.calls.rewrite.AsyncCodemod``)."""

    code: ClassVar[str]
    role: ClassVar[Role | None]

    def needed_names(self, config: Config) -> tuple[NeededName, ...]: ...


@dataclass(frozen=True)
class Roles:
    """The code of the codemod playing each role (``""``: none is known)."""

    http: str = ""
    offload: str = ""
    endpoints: str = ""
    propagation: str = ""
    needs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """For each plain twin's code, the names its rewrite writes into a function
    (``asyncio``): a function where one means something else is held back."""
    family: frozenset[str] = frozenset()
    """Every code of the family: a run that selects one is about the event loop."""

    @classmethod
    def of(cls, codemods: Iterable[object], config: Config) -> Roles:
        cast = [codemod for codemod in codemods if isinstance(codemod, Cast) and codemod.role]
        by_role = {codemod.role: codemod.code for codemod in cast}
        return cls(
            http=by_role.get(Role.HTTP, ""),
            offload=by_role.get(Role.OFFLOAD, ""),
            endpoints=by_role.get(Role.ENDPOINTS, ""),
            propagation=by_role.get(Role.PROPAGATION, ""),
            needs={
                codemod.code: tuple(name.label for name in codemod.needed_names(config))
                for codemod in cast
                if codemod.role is Role.TWIN
            },
            family=frozenset(codemod.code for codemod in cast),
        )
