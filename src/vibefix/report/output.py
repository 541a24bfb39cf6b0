"""A run's report in the format asked for: text, JSON or SARIF."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from vibefix.codemod import Codemod
from vibefix.report.documents import json_report, sarif_report
from vibefix.report.text import text_report
from vibefix.results import ExitCode, RunResult


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
