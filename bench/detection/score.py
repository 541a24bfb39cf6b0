"""Score blocking-call detectors against hand-made labels of real FastAPI apps.

What is measured
----------------
``apps.toml`` lists public FastAPI applications (repository and exact commit) and
``labels/<app>.toml`` the blocking calls that their async code reaches, found by reading
the code (see README.md). For each tool and app this script runs the tool as a
subprocess on the app's checkout (``--apps DIR``: one folder per app, named as in
apps.toml), reads the locations it reports for a blocking-related rule and scores them:

- a label is *found* when a report is on its line (``line``..``end_line``), on one of its
  ``sites`` (the lines in async functions from which it is reached), or, for a report that
  carries a ``blocking.chain``, when the chain's last step is on the label's line;
- a report that finds no label is a *false positive*, unless it is on an ``[[unsure]]``
  line or its chain ends on one (counted neither way, as a chain's end finds a label) or
  under an ``[[ignore]]`` path (dead code, tests, scripts);
  a false positive on a ``[[not_blocking]]`` line is also counted as a *trap*.

False positives and traps are counted as distinct (path, line) locations. Two more
counts: the labels found *at the call's own line* (a report on the call, or a chain ending
there, rather than only at an async call site), and the false positives with *no
blocking claim* (no record at that location says that something blocks: VF203's notes,
the imports and parameters a rewrite adds). "all peers" is the union of ruff,
flake8-async and fastapi-therapist.

Tools
-----
- ``vibefix``: ``vibefix check --select ALL --output-format json --no-cache`` (the
  ``vibefix`` next to this interpreter). A finding or edit counts when it has a
  ``"blocking"`` key; while no record of the run has one, findings and (non-import) edits
  with a code of VF100-VF104 or VF203 count.
- ``ruff``: ``ruff check --select ASYNC --output-format json --no-cache --isolated``;
  rules ASYNC2xx (blocking calls) count.
- ``flake8-async``: ``flake8 --select ASYNC`` from the venv ``.peers/flake8-async``;
  rules ASYNC2xx count.
- ``fastapi-therapist``: ``fastapi-therapist --json --no-vulture --no-ruff`` from the venv
  ``.peers/fastapi-therapist`` (Python 3.12); rules FASTT001 (blocking I/O), FASTT002
  (sync DB session), FASTT005 (open) and FASTT006 (subprocess) count.

The peers' venvs are made on first use (or with ``--install-peers``) under
``bench/detection/.peers/`` (gitignored), with the versions pinned below.

Usage::

    .venv/bin/python bench/detection/score.py --apps /tmp/detection-apps
    .venv/bin/python bench/detection/score.py --apps /tmp/detection-apps --tools vibefix --verbose
    .venv/bin/python bench/detection/score.py --apps /tmp/detection-apps --markdown
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
PEERS = HERE / ".peers"
KINDS = ("http", "sleep", "file", "db", "subprocess", "cpu", "other")
TOOLS = ("vibefix", "ruff", "flake8-async", "fastapi-therapist")
PEER_TOOLS = ("ruff", "flake8-async", "fastapi-therapist")
ALL_PEERS = "all peers"
FLAKE8_ASYNC_VERSION = "26.8.1"
THERAPIST_VERSION = "0.4.0"
VIBEFIX_CODES = frozenset({"VF100", "VF101", "VF102", "VF103", "VF104", "VF203"})
THERAPIST_RULES = frozenset({"FASTT001", "FASTT002", "FASTT005", "FASTT006"})
TOOL_TIMEOUT = 900

Location = tuple[str, int]


# --- the data -------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    path: str
    line: int
    function: str


@dataclass(frozen=True)
class Label:
    app: str
    path: str
    line: int
    end_line: int
    call: str
    kind: str
    chain: tuple[Step, ...]
    sites: frozenset[Location]
    note: str = ""

    @property
    def where(self) -> str:
        span = f"{self.line}" if self.end_line == self.line else f"{self.line}-{self.end_line}"
        return f"{self.path}:{span}"

    def covers(self, path: str, line: int) -> bool:
        return path == self.path and self.line <= line <= self.end_line


@dataclass(frozen=True)
class Spot:
    """A line where a report is a false positive (``not_blocking``) or not judged
    (``unsure``)."""

    path: str
    line: int
    why: str


@dataclass
class AppLabels:
    app: str
    blocking: list[Label] = field(default_factory=list)
    not_blocking: list[Spot] = field(default_factory=list)
    unsure: list[Spot] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)

    def ignored(self, path: str) -> bool:
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.ignore)


@dataclass(frozen=True)
class App:
    name: str
    repository: str
    commit: str
    python_files: int
    python_lines: int
    what: str
    run: str


class LabelError(ValueError):
    pass


def _int(entry: dict[str, Any], key: str, where: str) -> int:
    value = entry.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise LabelError(f"{where}: `{key}` must be a positive integer, got {value!r}")
    return value


def _str(entry: dict[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = entry.get(key, None if required else "")
    if not isinstance(value, str) or (required and not value):
        raise LabelError(f"{where}: `{key}` must be a non-empty string, got {value!r}")
    return value


def _location(entry: Any, where: str) -> Location:
    if not isinstance(entry, dict):
        raise LabelError(f"{where}: a site must be a table, got {entry!r}")
    return _str(entry, "path", where), _int(entry, "line", where)


def parse_labels(document: dict[str, Any], source: str) -> AppLabels:
    """The labels of one app, checked: every field present and of its type, kinds known,
    the chain ending at the blocking call."""
    app = _str(document, "app", source)
    labels = AppLabels(app)
    for i, entry in enumerate(document.get("blocking", [])):
        where = f"{source}: blocking #{i + 1}"
        path = _str(entry, "path", where)
        line = _int(entry, "line", where)
        end_line = entry.get("end_line", line)
        if not isinstance(end_line, int) or end_line < line:
            raise LabelError(f"{where}: `end_line` must be >= line, got {end_line!r}")
        kind = _str(entry, "kind", where)
        if kind not in KINDS:
            raise LabelError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
        raw_chain = entry.get("chain")
        if not isinstance(raw_chain, list) or not raw_chain:
            raise LabelError(f"{where}: `chain` must be a non-empty list")
        chain = tuple(
            Step(_str(s, "path", where), _int(s, "line", where), _str(s, "function", where))
            for s in raw_chain
        )
        last = chain[-1]
        if last.path != path or not line <= last.line <= end_line:
            raise LabelError(f"{where}: the chain's last step is not the blocking call")
        raw_sites = entry.get("sites")
        if not isinstance(raw_sites, list) or not raw_sites:
            raise LabelError(f"{where}: `sites` must be a non-empty list")
        sites = frozenset(_location(s, where) for s in raw_sites)
        labels.blocking.append(
            Label(
                app=app,
                path=path,
                line=line,
                end_line=end_line,
                call=_str(entry, "call", where),
                kind=kind,
                chain=chain,
                sites=sites,
                note=_str(entry, "note", where, required=False),
            )
        )
    for key, target in (("not_blocking", labels.not_blocking), ("unsure", labels.unsure)):
        for i, entry in enumerate(document.get(key, [])):
            where = f"{source}: {key} #{i + 1}"
            path, line = _location(entry, where)
            target.append(Spot(path, line, _str(entry, "why", where)))
    for i, entry in enumerate(document.get("ignore", [])):
        labels.ignore.append(_str(entry, "path", f"{source}: ignore #{i + 1}"))
    return labels


def load_labels(folder: Path = HERE / "labels") -> dict[str, AppLabels]:
    result: dict[str, AppLabels] = {}
    for path in sorted(folder.glob("*.toml")):
        labels = parse_labels(tomllib.loads(path.read_text(encoding="utf-8")), path.name)
        if labels.app != path.stem:
            raise LabelError(f"{path.name}: app {labels.app!r} is not the file's name")
        result[labels.app] = labels
    return result


def load_apps(path: Path = HERE / "apps.toml") -> list[App]:
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    apps = []
    for i, entry in enumerate(document.get("app", [])):
        where = f"{path.name}: app #{i + 1}"
        commit = _str(entry, "commit", where)
        if not re.fullmatch(r"[0-9a-f]{40}", commit):
            raise LabelError(f"{where}: commit must be 40 hex digits, got {commit!r}")
        apps.append(
            App(
                name=_str(entry, "name", where),
                repository=_str(entry, "repository", where),
                commit=commit,
                python_files=_int(entry, "python_files", where),
                python_lines=_int(entry, "python_lines", where),
                what=_str(entry, "what", where),
                run=_str(entry, "run", where),
            )
        )
    return apps


# --- the tools ------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    path: str
    line: int
    code: str
    message: str
    chain_end: Location | None = None
    # False for a record of a counted code whose message makes no claim that something
    # blocks (VF203's notes on relationships, aliases or engines): shown apart.
    claims_blocking: bool = True


@dataclass
class ToolRun:
    reports: list[Report]
    error: str = ""


def _relative(filename: str, root: Path) -> str:
    path = Path(filename)
    if not path.is_absolute():
        path = root / path
    try:
        return Path(os.path.abspath(path)).relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _run(command: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[str, str]:
    done = subprocess.run(
        list(command),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )
    return done.stdout, done.stderr


def _tool_bin(name: str) -> str:
    """``name`` next to this interpreter (the vibefix venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"no `{name}` next to {sys.executable} nor on PATH")
    return found


