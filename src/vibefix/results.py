"""What a run produces: edits, findings and one result per file.

Every value here is small, frozen and picklable: results travel from worker processes
back to the main process, and the report is a pure function of them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vibefix.engine.plan import Plan


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
class EditRecord:
    """One rewrite made in a file: which rule, why, and which original lines it covers."""

    code: str
    reason: str
    start: Position
    end_line: int
    import_only: bool = False


@dataclass(frozen=True)
class Finding:
    """Something wrong that vibefix reports but does not (or may not) rewrite."""

    path: Path
    position: Position
    code: str
    message: str


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


@dataclass
class RunResult:
    """Everything a run found, files sorted by path so that output is deterministic."""

    files: list[FileResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    plan: Plan | None = None
    """The run's plan, for rewriting a file again with fewer edits."""

    def by_status(self, status: Status) -> list[FileResult]:
        return [result for result in self.files if result.status is status]

    @property
    def changed(self) -> list[FileResult]:
        return self.by_status(Status.CHANGED)

    @property
    def failed(self) -> list[FileResult]:
        return self.by_status(Status.FAILED)

    def exit_code(self) -> ExitCode:
        """3 when a file failed (it wins), 1 when changes or findings are pending, else 0."""
        if self.failed:
            return ExitCode.FAILED
        if self.changed or self.findings:
            return ExitCode.PENDING
        return ExitCode.OK
