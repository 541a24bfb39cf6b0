"""Load benchmark of the HTTP-client backends that vibefix may rewrite ``requests`` calls to.

For each repetition (outer loop), each variant of ``apps.py`` and each concurrency, the app is
started fresh under uvicorn (one worker, pinned to CPU 0), warmed up, then loaded by ``wrk``
(pinned to CPU 1, with the stand-in upstream of ``upstream.py``, started once per run). A Lua
``done`` hook makes wrk print its summary as JSON. The table gives the median and min-max over
repetitions. See README.md beside this file.

    python bench/load/run.py                      # all variants, 50/500/1000 concurrent, 12 s x 3
    python bench/load/run.py --repeat 2 --seconds 8 --concurrency 50,500
    python bench/load/run.py --smoke              # 1 s per cell: vibe, def and the default
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

HERE = Path(__file__).resolve().parent
# Same names as apps.VARIANTS (not imported: that would import FastAPI and build an app).
VARIANTS = (
    "vibe",
    "def",
    "httpx",
    "httpx-tuned",
    "httpx-aiohttp",
    "aiohttp",
    "httpx2",
    "httpx2-tuned",
    "httpx2-percall",
    "httpx2-percall-notls",
    "httpx2-vf101",
    "aiohttp-vf101",
)
# Variant -> the distribution it needs beyond requirements.txt; skipped (with a note) if missing.
OPTIONAL_VARIANTS = {
    "httpx2": "httpx2",
    "httpx2-tuned": "httpx2",
    "httpx2-percall": "httpx2",
    "httpx2-percall-notls": "httpx2",
    "httpx2-vf101": "httpx2",
}
# The backend vibefix's rewrite should default to, chosen from this benchmark's results.
DEFAULT_VARIANT = "httpx2"  # see results.md: faster than `def` at 50/500/1000, httpx API
APP_CPU = "0"
LOAD_CPU = "1"  # wrk and the upstream
CPU1_BUSY_WARN_PCT = 70.0
FOREIGN_MAX_CORES = 0.15
CLK_TCK = os.sysconf("SC_CLK_TCK")
PACKAGES = (
    "fastapi",
    "starlette",
    "pydantic",
    "uvicorn",
    "requests",
    "httpx",
    "httpcore",
    "anyio",
    "sniffio",
    "aiohttp",
    "httpx-aiohttp",
    "httpx2",
    "httpcore2",
)

WRK_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write("WRKJSON ")
  io.write(string.format(
    '{"requests":%d,"duration_s":%.6f,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"rps":%.3f,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, secs, e.connect, e.read, e.write, e.status, e.timeout,
    summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
"""


class BenchError(RuntimeError):
    pass


@dataclass
class Run:
    variant: str
    concurrency: int
    repetition: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    cpu0_busy_pct: float
    cpu1_busy_pct: float
    foreign_cores: float
    attempts: int = 1
    noisy: bool = False

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


@dataclass
class Servers:
    """The server processes this driver started; each in its own session, killed by group."""

    logdir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: dict[int, Path] = field(default_factory=dict)

    def start(self, name: str, cmd: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = self.logdir / f"{name}-{len(self.procs)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        self.logs[proc.pid] = log
        return proc

    def log_tail(self, proc: subprocess.Popen[bytes], lines: int = 20) -> str:
        text = self.logs[proc.pid].read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 3.0) -> None:
        if proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.procs):
            self.stop(proc, grace=1.0)


# --------------------------------------------------------------------------- measurements


