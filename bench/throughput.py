"""Throughput and peak memory of vibefix against a bare libcst round trip.

What is measured
----------------
The corpus is the installed sources of fastapi, starlette, pydantic, sqlalchemy and httpx
(about 480 files and 340k lines), or with ``--corpus PATH`` any folder (a real app). Its
``.py`` files are copied into a fresh temporary folder so that no ``.gitignore``, venv or
configuration rule of the caller's tree changes what is walked, and nothing is written
into the caller's tree. Each round runs, as subprocesses and alternating (ABBA order:
the series in one order, then in the reverse order, to cancel drift):

1. ``default``: ``vibefix diff --jobs N CORPUS``, the default recipe.
2. ``all``: ``vibefix diff --jobs N --select ALL CORPUS``, every codemod.
3. ``warm``: ``vibefix check --jobs N --select ALL CORPUS`` on a cache that one unmeasured
   run of the same command filled before the first round (the corpus does not change).
4. The baseline: this script with ``--baseline-worker CORPUS``, which walks the corpus and,
   in a ``multiprocessing`` pool of N spawned workers fed in chunks, reads every ``.py``
   file, parses it with ``libcst.parse_module`` and generates the code back (``.code``).

vibefix's stdout goes to ``/dev/null``; exit codes 0 and 1 are success. ``--series``
chooses among 1-3 (the baseline always runs).

The cache (``.vibefix_cache/`` at the project root, ``--no-cache`` to bypass it,
``VIBEFIX_CACHE_DIR`` to move it) is detected by looking for ``--no-cache`` in ``vibefix
check --help``. Series 1 and 2 must be cold: every run of them gets ``--no-cache`` when
vibefix has it, and always ``VIBEFIX_CACHE_DIR`` pointing at a fresh empty folder that is
deleted afterwards. Series 3 runs with ``VIBEFIX_CACHE_DIR`` at one folder kept for the
whole run. Without a cache, series 3 is a second cold run, and the script says so.

All sides pay interpreter start-up, imports and worker spawning alike. For each the
script reports the min and median wall time, the CPU time (user + sys of all waited-for
descendants) and the peak of the summed RSS of the process and all its descendants,
sampled every 20 ms from ``/proc``, and each series' ratios to the baseline of the same
run.

Why
---
vibefix prefilters: it reads every file but parses only those that contain a trigger word,
and parses each of them once, whatever the number of codemods. Most files of a real repo
contain no trigger, so a whole run must cost at most one bare parse + codegen of the
corpus. The targets (median over median, wall time):

- ``default`` <= 1.0 x the baseline;
- ``all`` <= 1.0 x the baseline, and a peak RSS below 400 MB;
- ``warm`` <= 0.1 x the baseline: a re-run on an unchanged tree must not parse again.

The library corpus is large, but it is no upper bound: an application has more of the
trigger words, and on a small one fixed costs weigh more against the baseline.
``--corpus`` gives the figure for a real app (``throughput-results.md`` has both).

Peers (``--peers``)
-------------------
The same corpus, the same rounds, two more pairs:

5. ``vibefix diff --select VF100`` against ``python -m libcst.tool codemod -x
   peer_async_sleep.AsyncSleepCommand -u 0 -j N --no-format``: one codemod, the same
   rewrite (``time.sleep`` in ``async def`` to ``await asyncio.sleep``), written as a
   plain libcst command (``peer_async_sleep.py`` beside this script). Both print diffs.
6. ``vibefix check --select VF1`` (the async rules, detection and planning of rewrites)
   against ``ruff check --select ASYNC --no-cache --isolated`` (detection alone, in Rust).

vibefix runs cold there too. The ratios are vibefix's time over the peer's (min/min and
median/median).

``--smoke`` uses httpx alone (unless ``--corpus`` is given) and one round, with every
series, for CI to keep this script working.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

PACKAGES = ("fastapi", "starlette", "pydantic", "sqlalchemy", "httpx")
SMOKE_PACKAGES = ("httpx",)
SAMPLE_INTERVAL = 0.020
"""Seconds between two RSS samples."""
PEAK_TARGET_MB = 400.0
SERIES = ("default", "all", "warm")
"""The vibefix series, in the order they are run in even rounds and reported."""
RATIO_TARGETS = {"default": 1.0, "all": 1.0, "warm": 0.1}
"""Each series' highest acceptable wall-time ratio to the baseline (median/median)."""
PEAK_TARGETS: dict[str, float] = {"all": PEAK_TARGET_MB}
"""Each series' peak RSS (MB) that must not be reached."""
OK_EXIT_CODES = (0, 1)
"""``vibefix diff`` and ``check``: 0 nothing to do, 1 changes or findings; 3 a parse failure."""
CACHE_ENV = "VIBEFIX_CACHE_DIR"
SKIPPED_FOLDERS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        "build",
        "dist",
        "node_modules",
        "site-packages",
        ".eggs",
        ".vibefix_cache",
    }
)
"""Folders ``--corpus`` does not copy: those vibefix's discovery skips (plus its cache),
so that the baseline parses the files vibefix walks. Folders holding a ``pyvenv.cfg``
(virtual environments) are skipped too."""
PROJECT_FILES = frozenset({"pyproject.toml", "setup.cfg", "requirements.txt"})
"""Files ``--corpus`` copies besides ``.py`` files: they mark the project's root (as
``setup.py`` does) and hold its ``[tool.vibefix]`` configuration."""


