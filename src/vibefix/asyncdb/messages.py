"""Obstacles the scan of a file finds whose text names the codemod: the facts hold the
kind (``Problem``), the plan writes the text with the code it is made for."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Flaw(enum.Enum):
    QUERY_AS_RESULT = (
        "the legacy query `{name}` is used as a result (iterated, handed on or returned):"
        " {code} rewrites only queries that a call like `.all()` runs"
    )
    HANDED_ON = "`{name}` is handed to something {code} cannot follow"
    SCOPED_SESSION = (
        "`scoped_session` hands out one session per thread: {code} has no async twin for"
        " it (use the request's session from a dependency)"
    )
    UNREAD_ARGUMENTS = "arguments {code} cannot read (`**`)"
    MOCKED_SESSION = (
        "a test mocks the sync session (`{name}`): after the move the code awaits the"
        " session's calls and runs 2.0 statements, which a sync mock and its stubbed query"
        " chain do not answer; mock `AsyncSession` (`AsyncMock(spec=AsyncSession)`) and"
        " the statements by hand, or test on the suite's database"
    )
    FACTORY_CALLED = (
        "a session factory called where it is made (`sessionmaker(...)()`): {code} follows"
        " a session made by a named factory; name it first (`Factory = sessionmaker(...)`,"
        " then `session = Factory()`)"
    )


@dataclass(frozen=True)
class Problem:
    flaw: Flaw
    name: str = ""
    """The name the text says (a variable)."""

    def text(self, code: str) -> str:
        return self.flaw.value.format(name=self.name, code=code)


Why = str | Problem
"""An obstacle's text, or a problem whose text the plan writes."""


def said(why: Why, code: str) -> str:
    """The text of ``why`` for the codemod ``code``."""
    return why.text(code) if isinstance(why, Problem) else why