def read_cpu_times() -> dict[str, tuple[int, int]]:
    """``/proc/stat``: for ``cpu`` (all) and each ``cpuN``, (busy, total) in clock ticks."""
    times: dict[str, tuple[int, int]] = {}
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu"):
                break
            name, *values = line.split()
            ticks = [int(v) for v in values[:8]]  # guest time is already in user
            idle = ticks[3] + ticks[4]  # idle + iowait
            times[name] = (sum(ticks) - idle, sum(ticks))
    return times


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def busy_cores(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> float:
    ncpu = len(after) - 1
    busy = after["cpu"][0] - before["cpu"][0]
    total = after["cpu"][1] - before["cpu"][1]
    return ncpu * busy / total if total else 0.0


def core_busy_pct(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], cpu: str
) -> float:
    busy = after[f"cpu{cpu}"][0] - before[f"cpu{cpu}"][0]
    total = after[f"cpu{cpu}"][1] - before[f"cpu{cpu}"][1]
    return 100.0 * busy / total if total else 0.0


def wait_idle(max_wait: float, threshold: float = FOREIGN_MAX_CORES) -> float:
    """Wait (at most ``max_wait`` s) until the machine is idle; return the last busy reading."""
    deadline = time.monotonic() + max_wait
    while True:
        before = read_cpu_times()
        time.sleep(1.0)
        cores = busy_cores(before, read_cpu_times())
        if cores <= threshold:
            return cores
        if time.monotonic() >= deadline:
            log(f"  ! machine still busy ({cores:.2f} cores) after {max_wait:.0f} s; going on")
            return cores
        log(f"  machine busy ({cores:.2f} cores), waiting")
        time.sleep(4.0)


