"""Before/after assertions for codemods, in the style of django-upgrade's tests.

Comparison is exact (no whitespace normalising); the output must ``compile()`` (stricter
than a parse: ``await`` outside an async function fails); and the codemods, run again on
their own output, must change nothing more.

A codemod that carries out the plan's cross-file decisions works with the codemods before
it in ``ALL`` (VF103 makes a handler async because VF100 rewrites its sleep): ``upto``
names that selection.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vibefix.codemods import ALL

from vibefix.codemod import Codemod
from vibefix.config import Config
from vibefix.engine.run import run_source
from vibefix.results import FileResult, Status

Selection = type[Codemod[Any]] | Sequence[type[Codemod[Any]]]


def upto(codemod: type[Codemod[Any]]) -> tuple[type[Codemod[Any]], ...]:
    """``codemod`` and every codemod before it in ``ALL``."""
    return ALL[: ALL.index(codemod) + 1]


TARGET = (3, 11)
"""The Python the cases are written for: VF101's httpx2 backend needs 3.11, whatever
Python runs the tests (vibefix's own ``requires-python`` would say 3.10)."""

HTTPX2 = {"requests-to-httpx": {"backend": "httpx2"}}
"""Most VF101 cases are written in httpx's API (httpx2), which reads closest to requests;
the default backend, aiohttp, has its own cases (``AIOHTTP``, ``config_with()``)."""


def default_config() -> Config:
    return Config(root=Path.cwd(), options=dict(HTTPX2), target_version=TARGET)


def _run(codemods: Selection, source: str, config: Config | None = None) -> FileResult:
    selection = [codemods] if isinstance(codemods, type) else list(codemods)
    config = config or default_config()
    # REVIEW codemods' rewrites are what is tested: made as with --unsafe.
    result = run_source(source.encode("utf-8"), selection, config=config, unsafe=True, known=ALL)
    assert result.status is not Status.FAILED, result.error
    return result


def assert_transforms(
    codemods: Selection, before: str, after: str, config: Config | None = None
) -> None:
    result = _run(codemods, before, config)
    assert result.status is Status.CHANGED, "nothing changed"
    assert result.new_source is not None
    output = result.new_source.decode("utf-8")
    assert output == after
    compile(output, "<after>", "exec", dont_inherit=True)
    again = _run(codemods, output, config)
    assert again.status is Status.UNCHANGED, "a second run changed the output again"


def assert_unchanged(codemods: Selection, source: str, config: Config | None = None) -> None:
    result = _run(codemods, source, config)
    assert result.status is Status.UNCHANGED, result.new_source


def findings_for(
    codemods: Selection, source: str, config: Config | None = None
) -> list[tuple[int, str]]:
    result = _run(codemods, source, config)
    return [(finding.position.line, finding.message) for finding in result.findings]


def config_with(**options: object) -> Config:
    """A configuration with ``[tool.vibefix.<name>]`` tables (VF101's backend httpx2 unless
    given, as in ``default_config()``)."""
    return Config(root=Path.cwd(), options={**HTTPX2, **options}, target_version=TARGET)