class BenchError(Exception):
    """A failed step; the message is printed and the script exits 2."""


# --------------------------------------------------------------------------- baseline worker


def _roundtrip_chunk(paths: list[str]) -> tuple[int, int, int]:
    """Read, parse and regenerate each file; return (files, failures, bytes)."""
    import libcst  # imported here so that the parent stays standard-library only

    failures = 0
    size = 0
    for path in paths:
        data = Path(path).read_bytes()
        size += len(data)
        try:
            libcst.parse_module(data).code  # noqa: B018  (codegen is the point)
        except Exception:  # a ParserSyntaxError, or a decoding error
            failures += 1
    return len(paths), failures, size


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def baseline_worker(root: Path, jobs: int) -> int:
    """Round-trip every ``.py`` file under ``root`` with ``jobs`` spawned processes."""
    import multiprocessing

    paths = sorted(str(path) for path in root.rglob("*.py") if path.is_file())
    chunk_size = max(1, len(paths) // (jobs * 8))
    files = failures = size = 0
    context = multiprocessing.get_context("spawn")
    with context.Pool(jobs) as pool:
        for done, failed, read in pool.imap_unordered(_roundtrip_chunk, _chunks(paths, chunk_size)):
            files += done
            failures += failed
            size += read
    print(json.dumps({"files": files, "failures": failures, "bytes": size}))
    return 0


# --------------------------------------------------------------------------- corpus


@dataclass
class Corpus:
    root: Path
    name: str
    """What was copied: the packages' names, or the folder given to ``--corpus``."""
    packages: tuple[str, ...] = ()
    source: Path | None = None
    files: int = 0
    lines: int = 0
    size: int = 0
    """Bytes."""
    configured: bool = False
    """A copied ``pyproject.toml`` has a ``[tool.vibefix]`` table."""

    def add(self, data: bytes, copy: Path) -> None:
        """Write ``data`` (a ``.py`` file) at ``copy`` and count it."""
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(data)
        self.files += 1
        self.size += len(data)
        self.lines += count_lines(data)


def count_lines(data: bytes) -> int:
    """Lines as an editor shows them: a last line without its newline counts."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def build_corpus(packages: Sequence[str], destination: Path) -> Corpus:
    """Copy the ``.py`` files of the installed ``packages`` under ``destination``."""
    corpus = Corpus(destination, ", ".join(packages), tuple(packages))
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise BenchError(f"package {name!r} is not installed (or is not a package)")
        for index, location in enumerate(spec.submodule_search_locations):
            source = Path(location)
            target = destination / (name if index == 0 else f"{name}.{index}")
            for path in sorted(source.rglob("*.py")):
                if "__pycache__" in path.parts or not path.is_file():
                    continue
                corpus.add(path.read_bytes(), target / path.relative_to(source))
    return corpus


def copy_folder(source: Path, destination: Path) -> Corpus:
    """Copy the ``.py`` and project files of ``source`` under ``destination``.

    Skips the folders vibefix skips (``SKIPPED_FOLDERS``, virtual environments) and does
    not follow symbolic links to folders, as vibefix does not.
    """
    if not source.is_dir():
        raise BenchError(f"--corpus {source}: not a folder")
    source = source.resolve()
    corpus = Corpus(destination, str(source), source=source)
    destination.mkdir(parents=True, exist_ok=True)
    scratch = destination.resolve().parent  # not copied into itself when under ``source``
    for folder, folders, names in os.walk(source):
        here = Path(folder)
        folders[:] = sorted(
            name
            for name in folders
            if name not in SKIPPED_FOLDERS
            and not (here / name / "pyvenv.cfg").is_file()
            and here / name != scratch
        )
        for name in sorted(names):
            path = here / name
            if not path.is_file():
                continue
            copy = destination / path.relative_to(source)
            if name.endswith(".py"):
                corpus.add(path.read_bytes(), copy)
            elif name in PROJECT_FILES:
                data = path.read_bytes()
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_bytes(data)
                if name == "pyproject.toml" and b"[tool.vibefix" in data:
                    corpus.configured = True
    if not corpus.files:
        raise BenchError(f"--corpus {source}: no .py file found")
    return corpus


# --------------------------------------------------------------------------- memory sampling


def _parent_map() -> dict[int, list[int]]:
    """Children of every process, from the ppid field of ``/proc/*/stat``."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                text = stat.read()
        except OSError:  # the process has just exited
            continue
        # "pid (comm) state ppid ..."; comm may itself contain spaces and parentheses.
        fields = text[text.rfind(b")") + 2 :].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _children_files(pid: int) -> list[int] | None:
    """Children from ``/proc/<pid>/task/*/children``; None when the kernel lacks them."""
    result: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return result
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as handle:
                result.extend(int(child) for child in handle.read().split())
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}/task/{task}"):
                continue  # the thread has exited
            return None  # CONFIG_PROC_CHILDREN is off
        except OSError:
            continue
    return result


def descendants(root: int) -> list[int]:
    """``root`` and all its descendants that are alive right now."""
    found = [root]
    pending = [root]
    parent_map: dict[int, list[int]] | None = None
    while pending:
        pid = pending.pop()
        children = None if parent_map is not None else _children_files(pid)
        if children is None:
            if parent_map is None:
                parent_map = _parent_map()
            children = parent_map.get(pid, [])
        found.extend(children)
        pending.extend(children)
    return found


def rss_kb(pid: int) -> int:
    """VmRSS of ``pid`` in kB; 0 for a process that has exited or is a zombie."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class PeakSampler:
    """Samples the summed RSS of a process tree every ``SAMPLE_INTERVAL`` in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            total = sum(rss_kb(pid) for pid in descendants(self.pid))
            self.peak_kb = max(self.peak_kb, total)
            self.samples += 1
            if self._stop.wait(SAMPLE_INTERVAL):
                return


# --------------------------------------------------------------------------- measuring


@dataclass
class Run:
    wall: float
    cpu: float
    peak_mb: float | None
    returncode: int
    stdout: bytes
    stderr: bytes


def measure(
    command: Sequence[str], *, capture_stdout: bool, env: dict[str, str] | None = None
) -> Run:
    """Run ``command`` once; wall time, CPU of waited descendants, peak summed RSS."""
    have_proc = os.path.isdir("/proc/self")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out if capture_stdout else subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
        peak: float | None = None
        if have_proc:
            with PeakSampler(process.pid) as sampler:
                process.wait()
                wall = time.perf_counter() - start
            peak = sampler.peak_kb / 1024
        else:
            process.wait()
            wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0)
        err.seek(0)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return Run(wall, cpu, peak, process.returncode, out.read(), err.read())


@dataclass
class Series:
    label: str
    command: list[str]
    cache: str = "none"
    """``cold``: a fresh empty cache folder per run; ``warm``: the run's kept cache
    folder; ``none``: not vibefix, the environment is left alone."""
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    peaks_mb: list[float] = field(default_factory=list)
    returncodes: list[int] = field(default_factory=list)

    def add(self, run: Run) -> None:
        self.walls.append(run.wall)
        self.cpus.append(run.cpu)
        if run.peak_mb is not None:
            self.peaks_mb.append(run.peak_mb)
        self.returncodes.append(run.returncode)

    @property
    def min(self) -> float:
        return min(self.walls)

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpus)

    @property
    def peak_mb(self) -> float | None:
        return max(self.peaks_mb) if self.peaks_mb else None

    def summary(self) -> dict[str, object]:
        return {
            **asdict(self),
            "min": self.min,
            "median": self.median,
            "cpu_median": self.cpu_median,
            "peak_mb": self.peak_mb,
        }


class Caches:
    """Where vibefix's cache goes: ``VIBEFIX_CACHE_DIR`` per run, under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.warm = root / "warm"
        self.warm.mkdir(parents=True)

    @contextlib.contextmanager
    def env(self, series: Series, base: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
        """The environment of one run of ``series``; a cold run's folder goes afterwards."""
        env = dict(os.environ if base is None else base)
        if series.cache == "warm":
            yield {**env, CACHE_ENV: str(self.warm)}
        elif series.cache == "cold":
            folder = tempfile.mkdtemp(prefix="cold-", dir=self.root)
            try:
                yield {**env, CACHE_ENV: folder}
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        else:
            yield env


def _tail(data: bytes, lines: int = 20) -> str:
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


HELP_ENV = {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


def _help(base: list[str], command: str) -> bytes:
    """The output of ``vibefix COMMAND --help``; BenchError when it cannot be had."""
    try:
        run = subprocess.run(
            [*base, command, "--help"],
            capture_output=True,
            env={**os.environ, **HELP_ENV},
            check=False,
        )
    except OSError as error:
        raise BenchError(f"cannot run {shlex.join(base)}: {error}") from None
    if run.returncode != 0:
        raise BenchError(
            f"`{shlex.join([*base, command, '--help'])}` exited {run.returncode}:\n"
            + _tail(run.stdout + run.stderr)
        )
    return run.stdout


@dataclass
class Vibefix:
    """The vibefix command measured, and what it supports."""

    base: list[str]
    version: str
    cache: bool
    """``vibefix check --help`` lists ``--no-cache``."""

    def cold(self) -> list[str]:
        """The options that keep a run off the cache."""
        return ["--no-cache"] if self.cache else []

    def command(self, key: str, jobs: int, corpus: Path) -> Series:
        """The series ``key`` (one of ``SERIES``) on ``corpus``."""
        head = [*self.base]
        if key == "default":
            return Series(
                "default: vibefix diff",
                [*head, "diff", "--jobs", str(jobs), *self.cold(), str(corpus)],
                "cold",
            )
        if key == "all":
            command = [*head, "diff", "--jobs", str(jobs), "--select", "ALL", *self.cold()]
            return Series("all: vibefix diff --select ALL", [*command, str(corpus)], "cold")
        command = [*head, "check", "--jobs", str(jobs), "--select", "ALL", str(corpus)]
        return Series("warm: vibefix check --select ALL, re-run", command, "warm")


def probe_vibefix(base: list[str], scratch: Path, caches: Caches, keys: Sequence[str]) -> Vibefix:
    """Check that ``base`` runs, whether it has a cache, and that it takes ``--select ALL``."""
    diff_help = _help(base, "diff")
    cache = b"--no-cache" in _help(base, "check")
    version_run = subprocess.run([*base, "--version"], capture_output=True, check=False)
    version = version_run.stdout.decode("utf-8", "replace").strip() or "unknown"
    vibefix = Vibefix(base, version, cache)
    if not {"all", "warm"} & set(keys):
        return vibefix
    if b"--select" not in diff_help:
        raise BenchError("`vibefix diff` has no --select; measure it with --series default")
    # On a one-file tree: a usage error (exit 2) means ALL is not a selection.
    probe = scratch / "probe"
    probe.mkdir()
    (probe / "probe.py").write_text("import os\n")
    command = [*base, "diff", "--select", "ALL", *vibefix.cold(), str(probe)]
    with caches.env(Series("probe", command, "cold")) as env:
        accepted = subprocess.run(command, capture_output=True, env=env, check=False)
    if accepted.returncode not in OK_EXIT_CODES:
        raise BenchError(
            f"`--select ALL` refused (exit {accepted.returncode}); measure this vibefix "
            f"with --series default:\n{_tail(accepted.stderr, 5)}"
        )
    return vibefix


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _git(*args: str) -> str | None:
    try:
        run = subprocess.run(
            ["git", *args],
            capture_output=True,
            cwd=Path(__file__).resolve().parent,
            check=False,
        )
    except OSError:
        return None
    return run.stdout.decode().strip() if run.returncode == 0 else None


def checkout() -> dict[str, object]:
    """The commit of the checkout this script is in (the vibefix measured, unless
    ``--vibefix`` names another one), and whether its tracked files have changes."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def machine() -> dict[str, object]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_start": _loadavg(),
    }


def _loadavg() -> list[float] | None:
    """The 1, 5 and 15-minute load averages: other work on the machine skews the times."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def target_text(key: str) -> str:
    text = f"<= {RATIO_TARGETS[key]:.1f}"
    if key in PEAK_TARGETS:
        text += f", peak < {PEAK_TARGETS[key]:.0f} MB"
    return text


def judge(key: str, series: Series, baseline: Series) -> dict[str, object]:
    """A series' ratios to the baseline and whether it meets its targets."""
    ratio = {
        "min": _ratio(series.min, baseline.min),
        "median": _ratio(series.median, baseline.median),
        "cpu_median": _ratio(series.cpu_median, baseline.cpu_median),
        "peak_rss": _ratio(series.peak_mb, baseline.peak_mb),
    }
    median = ratio["median"]
    met = median is not None and median <= RATIO_TARGETS[key]
    peak_target = PEAK_TARGETS.get(key)
    if peak_target is not None:
        met = met and series.peak_mb is not None and series.peak_mb < peak_target
    return {
        **series.summary(),
        "ratio": ratio,
        "target": {"ratio_median": RATIO_TARGETS[key], "peak_mb": peak_target},
        "met": met,
    }


def report(
    corpus: Corpus, measured: dict[str, Series], baseline: Series, jobs: int
) -> dict[str, dict[str, object]]:
    """Print the table; return each series' figures, ratios and verdict."""
    rounds = len(baseline.walls)
    judged = {key: judge(key, series, baseline) for key, series in measured.items()}
    print()
    print(f"corpus: {corpus.name}: {corpus.files} files, {corpus.lines:,} lines of Python")
    print()
    columns = "min (s) | median (s) | CPU median (s) | peak RSS (MB)"
    ratios = "ratio min | ratio median | ratio CPU | ratio peak"
    print(f"| {rounds} round(s), --jobs {jobs} | {columns} | {ratios} | target (ratio median) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for key, series in [*measured.items(), ("baseline", baseline)]:
        cells = [
            f"{series.min:.2f}",
            f"{series.median:.2f}",
            f"{series.cpu_median:.2f}",
            _fmt(series.peak_mb, 0),
        ]
        if key == "baseline":
            cells += ["", "", "", "", ""]
        else:
            ratio = judged[key]["ratio"]
            assert isinstance(ratio, dict)
            cells += [_fmt(ratio[name]) for name in ("min", "median", "cpu_median", "peak_rss")]
            verdict = "met" if judged[key]["met"] else "**missed**"
            cells.append(f"{target_text(key)}: {verdict}")
        print(f"| {series.label} | {' | '.join(cells)} |")
    return judged


def run_series(
    series: Series,
    caches: Caches,
    *,
    capture_stdout: bool = False,
    env: dict[str, str] | None = None,
) -> Run:
    with caches.env(series, env) as run_env:
        return measure(series.command, capture_stdout=capture_stdout, env=run_env)


def warm_up(
    series: Series, caches: Caches, vibefix: Vibefix, notes: list[str]
) -> dict[str, object]:
    """Fill the warm series' cache with one unmeasured run; return that run's figures."""
    run = run_series(series, caches)
    check(False, run, None)
    print(
        f"warm-up (not counted) {series.label}: {run.wall:.2f} s, "
        f"peak {_fmt(run.peak_mb, 0)} MB, exit {run.returncode}",
        flush=True,
    )
    if not vibefix.cache:
        notes.append(
            "`vibefix check --help` lists no --no-cache: this vibefix has no cache, so the "
            "warm series is one more cold run (`check --select ALL`)."
        )
    elif not any(caches.warm.iterdir()):
        notes.append(
            f"the warm-up wrote nothing in {CACHE_ENV}={caches.warm}: the warm series may "
            "not have read a cache."
        )
    return {"wall": run.wall, "cpu": run.cpu, "peak_mb": run.peak_mb}


def bench(args: argparse.Namespace) -> int:
    repeat = 1 if args.smoke else args.repeat
    jobs: int = args.jobs
    keys: tuple[str, ...] = args.series
    base = shlex.split(args.vibefix) if args.vibefix else [str(default_vibefix())]
    scratch = Path(tempfile.mkdtemp(prefix="vibefix-bench-"))
    notes: list[str] = []
    try:
        if args.corpus:
            corpus = copy_folder(Path(args.corpus), scratch / "corpus")
        else:
            packages = SMOKE_PACKAGES if args.smoke else PACKAGES
            corpus = build_corpus(packages, scratch / "corpus")
        print(
            f"corpus: {corpus.name}: {corpus.files} files, {corpus.lines:,} lines, "
            f"{corpus.size / 1e6:.1f} MB, copied to {corpus.root}"
        )
        if corpus.configured:
            notes.append(
                "the corpus's pyproject.toml has a [tool.vibefix] table: its include, "
                "exclude and select apply to vibefix, not to the baseline."
            )
        caches = Caches(scratch / "caches")
        vibefix = probe_vibefix(base, scratch, caches, keys)
        where = checkout()
        host = machine()
        print(
            f"vibefix: {vibefix.version} ({shlex.join(base)}), checkout {where['commit']}"
            f"{' (with uncommitted changes)' if where['dirty'] else ''}; "
            f"cache: {'yes' if vibefix.cache else 'no (no --no-cache in check --help)'}"
        )
        print(
            f"machine: {host['cpu']} x {host['cpu_count']}, Python {host['python']}, "
            f"load average {host['loadavg_start']}"
        )
        measured = {key: vibefix.command(key, jobs, corpus.root) for key in keys}
        baseline_command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--baseline-worker",
            str(corpus.root),
            "--jobs",
            str(jobs),
        ]
        baseline = Series("baseline: libcst parse + codegen", baseline_command)
        for series in [*measured.values(), baseline]:
            print(f"{series.label}: {shlex.join(series.command)}")
        warmup = warm_up(measured["warm"], caches, vibefix, notes) if "warm" in measured else None
        everyone = [*measured.values(), baseline]
        for index in range(repeat):
            for series in everyone if index % 2 == 0 else everyone[::-1]:
                run = run_series(series, caches, capture_stdout=series is baseline)
                check(series is baseline, run, corpus)
                series.add(run)
                print(
                    f"round {index + 1}/{repeat} {series.label}: {run.wall:.2f} s, "
                    f"peak {_fmt(run.peak_mb, 0)} MB, exit {run.returncode}",
                    flush=True,
                )
                if index == 0 and series is not baseline and run.stderr.strip():
                    print(f"  stderr (last lines):\n{_tail(run.stderr, 3)}")
        judged = report(corpus, measured, baseline, jobs)
        host["loadavg_end"] = _loadavg()
        print(
            f"load average at the start {host['loadavg_start']}, at the end {host['loadavg_end']}"
        )
        if warmup is not None:
            judged["warm"]["warmup"] = warmup
        for note in notes:
            print(f"note: {note}")
        figures: dict[str, object] = {
            "corpus": {
                "name": corpus.name,
                "packages": list(corpus.packages),
                "path": str(corpus.source) if corpus.source else None,
                "files": corpus.files,
                "lines": corpus.lines,
                "bytes": corpus.size,
            },
            "jobs": jobs,
            "rounds": repeat,
            "vibefix": {
                "command": base,
                "version": vibefix.version,
                "cache": vibefix.cache,
                "checkout": where,
            },
            "machine": host,
            "python": host["python"],
            "cpu_count": host["cpu_count"],
            "series": judged,
            "baseline": baseline.summary(),
            "targets": {
                key: {"ratio_median": RATIO_TARGETS[key], "peak_mb": PEAK_TARGETS.get(key)}
                for key in SERIES
            },
            "notes": notes,
        }
        if args.peers:
            figures["peers"] = peers(vibefix, jobs, corpus, repeat, caches)
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


def peers(
    vibefix: Vibefix, jobs: int, corpus: Corpus, repeat: int, caches: Caches
) -> dict[str, object]:
    """vibefix against the peers that do part of its job, on the same corpus."""
    here = Path(__file__).resolve().parent
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    root = str(corpus.root)
    base = vibefix.base
    libcst_tool = [sys.executable, "-m", "libcst.tool", "codemod", "-x"]
    libcst_tool += ["peer_async_sleep.AsyncSleepCommand", "-u", "0", "--no-format"]
    libcst_tool += ["--hide-progress", "--hide-generated-warnings", "-j", str(jobs), root]
    ruff_async = [ruff or "ruff", "check", "--select", "ASYNC", "--no-cache", "--isolated"]
    ruff_async += ["--exit-zero", root]
    diff = [*base, "diff", "--jobs", str(jobs), "--select", "VF100", *vibefix.cold(), root]
    detect = [*base, "check", "--jobs", str(jobs), "--select", "VF1", *vibefix.cold(), root]
    pairs = [
        (
            Series("vibefix diff --select VF100", diff, "cold"),
            Series("libcst.tool codemod (VF100's rewrite)", libcst_tool),
        ),
        (
            Series("vibefix check --select VF1", detect, "cold"),
            Series("ruff check --select ASYNC", ruff_async),
        ),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")]),
    }
    out: dict[str, object] = {}
    print()
    print(f"| peers, {repeat} round(s), --jobs {jobs} | min (s) | median (s) | CPU median (s) |")
    print("|---|---:|---:|---:|")
    for ours, theirs in pairs:
        for index in range(repeat):
            for series in (ours, theirs) if index % 2 == 0 else (theirs, ours):
                run = run_series(series, caches, env=env)
                if run.returncode not in OK_EXIT_CODES:
                    raise BenchError(
                        f"`{shlex.join(series.command)}` exited {run.returncode}:\n"
                        + _tail(run.stderr)
                    )
                series.add(run)
        for series in (ours, theirs):
            print(
                f"| {series.label} | {series.min:.2f} | {series.median:.2f} "
                f"| {series.cpu_median:.2f} |"
            )
        ratio_min = _ratio(ours.min, theirs.min)
        ratio_median = _ratio(ours.median, theirs.median)
        print(f"| ratio | {_fmt(ratio_min)} | {_fmt(ratio_median)} | |")
        out[theirs.label] = {
            "vibefix": ours.summary(),
            "peer": theirs.summary(),
            "ratio": {"min": ratio_min, "median": ratio_median},
        }
    return out


def check(is_baseline: bool, run: Run, corpus: Corpus | None) -> None:
    """Raise BenchError unless the run succeeded (and, for the baseline, saw every file)."""
    if not is_baseline:
        if run.returncode not in OK_EXIT_CODES:
            raise BenchError(
                f"vibefix exited {run.returncode} (expected 0 or 1):\n{_tail(run.stderr)}"
            )
        return
    if run.returncode != 0:
        raise BenchError(f"the baseline exited {run.returncode}:\n{_tail(run.stderr)}")
    try:
        summary = json.loads(run.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BenchError(f"unexpected baseline output: {run.stdout[-500:]!r}") from None
    if corpus is not None and summary["files"] != corpus.files:
        raise BenchError(f"the baseline saw {summary['files']} files, not {corpus.files}")
    if summary["failures"]:
        print(f"note: libcst could not parse {summary['failures']} corpus file(s)")


def default_vibefix() -> Path:
    return Path(sys.executable).with_name("vibefix")


def parse_series(text: str) -> tuple[str, ...]:
    """``default,all,warm`` (any subset, any order) to the chosen series in ``SERIES`` order."""
    chosen = {part.strip() for part in text.split(",") if part.strip()}
    unknown = chosen - set(SERIES)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(SERIES)}; got {text!r}"
        )
    return tuple(key for key in SERIES if key in chosen)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Wall time, CPU and peak RSS of vibefix (default recipe, every codemod, a warm "
            "re-run) against a bare libcst parse + codegen of the same corpus."
        ),
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default: 3)")
    parser.add_argument("--jobs", type=int, default=2, help="processes, each side (default: 2)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="one round, on httpx alone unless --corpus is given (CI)",
    )
    parser.add_argument(
        "--corpus",
        metavar="PATH",
        help="measure this folder (a real app) instead of the installed libraries",
    )
    parser.add_argument(
        "--series",
        type=parse_series,
        default=SERIES,
        metavar="LIST",
        help="which vibefix series to run: default,all,warm (default: all three)",
    )
    parser.add_argument(
        "--vibefix",
        metavar="CMD",
        help=f"the vibefix command, split like a shell would (default: {default_vibefix()})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary corpus")
    parser.add_argument(
        "--peers",
        action="store_true",
        help="also compare with libcst.tool codemod (one codemod) and ruff --select ASYNC",
    )
    parser.add_argument("--baseline-worker", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.jobs < 1:
        parser.error("--repeat and --jobs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.baseline_worker:
        return baseline_worker(Path(args.baseline_worker), args.jobs)
    try:
        return bench(args)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