# --------------------------------------------------------------------------- helpers


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_ready(url: str, proc: subprocess.Popen[bytes], servers: Servers, timeout: float) -> None:
    """Poll ``url`` until it answers 200 (the app also waits for its backlog to drain)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"server exited with {proc.returncode}:\n{servers.log_tail(proc)}")
        try:
            with urllib.request.urlopen(url, timeout=max(0.1, deadline - time.monotonic())) as r:
                if r.status == 200:
                    return
                last = f"status {r.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.1)
    raise BenchError(f"{url} not ready after {timeout:.0f} s ({last}):\n{servers.log_tail(proc)}")


def run_wrk(url: str, concurrency: int, seconds: int, lua: Path) -> dict[str, Any]:
    cmd = [
        "taskset",
        "-c",
        LOAD_CPU,
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{seconds}s",
        "--timeout",
        "60s",
        "--latency",
        "-s",
        str(lua),
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("WRKJSON "):
            result: dict[str, Any] = json.loads(line[len("WRKJSON ") :])
            return result
    raise BenchError(f"wrk exited {proc.returncode} without a summary:\n{proc.stdout}{proc.stderr}")


def uvicorn_cmd(
    python: str, cpu: str, module: str, port: int, args: argparse.Namespace
) -> list[str]:
    return [
        "taskset",
        "-c",
        cpu,
        python,
        "-m",
        "uvicorn",
        "--app-dir",
        str(HERE),
        module,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        args.loop,
        "--http",
        args.http,
        "--no-access-log",
        "--log-level",
        "warning",
        "--backlog",
        "4096",
    ]


def package_versions(python: str) -> dict[str, str]:
    code = (
        "import json, importlib.metadata as m\n"
        f"names = {list(PACKAGES)!r}\n"
        "out = {}\n"
        "for n in names:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = 'missing'\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    versions: dict[str, str] = json.loads(proc.stdout)
    return versions


# --------------------------------------------------------------------------- one cell


def run_cell(
    variant: str,
    concurrency: int,
    repetition: int,
    upstream: subprocess.Popen[bytes],
    upstream_url: str,
    servers: Servers,
    lua: Path,
    args: argparse.Namespace,
) -> Run:
    attempt = 0
    while True:
        attempt += 1
        wait_idle(args.idle_wait)
        port = free_port()
        env = dict(os.environ, VARIANT=variant, UPSTREAM_URL=upstream_url)
        app = servers.start(
            f"app-{variant}", uvicorn_cmd(args.python, APP_CPU, "apps:app", port, args), env
        )
        url = f"http://127.0.0.1:{port}/convert?amount=12.5"
        try:
            wait_ready(url, app, servers, timeout=30)
            # Warm up at the measured concurrency (thread pool, connection pools, accept path),
            # except the vibe app: it serves one request at a time, so a wide warm-up would
            # only leave a backlog of c x 60 ms to drain.
            warm_conns = min(concurrency, 10) if variant == "vibe" else concurrency
            run_wrk(url, warm_conns, args.warmup, lua)
            wait_ready(url, app, servers, timeout=90)  # the warm-up's backlog is served

            cpu0 = read_cpu_times()
            app0 = process_cpu_seconds(app.pid)
            up0 = process_cpu_seconds(upstream.pid)
            children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            self0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.monotonic()
            result = run_wrk(url, concurrency, args.seconds, lua)
            elapsed = time.monotonic() - t0
            cpu1 = read_cpu_times()
            app1 = process_cpu_seconds(app.pid)
            up1 = process_cpu_seconds(upstream.pid)
            children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            self1 = resource.getrusage(resource.RUSAGE_SELF)
            if app.poll() is not None:
                raise BenchError(f"app exited during the run:\n{servers.log_tail(app)}")
        finally:
            servers.stop(app)

        cpu0_pct = core_busy_pct(cpu0, cpu1, APP_CPU)
        cpu1_pct = core_busy_pct(cpu0, cpu1, LOAD_CPU)
        ours = (
            (app1 - app0)
            + (up1 - up0)
            + (children1.ru_utime + children1.ru_stime - children0.ru_utime - children0.ru_stime)
            + (self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime)
        )
        all_busy = (cpu1["cpu"][0] - cpu0["cpu"][0]) / CLK_TCK
        foreign = max(0.0, (all_busy - ours) / elapsed)
        run = Run(
            variant=variant,
            concurrency=concurrency,
            repetition=repetition,
            requests=int(result["requests"]),
            rps=float(result["rps"]),
            p50_ms=float(result["p50_ms"]),
            p99_ms=float(result["p99_ms"]),
            max_ms=float(result["max_ms"]),
            errors={k: int(v) for k, v in result["errors"].items()},
            cpu0_busy_pct=cpu0_pct,
            cpu1_busy_pct=cpu1_pct,
            foreign_cores=foreign,
            attempts=attempt,
        )
        log(
            f"  rep {repetition + 1} {variant:>13} c={concurrency:<4} {run.rps:9.1f} req/s "
            f"p50 {run.p50_ms:8.1f} ms p99 {run.p99_ms:8.1f} ms errors {run.error_count:<6} "
            f"cpu0 {cpu0_pct:3.0f}% cpu1 {cpu1_pct:3.0f}% foreign {foreign:.2f} cores"
        )
        if cpu1_pct > CPU1_BUSY_WARN_PCT:
            log(f"  ! CPU {LOAD_CPU} was {cpu1_pct:.0f}% busy: the load generator may be the limit")
        if foreign > FOREIGN_MAX_CORES:
            if attempt <= args.retries:
                log(
                    f"  ! foreign CPU {foreign:.2f} cores > {FOREIGN_MAX_CORES}: rerunning the cell"
                )
                continue
            run.noisy = True
        return run


# --------------------------------------------------------------------------- report


def spread(values: Sequence[float], fmt: str) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return format(med, fmt)
    return f"{format(med, fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def table(runs: Sequence[Run], variants: Sequence[str], concurrencies: Sequence[int]) -> str:
    lines = [
        "| variant | conc | req/s | x vibe | x def | p50 ms | p99 ms | errors | CPU0 % | CPU1 % "
        "| foreign |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    medians: dict[tuple[str, int], float] = {}
    for v in variants:
        for c in concurrencies:
            rps = [r.rps for r in runs if r.variant == v and r.concurrency == c]
            if rps:
                medians[v, c] = statistics.median(rps)
    for c in concurrencies:
        for v in variants:
            cell = [r for r in runs if r.variant == v and r.concurrency == c]
            if not cell:
                continue
            ratios = []
            for base in ("vibe", "def"):
                b = medians.get((base, c))
                ratios.append(f"{medians[v, c] / b:.2f}" if b else "-")
            noisy = " *" if any(r.noisy for r in cell) else ""
            lines.append(
                f"| {v} | {c} | {spread([r.rps for r in cell], '.0f')} | {ratios[0]} | {ratios[1]} "
                f"| {spread([r.p50_ms for r in cell], '.0f')} "
                f"| {spread([r.p99_ms for r in cell], '.0f')} "
                f"| {spread([r.error_count for r in cell], 'g')} "
                f"| {statistics.median(r.cpu0_busy_pct for r in cell):.0f} "
                f"| {max(r.cpu1_busy_pct for r in cell):.0f} "
                f"| {max(r.foreign_cores for r in cell):.2f}{noisy} |"
            )
    return "\n".join(lines)


LEGEND = (
    "req/s, p50, p99, errors: median (min-max) over repetitions; x vibe / x def: ratio of"
    " median req/s; CPU0 %: median busy of the app core; CPU1 %: max busy of the load-generator"
    " core (wrk + upstream); foreign: max CPU (cores) used by other processes during a run"
    f" (* = over {FOREIGN_MAX_CORES} even after reruns)."
)


def print_report(
    runs: Sequence[Run],
    args: argparse.Namespace,
    versions: dict[str, str],
    wall: float,
    out: IO[str],
) -> None:
    print(f"\n## bench/load: {' '.join(sys.argv[1:]) or '(defaults)'}\n", file=out)
    print(
        f"Python {platform.python_version()} ({args.python}); uvicorn --loop {args.loop} "
        f"--http {args.http}; upstream delay {args.delay} s; {args.seconds} s per run after a "
        f"{args.warmup} s warm-up; {args.repeat} repetition(s); wall time {wall:.0f} s.",
        file=out,
    )
    print(", ".join(f"{k} {v}" for k, v in versions.items()) + "\n", file=out)
    print(table(runs, args.variants, args.concurrency), file=out)
    print("\n" + LEGEND, file=out)


def merge_report(paths: Sequence[Path], out: IO[str]) -> int:
    """Print one table from several ``--json`` files (e.g. repetitions run separately)."""
    runs: list[Run] = []
    print("\n## bench/load: merged runs\n", file=out)
    for i, path in enumerate(paths):
        data = json.loads(path.read_text())
        print(f"- `{path.name}`: `run.py {' '.join(data.get('argv', []))}`", file=out)
        for raw in data["runs"]:
            raw = dict(raw)
            raw["repetition"] = int(raw["repetition"]) + 1000 * i
            runs.append(Run(**raw))
        versions: dict[str, str] = data.get("versions", {})
    if not runs:
        log("no runs in the given files")
        return 2
    print("\n" + ", ".join(f"{k} {v}" for k, v in versions.items()) + "\n", file=out)
    variants = [v for v in VARIANTS if any(r.variant == v for r in runs)]
    concurrencies = sorted({r.concurrency for r in runs})
    print(table(runs, variants, concurrencies), file=out)
    counts = sorted(
        {
            sum(1 for r in runs if r.variant == v and r.concurrency == c)
            for v in variants
            for c in concurrencies
        }
        - {0}
    )
    print(
        f"\nRepetitions per cell: {', '.join(map(str, counts))}. " + LEGEND,
        file=out,
    )
    return 0


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=int, default=12, help="wrk duration per run (default 12)")
    p.add_argument("--repeat", type=int, default=3, help="repetitions, outer loop (default 3)")
    p.add_argument("--concurrency", help="comma list (default 50,500,1000; --smoke: 10)")
    p.add_argument("--variants", help="comma list (default all; --smoke: vibe,def,DEFAULT)")
    p.add_argument("--warmup", type=int, default=2, help="warm-up seconds at <=10 conns")
    p.add_argument("--delay", type=float, default=0.05, help="upstream delay in s (0.05)")
    p.add_argument("--python", default=sys.executable, help="Python that runs the servers")
    p.add_argument("--loop", default="asyncio", help="uvicorn --loop (default asyncio)")
    p.add_argument("--http", default="h11", help="uvicorn --http (default h11)")
    p.add_argument("--retries", type=int, default=2, help="reruns of a cell with foreign CPU")
    p.add_argument("--idle-wait", type=float, default=120, help="max s to wait for idle")
    p.add_argument("--json", type=Path, help="also write every run to this JSON file")
    p.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="run nothing: print one table from the runs in these --json files",
    )
    p.add_argument(
        "--smoke", action="store_true", help="1 s, 1 rep, c=10, vibe, def and the default"
    )
    args = p.parse_args(argv)
    if args.smoke:
        args.seconds, args.repeat, args.warmup, args.retries = 1, 1, 1, 0
        args.concurrency = args.concurrency or "10"
        args.variants = args.variants or f"vibe,def,{DEFAULT_VARIANT}"
        args.idle_wait = min(args.idle_wait, 10.0)
    args.concurrency = args.concurrency or "50,500,1000"
    args.variants = args.variants or ",".join(VARIANTS)
    args.concurrency = [int(c) for c in str(args.concurrency).split(",") if c]
    args.variants = [v for v in str(args.variants).split(",") if v]
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        p.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    if args.seconds < 1 or args.repeat < 1 or args.warmup < 1 or not args.concurrency:
        p.error("--seconds, --repeat and --warmup must be >= 1, --concurrency non-empty")
    return args


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.merge:
        return merge_report(args.merge, sys.stdout)
    for tool, hint in (("wrk", "apt-get install -y wrk"), ("taskset", "util-linux")):
        if shutil.which(tool) is None:
            log(f"{tool} not found ({hint})")
            return 2
    if (os.cpu_count() or 1) < 2:
        log("needs at least 2 CPUs (app on CPU 0, load generator on CPU 1)")
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    signal.signal(signal.SIGTERM, _on_sigterm)

    versions = package_versions(args.python)
    if versions.get("sniffio") == "missing":
        log("! sniffio is missing: httpcore retries `import sniffio` on every call (slower httpx)")
    for variant, dist in OPTIONAL_VARIANTS.items():
        if variant in args.variants and versions.get(dist) == "missing":
            log(f"! skipping variant {variant}: {dist} is not installed in {args.python}")
            args.variants.remove(variant)

    start = time.monotonic()
    runs: list[Run] = []
    status = 0
    with tempfile.TemporaryDirectory(prefix="vibefix-load-") as tmp:
        servers = Servers(Path(tmp))
        lua = Path(tmp) / "done.lua"
        lua.write_text(WRK_LUA)
        try:
            up_port = free_port()
            up_env = dict(os.environ, UPSTREAM_DELAY=str(args.delay))
            upstream = servers.start(
                "upstream",
                uvicorn_cmd(args.python, LOAD_CPU, "upstream:app", up_port, args),
                up_env,
            )
            upstream_url = f"http://127.0.0.1:{up_port}/rates"
            wait_ready(upstream_url, upstream, servers, timeout=30)
            for rep in range(args.repeat):
                log(f"repetition {rep + 1}/{args.repeat}")
                for variant in args.variants:
                    for conc in args.concurrency:
                        runs.append(
                            run_cell(variant, conc, rep, upstream, upstream_url, servers, lua, args)
                        )
        except KeyboardInterrupt:
            log("interrupted; servers stopped, partial results below")
            status = 130
        except (BenchError, subprocess.SubprocessError, OSError) as exc:
            log(f"error: {exc}")
            status = 2
        finally:
            servers.stop_all()

    wall = time.monotonic() - start
    if args.json:  # before the report, so that a report bug cannot lose the runs
        args.json.write_text(
            json.dumps(
                {"argv": sys.argv[1:], "versions": versions, "runs": [asdict(r) for r in runs]},
                indent=2,
            )
        )
    if runs:
        print_report(runs, args, versions, wall, sys.stdout)
    if status == 0 and args.smoke and any(r.error_count or not r.requests for r in runs):
        log("smoke: a run had errors or no requests")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
