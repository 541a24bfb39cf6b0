"""Before/after assertions for codemods, in the style of django-upgrade's tests.

Comparison is exact (no whitespace normalising); the output must ``compile()`` (stricter
than a parse: ``await`` outside an async function fails); and the codemod, run again on its
own output, must change nothing more.
"""

from __future__ import annotations

from vibefix.codemod import Codemod
from vibefix.engine import run_source
from vibefix.results import FileResult, Status


def _run(codemod: type[Codemod], source: str) -> FileResult:
    result = run_source(source.encode("utf-8"), [codemod])
    assert result.status is not Status.FAILED, result.error
    return result


def assert_transforms(codemod: type[Codemod], before: str, after: str) -> None:
    result = _run(codemod, before)
    assert result.status is Status.CHANGED, f"{codemod.code} changed nothing"
    assert result.new_source is not None
    output = result.new_source.decode("utf-8")
    assert output == after
    compile(output, "<after>", "exec", dont_inherit=True)
    again = _run(codemod, output)
    assert again.status is Status.UNCHANGED, "a second run changed the output again"


def assert_unchanged(codemod: type[Codemod], source: str) -> None:
    result = _run(codemod, source)
    assert result.status is Status.UNCHANGED, result.new_source


def findings_for(codemod: type[Codemod], source: str) -> list[tuple[int, str]]:
    result = _run(codemod, source)
    return [(finding.position.line, finding.message) for finding in result.findings]
