"""What a run produces: edits, findings and one result per file.

Every value here is small, frozen and picklable: results travel from worker processes
back to the main process, and the report is a pure function of them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path


class ExitCode(enum.IntEnum):
    """The process exit codes, as documented in the README."""

    OK = 0
    PENDING = 1
    USAGE = 2
    FAILED = 3


class Status(enum.Enum):
    """How a file ended, as in LibCST's codemod runner."""

    CHANGED = "changed"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    FAILED = "failed"


class Safety(enum.Enum):
    """Whether a codemod's rewrites keep behaviour (SAFE) or need a human look (REVIEW)."""

    SAFE = "safe"
    REVIEW = "review"


class Blocking(enum.Enum):
    """A kind of blocking call ``vibefix verify`` sees on an event loop at run time, the
    most specific first; the codemod whose ``verifies`` it is fixes it."""

    SLEEP = "sleep"
    HTTP = "http"
    DATABASE = "database"
    OTHER = "other"


@dataclass(frozen=True, order=True)
class Position:
    """A 1-based line and column, as editors and terminals expect."""

    line: int
    column: int


@dataclass(frozen=True)
class Step:
    """One function on the way from async code to a blocking call: where it is, and the
    line of the call it makes on that way."""

    path: Path
    line: int
    function: str
    """Its name within its module (``UserService.load``)."""
    column: int = 1


@dataclass(frozen=True)
class BlockingCall:
    """A blocking call that async code reaches, and how: what a finding or an edit about
    it says of it (``"blocking"`` in JSON, a ``codeFlow`` in SARIF)."""

    call: str
    """The qualified name of what is called (``requests.get``,
    ``sqlalchemy.orm.Session().query().first``)."""
    kind: str
    """``http``, ``sleep``, ``file``, ``db``, ``subprocess``, ``cpu`` or ``other``."""
    chain: tuple[Step, ...]
    """From the ``async def`` (at its call on the way) down to the blocking call, whose
    step is the last."""

    def via(self) -> str:
        """``get_user() -> UserService.profile() -> load()``: the functions on the way,
        when there is more than the async one."""
        if len(self.chain) < 2:
            return ""
        return " -> ".join(f"{step.function}()" for step in self.chain)


@dataclass(frozen=True)
class EditRecord:
    """One rewrite made in a file: which rule, why, and which original lines it covers."""

    code: str
    reason: str
    start: Position
    end_line: int
    import_only: bool = False
    blocking: BlockingCall | None = None
    """The blocking call the rewrite takes off the event loop, when it is about one."""


@dataclass(frozen=True)
class Finding:
    """Something wrong that vibefix reports but does not (or may not) rewrite."""

    path: Path
    position: Position
    code: str
    message: str
    blocking: BlockingCall | None = None
    """The blocking call it is about, when it is about one."""


@dataclass(frozen=True)
class FileResult:
    """The outcome for one file. ``new_source`` is set only when the status is CHANGED."""

    path: Path
    status: Status
    old_source: bytes = b""
    new_source: bytes | None = None
    encoding: str = "utf-8"
    edits: tuple[EditRecord, ...] = ()
    findings: tuple[Finding, ...] = ()
    error: Finding | None = None
    reason: str = ""

    @property
    def codes(self) -> tuple[str, ...]:
        """The distinct rule codes of this file's edits, sorted."""
        return tuple(sorted({edit.code for edit in self.edits}))