def vibefix_reports(
    document: dict[str, Any], root: Path, marks: bool | None = None
) -> list[Report]:
    """The blocking reports of a ``vibefix check --output-format json`` document;
    ``marks``: whether that vibefix marks its records about blocking calls (None: ask
    the one beside this interpreter)."""
    records: list[tuple[str, dict[str, Any]]] = []
    for entry in document.get("files", []):
        for edit in entry.get("edits", []):
            if not edit.get("import"):
                records.append((entry["path"], edit))
    records.extend((finding["path"], finding) for finding in document.get("findings", []))
    # A vibefix that says which records are about a blocking call (``"blocking"``) is
    # read by that alone; an older one by its codes.
    marks = _emits_blocking() if marks is None else marks
    has_blocking = marks or any("blocking" in record for _, record in records)
    reports = []
    for path, record in records:
        blocking = record.get("blocking")
        if has_blocking and not isinstance(blocking, dict):
            continue
        if not has_blocking and record.get("code") not in VIBEFIX_CODES:
            continue
        chain_end: Location | None = None
        if isinstance(blocking, dict) and blocking.get("chain"):
            last = blocking["chain"][-1]
            chain_end = (_relative(last["path"], root), int(last["line"]))
        message = str(record.get("message", record.get("reason", "")))
        reports.append(
            Report(
                path=_relative(path, root),
                line=int(record["line"]),
                code=str(record.get("code", "")),
                message=message,
                chain_end=chain_end,
                claims_blocking=isinstance(blocking, dict) or _claims_blocking(record),
            )
        )
    return reports


