"""What a run produced, shown to people and tools: text (diffs on stdout, findings and the
summary on stderr), JSON and SARIF documents, the interactive review of ``apply -i``.

A report is a pure function of the run's results; it imports the engine's result types,
never a family of codemods.
"""

from vibefix.report.documents import json_report, sarif_report
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
    "colour_diff",
    "display",
    "finding_line",
    "json_report",
    "sarif_report",
    "summary",
    "text_report",
    "use_colour",
    "verify_summary",
]
