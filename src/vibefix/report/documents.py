"""A run's results as one JSON or SARIF document on stdout."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vibefix import __version__
from vibefix.codemod import Codemod
from vibefix.engine.run import RunResult
from vibefix.report.diffing import unified_diff
from vibefix.report.text import blocking_left, dead_code, display
from vibefix.results import BlockingCall, EditRecord, Finding, Status


def _finding_json(finding: Finding) -> dict[str, Any]:
    document: dict[str, Any] = {
        "path": display(finding.path),
        "line": finding.position.line,
        "column": finding.position.column,
        "code": finding.code,
        "message": finding.message,
    }
    if finding.blocking is not None:
        document["blocking"] = _blocking_json(finding.blocking)
    return document


def _blocking_json(blocking: BlockingCall) -> dict[str, Any]:
    """What a finding or an edit about a blocking call says of it: what is called, what
    kind of work it blocks on, and the way from the async function down to it."""
    return {
        "call": blocking.call,
        "kind": blocking.kind,
        "chain": [
            {
                "path": display(step.path),
                "line": step.line,
                "column": step.column,
                "function": step.function,
            }
            for step in blocking.chain
        ],
    }


def _edit_json(edit: EditRecord) -> dict[str, Any]:
    document: dict[str, Any] = {
        "code": edit.code,
        "line": edit.start.line,
        "column": edit.start.column,
        "end_line": edit.end_line,
        "reason": edit.reason,
        "import": edit.import_only,
    }
    if edit.blocking is not None:
        document["blocking"] = _blocking_json(edit.blocking)
    return document


def json_report(
    run: RunResult, command: str, exit_code: int, tests: dict[str, int] | None = None
) -> str:
    files = []
    for result in run.files:
        if result.status is Status.SKIPPED:
            continue
        entry: dict[str, Any] = {
            "path": display(result.path),
            "status": result.status.value,
            "codes": list(result.codes),
            "edits": [_edit_json(edit) for edit in result.edits],
            "diff": unified_diff(result, display(result.path)) or None,
            "error": _finding_json(result.error) if result.error else None,
        }
        files.append(entry)
    document = {
        "tool": "vibefix",
        "version": __version__,
        "command": command,
        "exit_code": exit_code,
        "files": files,
        "findings": [_finding_json(finding) for finding in run.findings],
        "dead_code": [{"path": display(path), "reason": why} for path, why in dead_code(run)],
        "summary": {
            **{status.value: len(run.by_status(status)) for status in Status},
            "blocking_left": blocking_left(run),
        },
    }
    if tests is not None:
        document["tests"] = tests
    return json.dumps(document, indent=2) + "\n"


def _uri(path: Path) -> str:
    """A SARIF artifact URI: relative and percent-encoded below the working folder."""
    shown = display(path)
    return Path(shown).absolute().as_uri() if Path(shown).is_absolute() else quote(shown)


def _location(path: Path, line: int, column: int, message: str = "") -> dict[str, Any]:
    location: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": _uri(path)},
            "region": {"startLine": line, "startColumn": column},
        }
    }
    if message:
        location["message"] = {"text": message}
    return location


def _code_flow(blocking: BlockingCall) -> dict[str, Any]:
    """The way from the async function down to the blocking call, as a SARIF code flow:
    one thread, a location per function on the way."""
    last = len(blocking.chain) - 1
    return {
        "threadFlows": [
            {
                "locations": [
                    {
                        "location": _location(
                            step.path,
                            step.line,
                            step.column,
                            f"`{blocking.call}` blocks ({blocking.kind})"
                            if number == last
                            else f"`{step.function}` calls on",
                        )
                    }
                    for number, step in enumerate(blocking.chain)
                ]
            }
        ]
    }


def sarif_report(run: RunResult, codemods: Sequence[type[Codemod[Any]]]) -> str:
    rules = [
        {
            "id": codemod.code,
            "name": codemod.name,
            "shortDescription": {"text": codemod.summary()},
            "fullDescription": {"text": codemod.documentation()},
            "properties": {"safety": codemod.safety.value},
        }
        for codemod in codemods
    ]
    results: list[dict[str, Any]] = []

    def add(
        path: Path,
        line: int,
        column: int,
        code: str,
        message: str,
        level: str,
        blocking: BlockingCall | None = None,
    ) -> None:
        result: dict[str, Any] = {
            "ruleId": code,
            "level": level,
            "message": {"text": message},
            "locations": [_location(path, line, column)],
        }
        if blocking is not None:
            result["codeFlows"] = [_code_flow(blocking)]
        results.append(result)

    for result in run.changed:
        for edit in result.edits:
            if not edit.import_only:
                add(
                    result.path,
                    edit.start.line,
                    edit.start.column,
                    edit.code,
                    edit.reason,
                    "warning",
                    edit.blocking,
                )
    for finding in run.findings:
        add(
            finding.path,
            finding.position.line,
            finding.position.column,
            finding.code,
            finding.message,
            "warning",
            finding.blocking,
        )
    for failed in run.failed:
        if failed.error is not None:
            error = failed.error
            add(
                error.path,
                error.position.line,
                error.position.column,
                error.code,
                error.message,
                "error",
            )
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "vibefix",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2) + "\n"
