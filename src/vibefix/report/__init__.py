"""What a run produced, shown to people and tools: text (diffs on stdout, findings and the
summary on stderr), JSON and SARIF documents, the interactive review of ``apply -i``, and
the apply flow itself (``apply_changes``: the checks, the review, the atomic write).

A report is a pure function of the run's results, but for the apply flow, which writes
them; it imports the engine, never a family of codemods: what it says of a codemod comes
from the codemod's class attributes, what it says of the plan from ``PlanPart``.
"""

from vibefix.report.apply import ApplyError, apply_changes
from vibefix.report.documents import json_report, sarif_report
from vibefix.report.output import OutputFormat, emit, emit_verified
from vibefix.report.text import (
    colour_diff,
    display,
    finding_line,
    summary,
    text_report,
    use_colour,
    verify_summary,
)

__all__ = [
    "ApplyError",
    "OutputFormat",
    "apply_changes",
    "colour_diff",
    "display",
    "emit",
    "emit_verified",
    "finding_line",
    "json_report",
    "sarif_report",
    "summary",
    "text_report",
    "use_colour",
    "verify_summary",
]