def _emits_blocking() -> bool:
    """Whether the vibefix beside this interpreter marks its records about blocking calls
    (``vibefix.results.BlockingCall``, issue 15)."""
    try:
        import vibefix.results
    except ImportError:
        return False
    return hasattr(vibefix.results, "BlockingCall")


def _claims_blocking(record: dict[str, Any]) -> bool:
    """A finding or edit whose text says that something blocks (an edit's companions, such
    as the imports or parameters a rewrite adds, do not)."""
    return "block" in str(record.get("reason", record.get("message", ""))).lower()


def run_vibefix(root: Path) -> ToolRun:
    with tempfile.TemporaryDirectory(prefix="vibefix-cache-") as cache:
        env = dict(os.environ, VIBEFIX_CACHE_DIR=cache, NO_COLOR="1")
        command = [_tool_bin("vibefix"), "check", "--select", "ALL", "--output-format", "json"]
        out, err = _run([*command, "--no-cache", "--jobs", "1", "."], root, env)
    try:
        document = json.loads(out)
    except json.JSONDecodeError:
        return ToolRun([], f"vibefix printed no JSON: {err.strip()[-500:]}")
    return ToolRun(vibefix_reports(document, root))


def ruff_reports(document: list[dict[str, Any]], root: Path) -> list[Report]:
    return [
        Report(
            path=_relative(item["filename"], root),
            line=int(item["location"]["row"]),
            code=str(item["code"]),
            message=str(item["message"]),
        )
        for item in document
        if str(item.get("code") or "").startswith("ASYNC2")
    ]


def run_ruff(root: Path) -> ToolRun:
    command = [_tool_bin("ruff"), "check", "--select", "ASYNC", "--output-format", "json"]
    out, err = _run([*command, "--no-cache", "--isolated", "."], root)
    try:
        document = json.loads(out)
    except json.JSONDecodeError:
        return ToolRun([], f"ruff printed no JSON: {err.strip()[-500:]}")
    return ToolRun(ruff_reports(document, root))


FLAKE8_LINE = re.compile(
    r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<code>ASYNC\d+) (?P<msg>.*)$"
)


def flake8_reports(text: str, root: Path) -> list[Report]:
    reports = []
    for line in text.splitlines():
        match = FLAKE8_LINE.match(line)
        if match and match["code"].startswith("ASYNC2"):
            path = _relative(match["path"], root)
            reports.append(Report(path, int(match["line"]), match["code"], match["msg"]))
    return reports


