"""A run's report in the format asked for: text, JSON or SARIF; ``verify``'s too."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from vibefix.codemod import Codemod
from vibefix.engine.run import RunResult
from vibefix.report.documents import json_report, sarif_report
from vibefix.report.text import finding_line, text_report, verify_summary
from vibefix.results import ExitCode, Finding


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    sarif = "sarif"


def emit(
    run: RunResult,
    command: str,
    output: OutputFormat,
    codemods: Sequence[type[Codemod[Any]]],
    exit_code: ExitCode,
    written: Sequence[Path] = (),
) -> None:
    """The report of ``command``'s run: a JSON or SARIF document on stdout, or the text
    report (diffs on stdout, findings and the summary on stderr); ``written`` are the
    files ``apply`` wrote."""
    if output is OutputFormat.json:
        sys.stdout.write(json_report(run, command, int(exit_code)))
    elif output is OutputFormat.sarif:
        sys.stdout.write(sarif_report(run, codemods))
    else:
        text_report(run, command, sys.stdout, sys.stderr, written)


def emit_verified(
    findings: Sequence[Finding],
    tests: dict[str, int],
    output: OutputFormat,
    codemods: Sequence[type[Codemod[Any]]],
) -> ExitCode:
    """The report of ``verify``: what blocked an event loop and how the tests went, as a
    JSON or SARIF document on stdout, or as text on stderr; and its exit code (pending
    when something blocked or a test failed)."""
    run = RunResult(findings=list(findings))
    failed = tests.get("failed", 0) + tests.get("errors", 0)
    exit_code = ExitCode.PENDING if findings or failed else ExitCode.OK
    if output is OutputFormat.json:
        sys.stdout.write(json_report(run, "verify", int(exit_code), tests=tests))
    elif output is OutputFormat.sarif:
        sys.stdout.write(sarif_report(run, codemods))
    else:
        for finding in findings:
            sys.stderr.write(finding_line(finding) + "\n")
        sys.stderr.write(verify_summary(findings, tests) + "\n")
    return exit_code
