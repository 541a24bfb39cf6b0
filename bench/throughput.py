"""Throughput and peak memory of ``vibefix diff`` against a bare libcst round trip.

What is measured
----------------
The corpus is the installed sources of fastapi, starlette, pydantic, sqlalchemy and httpx
(about 480 files and 340k lines), copied into a fresh temporary folder so that no
``.gitignore``, venv or configuration rule of the caller's tree changes what is walked.
Each round runs, as subprocesses and alternating (ABBA order, to cancel drift):

1. ``vibefix diff --jobs 2 CORPUS`` with every codemod (``--select ALL`` when the CLI
   accepts it), stdout to ``/dev/null``. Exit codes 0 and 1 are success.
2. The baseline: this script with ``--baseline-worker CORPUS``, which walks the corpus and,
   in a ``multiprocessing`` pool of 2 spawned workers fed in chunks, reads every ``.py``
   file, parses it with ``libcst.parse_module`` and generates the code back (``.code``).

Both sides pay interpreter start-up, imports and worker spawning alike. For each the script
reports the min and median wall time, the CPU time (user + sys of all waited-for
descendants) and the peak of the summed RSS of the process and all its descendants,
sampled every 20 ms from ``/proc``.

Why
---
vibefix prefilters: it reads every file but parses only those that contain a trigger word,
and parses each of them once, whatever the number of codemods. Most files of a real repo
contain no trigger, so a whole run must cost at most one bare parse + codegen of the corpus:
the target is a wall-time ratio vibefix/baseline <= 1.0 and a peak below 400 MB. A library
corpus like this one is a harsh case (more triggers than an application has), which makes
it a safe upper bound.

Peers (``--peers``)
-------------------
The same corpus, the same rounds, two more pairs:

3. ``vibefix diff --select VF100`` against ``python -m libcst.tool codemod -x
   peer_async_sleep.AsyncSleepCommand -u 0 -j N --no-format``: one codemod, the same
   rewrite (``time.sleep`` in ``async def`` to ``await asyncio.sleep``), written as a
   plain libcst command (``peer_async_sleep.py`` beside this script). Both print diffs.
4. ``vibefix check --select VF1`` (the async rules, detection and planning of rewrites)
   against ``ruff check --select ASYNC --no-cache --isolated`` (detection alone, in Rust).

The ratios are vibefix's time over the peer's (min/min and median/median).

``--smoke`` uses httpx alone and one round, for CI to keep this script working.
"""

from __future__ import annotations

import argparse
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
RATIO_TARGET = 1.0
OK_EXIT_CODES = (0, 1)
"""``vibefix diff``: 0 nothing to change, 1 changes or findings; 3 is a parse failure."""


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


@dataclass(frozen=True)
class Corpus:
    root: Path
    packages: tuple[str, ...]
    files: int
    lines: int
    bytes: int


def build_corpus(packages: Sequence[str], destination: Path) -> Corpus:
    """Copy the ``.py`` files of the installed ``packages`` under ``destination``."""
    files = lines = size = 0
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
                data = path.read_bytes()
                copy = target / path.relative_to(source)
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_bytes(data)
                files += 1
                size += len(data)
                lines += data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    return Corpus(destination, tuple(packages), files, lines, size)


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


def _tail(data: bytes, lines: int = 20) -> str:
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def vibefix_command(base: list[str], jobs: int, corpus: Path, scratch: Path) -> list[str]:
    """``vibefix diff --jobs N [--select ALL] CORPUS``, after checking ``diff --help``."""
    try:
        help_run = subprocess.run(
            [*base, "diff", "--help"],
            capture_output=True,
            env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"},
            check=False,
        )
    except OSError as error:
        raise BenchError(f"cannot run {shlex.join(base)}: {error}") from None
    if help_run.returncode != 0:
        raise BenchError(
            f"`{shlex.join([*base, 'diff', '--help'])}` exited {help_run.returncode}:\n"
            + _tail(help_run.stdout + help_run.stderr)
        )
    command = [*base, "diff", "--jobs", str(jobs)]
    if b"--select" in help_run.stdout:
        # Probe on a one-file tree: a usage error (exit 2) means ALL is not a selection.
        probe = scratch / "probe"
        probe.mkdir()
        (probe / "probe.py").write_text("import os\n")
        accepted = subprocess.run(
            [*command, "--select", "ALL", str(probe)], capture_output=True, check=False
        )
        if accepted.returncode in OK_EXIT_CODES:
            command += ["--select", "ALL"]
        else:
            print(
                f"note: `--select ALL` refused (exit {accepted.returncode}), "
                f"using the default selection:\n{_tail(accepted.stderr, 5)}"
            )
    else:
        print("note: `vibefix diff` has no --select, using the default selection")
    return [*command, str(corpus)]


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def report(corpus: Corpus, vibefix: Series, baseline: Series, jobs: int) -> dict[str, object]:
    ratio_min = _ratio(vibefix.min, baseline.min)
    ratio_median = _ratio(vibefix.median, baseline.median)
    ratio_peak = _ratio(vibefix.peak_mb, baseline.peak_mb)
    rounds = len(vibefix.walls)
    print()
    columns = "min (s) | median (s) | CPU median (s) | peak RSS (MB)"
    print(f"| {rounds} round(s), --jobs {jobs} | {columns} |")
    print("|---|---:|---:|---:|---:|")
    for series in (vibefix, baseline):
        print(
            f"| {series.label} | {series.min:.2f} | {series.median:.2f} "
            f"| {series.cpu_median:.2f} | {_fmt(series.peak_mb, 0)} |"
        )
    ratio_cpu = _ratio(vibefix.cpu_median, baseline.cpu_median)
    print(
        f"| ratio vibefix/baseline | {_fmt(ratio_min)} | {_fmt(ratio_median)} "
        f"| {_fmt(ratio_cpu)} | {_fmt(ratio_peak)} |"
    )
    print()
    print(
        f"ratio vibefix/baseline: {_fmt(ratio_min)} (min/min), {_fmt(ratio_median)} "
        f"(median/median); target <= {RATIO_TARGET:.1f}. "
        f"vibefix peak RSS {_fmt(vibefix.peak_mb, 0)} MB; target < {PEAK_TARGET_MB:.0f} MB."
    )
    return {
        "corpus": {
            "packages": list(corpus.packages),
            "files": corpus.files,
            "lines": corpus.lines,
            "bytes": corpus.bytes,
        },
        "jobs": jobs,
        "rounds": rounds,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "vibefix": vibefix.summary(),
        "baseline": baseline.summary(),
        "ratio": {
            "min": ratio_min,
            "median": ratio_median,
            "cpu_median": ratio_cpu,
            "peak_rss": ratio_peak,
        },
        "targets": {"ratio": RATIO_TARGET, "peak_mb": PEAK_TARGET_MB},
    }