def run_flake8_async(root: Path) -> ToolRun:
    flake8 = ensure_flake8_async() / "bin" / "flake8"
    out, err = _run([str(flake8), "--select", "ASYNC", "."], root)
    if err.strip() and not out.strip():
        return ToolRun([], f"flake8 failed: {err.strip()[-500:]}")
    return ToolRun(flake8_reports(out, root))


def therapist_reports(document: dict[str, Any], root: Path) -> list[Report]:
    return [
        Report(
            path=_relative(item["filePath"], root),
            line=int(item["line"]),
            code=str(item["rule"]),
            message=str(item["message"]),
        )
        for item in document.get("diagnostics", [])
        if item.get("rule") in THERAPIST_RULES
    ]


def run_therapist(root: Path) -> ToolRun:
    therapist = ensure_therapist() / "bin" / "fastapi-therapist"
    out, err = _run([str(therapist), "--json", "--no-vulture", "--no-ruff", "."], root)
    try:
        document = json.loads(out)
    except json.JSONDecodeError:
        return ToolRun([], f"fastapi-therapist printed no JSON: {err.strip()[-500:]}")
    return ToolRun(therapist_reports(document, root))


RUNNERS = {
    "vibefix": run_vibefix,
    "ruff": run_ruff,
    "flake8-async": run_flake8_async,
    "fastapi-therapist": run_therapist,
}


# --- the peers' venvs -----------------------------------------------------------------


def _python312() -> str:
    for candidate in ("python3.12",):
        found = shutil.which(candidate)
        if found:
            return found
    pyenv = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python")))
    if pyenv:
        return pyenv[-1]
    raise FileNotFoundError("fastapi-therapist needs Python 3.12: none on PATH or in pyenv")


def _venv(name: str, python: str, packages: Iterable[str], probe: str) -> Path:
    venv = PEERS / name
    if (venv / "bin" / probe).exists():
        return venv
    print(f"making {venv} ({' '.join(packages)})", file=sys.stderr)
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *packages], check=True
    )
    return venv


def ensure_flake8_async() -> Path:
    packages = ("flake8", f"flake8-async=={FLAKE8_ASYNC_VERSION}")
    return _venv("flake8-async", sys.executable, packages, "flake8")


def ensure_therapist() -> Path:
    packages = (f"fastapi-therapist=={THERAPIST_VERSION}",)
    return _venv("fastapi-therapist", _python312(), packages, "fastapi-therapist")


def tool_version(tool: str) -> str:
    try:
        if tool == "vibefix":
            command = [_tool_bin("vibefix"), "--version"]
        elif tool == "ruff":
            command = [_tool_bin("ruff"), "--version"]
        elif tool == "flake8-async":
            command = [str(ensure_flake8_async() / "bin" / "flake8"), "--version"]
        else:
            command = [str(ensure_therapist() / "bin" / "fastapi-therapist"), "--version"]
        out, err = _run(command, HERE)
    except (OSError, subprocess.SubprocessError) as error:
        return f"unavailable ({error})"
    text = (out or err).strip()
    plugin = re.search(r"flake8-async: ([\w.]+)", text)
    if tool == "flake8-async" and plugin:
        return f"flake8-async {plugin[1]} (flake8 {text.split()[0]})"
    return text.splitlines()[0] if text else "?"


# --- scoring --------------------------------------------------------------------------


@dataclass
class Score:
    """One tool on one app (or on all of them)."""

    labels: int = 0
    found: set[tuple[str, int]] = field(default_factory=set)  # (app, label index)
    # Found by a report on the call's own line (or whose chain ends there), not only at
    # an async call site.
    at_line: set[tuple[str, int]] = field(default_factory=set)
    false_positives: dict[tuple[str, str, int], Report] = field(default_factory=dict)
    traps: set[tuple[str, str, int]] = field(default_factory=set)
    error: str = ""

    @property
    def unclaimed(self) -> int:
        """False positives none of whose reports claims that something blocks."""
        return sum(1 for r in self.false_positives.values() if not r.claims_blocking)

    def add(self, other: Score) -> None:
        self.labels += other.labels
        self.found |= other.found
        self.at_line |= other.at_line
        self.false_positives.update(other.false_positives)
        self.traps |= other.traps
        if other.error:
            self.error = "; ".join(filter(None, (self.error, other.error)))

    @property
    def recall(self) -> float:
        return len(self.found) / self.labels if self.labels else 0.0


def finds_at_line(label: Label, report: Report) -> bool:
    if label.covers(report.path, report.line):
        return True
    return report.chain_end is not None and label.covers(*report.chain_end)


def finds(label: Label, report: Report) -> bool:
    return finds_at_line(label, report) or (report.path, report.line) in label.sites


def score(labels: AppLabels, reports: Iterable[Report]) -> Score:
    result = Score(labels=len(labels.blocking))
    traps = {(s.path, s.line) for s in labels.not_blocking}
    unsure = {(s.path, s.line) for s in labels.unsure}
    for report in reports:
        hits = [i for i, label in enumerate(labels.blocking) if finds(label, report)]
        for i in hits:
            result.found.add((labels.app, i))
            if finds_at_line(labels.blocking[i], report):
                result.at_line.add((labels.app, i))
        if hits or labels.ignored(report.path):
            continue
        where = (report.path, report.line)
        if where in unsure or report.chain_end in unsure:
            continue
        key = (labels.app, report.path, report.line)
        if report.claims_blocking or key not in result.false_positives:
            result.false_positives[key] = report
        if where in traps:
            result.traps.add(key)
    return result


@dataclass
class Results:
    apps: list[str]
    labels: dict[str, AppLabels]
    by_tool: dict[str, dict[str, Score]]  # tool -> app -> score
    versions: dict[str, str]

    def total(self, tool: str) -> Score:
        total = Score()
        for app in self.apps:
            total.add(self.by_tool[tool][app])
        return total


def measure(
    apps_dir: Path, apps: list[str], labels: dict[str, AppLabels], tools: list[str]
) -> Results:
    by_tool: dict[str, dict[str, Score]] = {tool: {} for tool in tools}
    peer_reports: dict[str, list[Report]] = {app: [] for app in apps}
    for app in apps:
        root = (apps_dir / app).resolve()
        for tool in tools:
            print(f"  {tool:<18} {app}", file=sys.stderr)
            try:
                run = RUNNERS[tool](root)
            except (OSError, subprocess.SubprocessError) as error:
                run = ToolRun([], f"{type(error).__name__}: {error}")
            result = score(labels[app], run.reports)
            result.error = f"{app}: {run.error}" if run.error else ""
            by_tool[tool][app] = result
            if tool in PEER_TOOLS:
                peer_reports[app].extend(run.reports)
    if any(tool in PEER_TOOLS for tool in tools):
        by_tool[ALL_PEERS] = {app: score(labels[app], peer_reports[app]) for app in apps}
    versions = {tool: tool_version(tool) for tool in tools}
    return Results(apps, labels, by_tool, versions)


# --- output ---------------------------------------------------------------------------


def _pct(score: Score) -> str:
    return f"{100 * score.recall:.0f}%"


def kind_counts(results: Results) -> dict[str, int]:
    counts = dict.fromkeys(KINDS, 0)
    for app in results.apps:
        for label in results.labels[app].blocking:
            counts[label.kind] += 1
    return counts