def bench(args: argparse.Namespace) -> int:
    packages = SMOKE_PACKAGES if args.smoke else PACKAGES
    repeat = 1 if args.smoke else args.repeat
    jobs: int = args.jobs
    base = shlex.split(args.vibefix) if args.vibefix else [str(default_vibefix())]
    scratch = Path(tempfile.mkdtemp(prefix="vibefix-bench-"))
    try:
        corpus = build_corpus(packages, scratch / "corpus")
        print(
            f"corpus: {', '.join(packages)}: {corpus.files} files, {corpus.lines:,} lines, "
            f"{corpus.bytes / 1e6:.1f} MB, copied to {corpus.root}"
        )
        command = vibefix_command(base, jobs, corpus.root, scratch)
        baseline_command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--baseline-worker",
            str(corpus.root),
            "--jobs",
            str(jobs),
        ]
        vibefix = Series("vibefix diff", command)
        baseline = Series("baseline: libcst parse + codegen", baseline_command)
        print(f"vibefix:  {shlex.join(command)}")
        print(f"baseline: {shlex.join(baseline_command)}")
        for index in range(repeat):
            order = (vibefix, baseline) if index % 2 == 0 else (baseline, vibefix)
            for series in order:
                run = measure(series.command, capture_stdout=series is baseline)
                check(series is baseline, run, corpus)
                series.add(run)
                print(
                    f"round {index + 1}/{repeat} {series.label}: {run.wall:.2f} s, "
                    f"peak {_fmt(run.peak_mb, 0)} MB, exit {run.returncode}",
                    flush=True,
                )
                if index == 0 and series is vibefix and run.stderr.strip():
                    print(f"vibefix stderr (last lines):\n{_tail(run.stderr, 3)}")
        figures = report(corpus, vibefix, baseline, jobs)
        if args.peers:
            figures["peers"] = peers(base, jobs, corpus, repeat)
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


def peers(base: list[str], jobs: int, corpus: Corpus, repeat: int) -> dict[str, object]:
    """vibefix against the peers that do part of its job, on the same corpus."""
    here = Path(__file__).resolve().parent
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    root = str(corpus.root)
    libcst_tool = [sys.executable, "-m", "libcst.tool", "codemod", "-x"]
    libcst_tool += ["peer_async_sleep.AsyncSleepCommand", "-u", "0", "--no-format"]
    libcst_tool += ["--hide-progress", "--hide-generated-warnings", "-j", str(jobs), root]
    ruff_async = [ruff or "ruff", "check", "--select", "ASYNC", "--no-cache", "--isolated"]
    ruff_async += ["--exit-zero", root]
    diff = [*base, "diff", "--jobs", str(jobs), "--select", "VF100", root]
    detect = [*base, "check", "--jobs", str(jobs), "--select", "VF1", root]
    pairs = [
        (
            Series("vibefix diff --select VF100", diff),
            Series("libcst.tool codemod (VF100's rewrite)", libcst_tool),
        ),
        (
            Series("vibefix check --select VF1", detect),
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
                run = measure(series.command, capture_stdout=False, env=env)
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


def check(is_baseline: bool, run: Run, corpus: Corpus) -> None:
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
    if summary["files"] != corpus.files:
        raise BenchError(f"the baseline saw {summary['files']} files, not {corpus.files}")
    if summary["failures"]:
        print(f"note: libcst could not parse {summary['failures']} corpus file(s)")


def default_vibefix() -> Path:
    return Path(sys.executable).with_name("vibefix")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Wall time and peak RSS of `vibefix diff` against a bare libcst parse.",
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default: 3)")
    parser.add_argument("--jobs", type=int, default=2, help="processes, each side (default: 2)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--smoke", action="store_true", help="httpx only, one round (CI)")
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