def markdown(results: Results) -> str:
    tools = list(results.by_tool)
    lines = [
        "| tool | version | found / labels | recall | of them at the call's line "
        "| false positives | at traps | no blocking claim |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for tool in tools:
        total = results.total(tool)
        version = results.versions.get(tool, "union of the three peers")
        lines.append(
            f"| {tool} | {version} | {len(total.found)} / {total.labels} | **{_pct(total)}** "
            f"| {len(total.at_line)} | {len(total.false_positives)} | {len(total.traps)} "
            f"| {total.unclaimed} |"
        )
    lines += ["", "Found / labels (false positives) per app:", ""]
    lines.append("| app | labels | " + " | ".join(tools) + " |")
    lines.append("|---|---:|" + "---:|" * len(tools))
    for app in results.apps:
        cells = []
        for tool in tools:
            s = results.by_tool[tool][app]
            cells.append(f"{len(s.found)} ({len(s.false_positives)})")
        lines.append(f"| {app} | {len(results.labels[app].blocking)} | " + " | ".join(cells) + " |")
    lines += ["", "Recall per kind:", ""]
    counts = kind_counts(results)
    kinds = [k for k in KINDS if counts[k]]
    lines.append("| tool | " + " | ".join(f"{k} ({counts[k]})" for k in kinds) + " |")
    lines.append("|---|" + "---:|" * len(kinds))
    for tool in tools:
        total = results.total(tool)
        cells = []
        for kind in kinds:
            found = sum(1 for app, i in total.found if results.labels[app].blocking[i].kind == kind)
            cells.append(f"{found}")
        lines.append(f"| {tool} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def text(results: Results, verbose: bool) -> str:
    out = []
    width = max(len(app) for app in results.apps)
    tools = list(results.by_tool)
    out.append(f"{'app':<{width}}  labels  " + "  ".join(f"{t:>18}" for t in tools))
    for app in results.apps:
        cells = []
        for tool in tools:
            s = results.by_tool[tool][app]
            cells.append(f"{f'{len(s.found)} ({len(s.false_positives)} fp)':>18}")
        out.append(f"{app:<{width}}  {len(results.labels[app].blocking):>6}  " + "  ".join(cells))
    cells = []
    for tool in tools:
        total = results.total(tool)
        cells.append(f"{f'{_pct(total)} ({len(total.false_positives)} fp)':>18}")
    out.append(f"{'total':<{width}}  {results.total(tools[0]).labels:>6}  " + "  ".join(cells))
    out.append("")
    for tool in tools:
        total = results.total(tool)
        out.append(
            f"{tool}: {len(total.found)}/{total.labels} found ({_pct(total)}; "
            f"{len(total.at_line)} at the call's own line), "
            f"{len(total.false_positives)} false positives ({len(total.traps)} at traps, "
            f"{total.unclaimed} with no blocking claim)"
            + (f"  [{results.versions[tool]}]" if tool in results.versions else "")
        )
        if total.error:
            out.append(f"  errors: {total.error}")
    if verbose:
        for tool in tools:
            total = results.total(tool)
            out.append(f"\n== {tool}: false positives")
            for (app, path, line), report in sorted(total.false_positives.items()):
                trap = " [TRAP]" if (app, path, line) in total.traps else ""
                trap += "" if report.claims_blocking else " [no claim]"
                out.append(f"  {app}/{path}:{line}{trap} {report.code} {report.message[:160]}")
            out.append(f"== {tool}: misses")
            for app in results.apps:
                for i, label in enumerate(results.labels[app].blocking):
                    if (app, i) not in total.found:
                        via = " -> ".join(f"{s.function}@{s.path}:{s.line}" for s in label.chain)
                        out.append(f"  {app}/{label.where} [{label.kind}] {label.call}  via {via}")
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", type=Path, help="folder with one checkout per app")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated tools")
    parser.add_argument("--only", default="", help="comma-separated apps (default: all)")
    parser.add_argument("--markdown", action="store_true", help="print the README's tables")
    parser.add_argument("--verbose", action="store_true", help="list false positives and misses")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--install-peers", action="store_true", help="make the peers' venvs and exit"
    )
    parser.add_argument(
        "--clone-commands",
        action="store_true",
        help="print the git commands that bring each app to --apps at its commit, and exit",
    )
    args = parser.parse_args(argv)
    if args.clone_commands:
        where = args.apps or Path("/tmp/detection-apps")
        for app in load_apps():
            target = where / app.name
            clone = f"git clone -q {app.repository} {target}"
            print(f"{clone} && git -C {target} checkout -q {app.commit}")
        return 0
    if args.install_peers:
        ensure_flake8_async()
        ensure_therapist()
        return 0
    if args.apps is None:
        parser.error("--apps is required")
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [t for t in tools if t not in RUNNERS]
    if unknown:
        parser.error(f"unknown tools: {', '.join(unknown)} (known: {', '.join(TOOLS)})")
    labels = load_labels()
    names = [app.name for app in load_apps()]
    if args.only:
        names = [n for n in names if n in set(args.only.split(","))]
    missing = [n for n in names if not (args.apps / n).is_dir() or n not in labels]
    if missing:
        parser.error(f"no checkout or no labels for: {', '.join(missing)} (see README.md)")
    results = measure(args.apps, names, labels, tools)
    sys.stdout.write(markdown(results) if args.markdown else text(results, args.verbose))
    if args.json:
        document = {
            "versions": results.versions,
            "tools": {
                tool: {
                    app: {
                        "labels": s.labels,
                        "found": sorted(i for _, i in s.found),
                        "found_at_line": sorted(i for _, i in s.at_line),
                        "false_positives": [
                            {"path": p, "line": n, "code": r.code, "message": r.message}
                            for (_, p, n), r in sorted(s.false_positives.items())
                        ],
                        "traps": len(s.traps),
                        "error": s.error,
                    }
                    for app, s in per_app.items()
                }
                for tool, per_app in results.by_tool.items()
            },
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
