"""The example app (examples/vibeshop) under load, before and after vibefix.

Each variant is a copy of the example app in a temporary folder:

- ``vibe``: the app as written (``async def`` handlers calling ``requests`` and sync
  SQLAlchemy on the event loop);
- ``def``: the same app with every route handler a plain ``def`` (FastAPI runs them in
  its thread pool): what a careful human does without vibefix;
- ``after``: after ``vibefix apply`` (the default recipe; VF101's default backend, aiohttp);
- ``after-httpx2``: the same with ``backend = "httpx2"`` for VF101 (httpx's API);
- ``after-db``: after ``vibefix apply --recipe async-db --unsafe`` (aiosqlite, or asyncpg
  on PostgreSQL);
- ``after-db-pool``: the same with the pool VF202's finding asks for (``pool_size=10,
  max_overflow=30``; VF202 cannot write it, as the app reads its URL at run time).

One endpoint is loaded: ``GET /products/{id}/price?currency=EUR``, which reads a product
from the database and asks the exchange-rate API (the stand-in ``upstream.py``, which
answers after ``--delay`` seconds) for the rate. For each repetition (outer loop), each
variant and each concurrency, the app is started fresh under uvicorn (one worker, pinned to
CPU 0, behind ``poolwatch.py``, which reports the database pool), warmed up, then loaded by
``wrk`` (pinned to CPU 1, with the upstream and PostgreSQL). The report gives req/s,
p50/p99, errors, the pool's checked-out connections (most during the run, and left after
it), and a PNG chart of p50/p99 latency and req/s against concurrency.

    python bench/load/example.py --smoke                   # a second of load per cell (CI)
    python bench/load/example.py --repeat 2 --chart bench/load/example.png
    python bench/load/example.py --database postgresql --variants def,after,after-db

See README.md beside this file.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXAMPLE = ROOT / "examples" / "vibeshop"
sys.path[:0] = [str(HERE), str(ROOT)]

from run import (  # noqa: E402  (beside this file)
    APP_CPU,
    CLK_TCK,
    CPU1_BUSY_WARN_PCT,
    FOREIGN_MAX_CORES,
    LOAD_CPU,
    WRK_LUA,
    BenchError,
    Servers,
    core_busy_pct,
    free_port,
    log,
    process_cpu_seconds,
    read_cpu_times,
    run_wrk,
    spread,
    wait_idle,
    wait_ready,
)

VARIANTS = ("vibe", "def", "after", "after-httpx2", "after-db", "after-db-pool")
DEFAULT_VARIANTS = VARIANTS[:-1]
PACKAGES: tuple[str, ...] = ("fastapi", "starlette", "pydantic", "uvicorn", "sqlalchemy")
PACKAGES += ("requests", "httpx2", "aiohttp", "aiosqlite", "psycopg", "asyncpg")
PRODUCT = {"name": "Bench lamp", "price": 10.0, "stock": 5, "category": "bench"}


@dataclass
class Cell:
    variant: str
    concurrency: int
    repetition: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    pool_max: int
    pool_after: int
    cpu0_busy_pct: float
    cpu1_busy_pct: float
    foreign_cores: float
    attempts: int = 1
    noisy: bool = False


# --------------------------------------------------------------------------- the variants


def _route_handlers(tree: ast.Module) -> Iterator[ast.AsyncFunctionDef]:
    for node in tree.body:
        if not isinstance(node, ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(call, ast.Attribute) and ast.unparse(call.value) in ("router", "app"):
                yield node
                break


def make_def(app: Path) -> int:
    """Turn every ``async def`` route handler under ``app`` that awaits nothing (the loaded
    endpoint among them) into a plain ``def``; the number turned."""
    count = 0
    for path in sorted(app.rglob("*.py")):
        lines = path.read_text().splitlines(keepends=True)
        tree = ast.parse("".join(lines))
        for handler in _route_handlers(tree):
            awaits = (ast.Await, ast.AsyncFor, ast.AsyncWith)
            if any(isinstance(node, awaits) for node in ast.walk(handler)):
                continue  # it awaits an async helper: not this benchmark's endpoint
            line = lines[handler.lineno - 1]
            lines[handler.lineno - 1] = line.replace("async def ", "def ", 1)
            count += 1
        path.write_text("".join(lines))
    return count


def prepare(variant: str, folder: Path, vibefix: str) -> Path:
    """A copy of the example app, as ``variant`` has it."""
    copy = folder / variant
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    command: list[str] = []
    if variant == "def":
        if not make_def(copy / "app"):
            raise BenchError("no async def route handler found in the example app")
    elif variant in ("after", "after-httpx2"):
        command = [vibefix, "apply", "."]
        if variant == "after-httpx2":
            (copy / "pyproject.toml").write_text(
                '[tool.vibefix.requests-to-httpx]\nbackend = "httpx2"\n'
            )
    elif variant in ("after-db", "after-db-pool"):
        command = [vibefix, "apply", "--recipe", "async-db", "--unsafe", "."]
    if command:
        done = subprocess.run(command, cwd=copy, capture_output=True, text=True, check=False)
        if done.returncode not in (0, 1):
            shown = " ".join(command)
            raise BenchError(f"{shown} in {copy}: exit {done.returncode}\n{done.stderr}")
    if variant == "after-db-pool":
        database = copy / "app" / "database.py"
        text = database.read_text()
        engine = "create_async_engine(_async_url(DATABASE_URL), connect_args=connect_args"
        if engine not in text:
            raise BenchError(f"{database}: no `{engine}` to give the pool settings")
        database.write_text(text.replace(engine, f"{engine}, pool_size=10, max_overflow=30"))
    return copy


# --------------------------------------------------------------------------- databases


@contextmanager
def databases(kind: str, folder: Path, variants: Sequence[str]) -> Iterator[dict[str, str]]:
    """One empty database per variant: its URL (the driver is the app's default)."""
    if kind == "sqlite":
        yield {v: f"sqlite:///{folder / f'{v}.db'}" for v in variants}
        return
    from tests.postgres import start_postgres

    with start_postgres(pinned=("taskset", "-c", LOAD_CPU)) as server:
        yield {v: server.create_database("bench_" + v.replace("-", "_")) for v in variants}


# --------------------------------------------------------------------------- one cell


def database_cpu_seconds() -> float:
    """CPU used so far by the processes of the ``postgres`` user (0 without any), with
    that of the backends that have exited (their parent's children's time): a pool's
    overflow connections come and go during a run."""
    done = subprocess.run(["pgrep", "-u", "postgres"], capture_output=True, text=True)
    return sum(
        process_cpu_seconds(int(pid)) + _reaped_children_cpu_seconds(int(pid))
        for pid in done.stdout.split()
    )


def _reaped_children_cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[13]) + int(fields[14])) / CLK_TCK  # cutime, cstime


def _get_json(url: str, data: dict[str, Any] | None = None, timeout: float = 30) -> Any:
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def start_app(
    variant: str, copy: Path, database_url: str, upstream: str, servers: Servers, args: Any
) -> tuple[Any, int]:
    port = free_port()
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(copy), str(HERE)]),
        DATABASE_URL=database_url,
        RATES_API_URL=upstream,
        PAYMENT_API_URL=upstream,
        RATES_API_TIMEOUT="60",
    )
    command = ["taskset", "-c", APP_CPU, args.python, "-m", "uvicorn", "poolwatch:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--loop", "asyncio"]
    command += ["--http", "h11", "--no-access-log", "--log-level", "warning"]
    command += ["--backlog", "4096", "--app-dir", str(HERE)]
    process = servers.start(f"app-{variant}", command, env)
    return process, port


def _pool_left(url: str, base: str, process: Any, servers: Servers) -> int:
    """The connections still checked out once what was in flight when wrk stopped has
    been served (a request of our own answered, then up to 5 s for the pool to settle):
    more than 0 is a leak."""
    wait_ready(url, process, servers, timeout=180)
    left = 0
    for _ in range(25):
        left = int(_get_json(f"{base}/__pool", timeout=60)["checked_out"])
        if left == 0:
            break
        time.sleep(0.2)
    return left


def seed(variant: str, copy: Path, url: str, upstream: str, servers: Servers, args: Any) -> int:
    """Create the product the benchmark asks for; its id."""
    process, port = start_app(variant, copy, url, upstream, servers, args)
    try:
        wait_ready(f"http://127.0.0.1:{port}/health", process, servers, timeout=60)
        product = _get_json(f"http://127.0.0.1:{port}/products/", PRODUCT)
        return int(product["id"])
    finally:
        servers.stop(process)


def run_cell(
    variant: str,
    concurrency: int,
    repetition: int,
    target: tuple[Path, str, int],
    upstream: tuple[Any, str],
    servers: Servers,
    lua: Path,
    args: Any,
) -> Cell:
    copy, database_url, product = target
    attempt = 0
    while True:
        attempt += 1
        wait_idle(args.idle_wait)
        process, port = start_app(variant, copy, database_url, upstream[1], servers, args)
        base = f"http://127.0.0.1:{port}"
        url = f"{base}/products/{product}/price?currency=EUR"
        try:
            wait_ready(url, process, servers, timeout=60)
            warm = min(concurrency, 10) if variant == "vibe" else concurrency
            run_wrk(url, warm, args.warmup, lua)
            wait_ready(url, process, servers, timeout=120)  # the warm-up's backlog is served
            _get_json(f"{base}/__pool?reset=1")
            before = read_cpu_times()
            ours0 = process_cpu_seconds(process.pid) + process_cpu_seconds(upstream[0].pid)
            db0 = database_cpu_seconds()
            children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.monotonic()
            result = run_wrk(url, concurrency, args.seconds, lua)
            elapsed = time.monotonic() - start
            after = read_cpu_times()
            ours1 = process_cpu_seconds(process.pid) + process_cpu_seconds(upstream[0].pid)
            db1 = database_cpu_seconds()
            children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            pool = _get_json(f"{base}/__pool", timeout=180)  # its max: during the run
            pool["checked_out"] = _pool_left(url, base, process, servers)
            if process.poll() is not None:
                raise BenchError(f"app exited during the run:\n{servers.log_tail(process)}")
        finally:
            servers.stop(process)
        wrk_cpu = (children1.ru_utime + children1.ru_stime) - (
            children0.ru_utime + children0.ru_stime
        )
        busy = (after["cpu"][0] - before["cpu"][0]) / CLK_TCK
        foreign = max(0.0, (busy - (ours1 - ours0) - wrk_cpu - (db1 - db0)) / elapsed)
        cell = Cell(
            variant=variant,
            concurrency=concurrency,
            repetition=repetition,
            requests=int(result["requests"]),
            rps=float(result["rps"]),
            p50_ms=float(result["p50_ms"]),
            p99_ms=float(result["p99_ms"]),
            errors=sum(int(v) for v in result["errors"].values()),
            pool_max=int(pool["max"]),
            pool_after=int(pool["checked_out"]),
            cpu0_busy_pct=core_busy_pct(before, after, APP_CPU),
            cpu1_busy_pct=core_busy_pct(before, after, LOAD_CPU),
            foreign_cores=foreign,
            attempts=attempt,
        )
        log(
            f"  rep {repetition + 1} {variant:>13} c={concurrency:<4} {cell.rps:8.1f} req/s "
            f"p50 {cell.p50_ms:8.1f} p99 {cell.p99_ms:8.1f} ms errors {cell.errors:<5} "
            f"pool max {cell.pool_max} left {cell.pool_after} cpu0 {cell.cpu0_busy_pct:3.0f}% "
            f"cpu1 {cell.cpu1_busy_pct:3.0f}% foreign {foreign:.2f}"
        )
        if cell.cpu1_busy_pct > CPU1_BUSY_WARN_PCT:
            log(f"  ! CPU {LOAD_CPU} was {cell.cpu1_busy_pct:.0f}% busy: wrk may be the limit")
        if foreign > FOREIGN_MAX_CORES:
            if attempt <= args.retries:
                log(f"  ! foreign CPU {foreign:.2f} cores: rerunning the cell")
                continue
            cell.noisy = True
        return cell


# --------------------------------------------------------------------------- report


def table(cells: Sequence[Cell], variants: Sequence[str], concurrencies: Sequence[int]) -> str:
    lines = [
        "| variant | conc | req/s | x vibe | x def | p50 ms | p99 ms | errors | pool max "
        "| pool left | CPU0 % | CPU1 % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    medians = {
        (v, c): statistics.median(x.rps for x in cells if (x.variant, x.concurrency) == (v, c))
        for v in variants
        for c in concurrencies
        if any((x.variant, x.concurrency) == (v, c) for x in cells)
    }
    for c in concurrencies:
        for v in variants:
            mine = [x for x in cells if (x.variant, x.concurrency) == (v, c)]
            if not mine:
                continue
            ratios = [
                f"{medians[v, c] / medians[b, c]:.2f}" if medians.get((b, c)) else "-"
                for b in ("vibe", "def")
            ]
            noisy = " *" if any(x.noisy for x in mine) else ""
            lines.append(
                f"| {v}{noisy} | {c} | {spread([x.rps for x in mine], '.0f')} | {ratios[0]} "
                f"| {ratios[1]} | {spread([x.p50_ms for x in mine], '.0f')} "
                f"| {spread([x.p99_ms for x in mine], '.0f')} "
                f"| {spread([x.errors for x in mine], 'g')} "
                f"| {spread([x.pool_max for x in mine], 'g')} "
                f"| {spread([x.pool_after for x in mine], 'g')} "
                f"| {statistics.median(x.cpu0_busy_pct for x in mine):.0f} "
                f"| {max(x.cpu1_busy_pct for x in mine):.0f} |"
            )
    return "\n".join(lines)


LEGEND = (
    "req/s, p50, p99, errors, pool: median (min-max) over repetitions; x vibe / x def: ratio"
    " of median req/s at the same concurrency; pool max: most connections checked out of the"
    " app's pool during the run; pool left: still checked out once the requests in flight"
    " were served (leaked);"
    " CPU0 %: app core; CPU1 %: wrk, upstream (and PostgreSQL) core;"
    f" * = foreign CPU over {FOREIGN_MAX_CORES} cores even after reruns."
)


def chart(cells: Sequence[Cell], variants: Sequence[str], path: Path, title: str) -> None:
    """p50 and p99 latency (log scale) and req/s against concurrency, one line per variant."""
    import matplotlib  # type: ignore[import-not-found,unused-ignore]

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (latency, throughput) = pyplot.subplots(1, 2, figsize=(12, 4.8))
    for variant in variants:
        mine = [x for x in cells if x.variant == variant]
        if not mine:
            continue
        levels = sorted({x.concurrency for x in mine})

        def median(field: str, level: int, rows: list[Cell] = mine) -> float:
            return float(
                statistics.median(getattr(x, field) for x in rows if x.concurrency == level)
            )

        colour = f"C{VARIANTS.index(variant)}"  # the same in every chart
        p50 = [median("p50_ms", c) for c in levels]
        latency.plot(levels, p50, "o-", color=colour, label=variant)
        latency.plot(levels, [median("p99_ms", c) for c in levels], "x--", color=colour)
        rps = [median("rps", c) for c in levels]
        throughput.plot(levels, rps, "o-", color=colour, label=variant)
    latency.set(xscale="log", yscale="log", xlabel="concurrent connections", ylabel="ms")
    latency.set_title("latency: p50 (solid), p99 (dashed)")
    throughput.set(xscale="log", xlabel="concurrent connections", ylabel="requests/s")
    throughput.set_title("throughput")
    for axes in (latency, throughput):
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def versions(python: str) -> dict[str, str]:
    code = (
        "import json, importlib.metadata as m\nout = {}\n"
        f"for n in {list(PACKAGES)!r}:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = 'missing'\nprint(json.dumps(out))\n"
    )
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    found: dict[str, str] = json.loads(done.stdout)
    return found


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=int, default=12, help="wrk duration per run (default 12)")
    p.add_argument("--repeat", type=int, default=2, help="repetitions, outer loop (default 2)")
    p.add_argument("--concurrency", help="comma list (default 50,500,1000; --smoke: 10)")
    p.add_argument(
        "--variants",
        help=f"comma list of {', '.join(VARIANTS)} (default {','.join(DEFAULT_VARIANTS)})",
    )
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--warmup", type=int, default=2, help="warm-up seconds (default 2)")
    p.add_argument("--delay", type=float, default=0.05, help="upstream delay in s (0.05)")
    p.add_argument("--python", default=sys.executable, help="Python that runs the servers")
    p.add_argument("--retries", type=int, default=2, help="reruns of a cell with foreign CPU")
    p.add_argument("--idle-wait", type=float, default=120, help="max s to wait for idle")
    p.add_argument("--json", type=Path, help="also write every run to this JSON file")
    p.add_argument("--chart", type=Path, help="write the PNG chart here")
    p.add_argument("--smoke", action="store_true", help="1 s, 1 rep, c=10: that it all runs")
    p.add_argument(
        "--think",
        type=int,
        default=0,
        metavar="MS",
        help="each connection waits 0.5-1.5 x MS before each request (default 0: closed loop)",
    )
    p.add_argument(
        "--from-json",
        type=Path,
        metavar="FILE",
        help="no load: the table (and --chart) from a file --json wrote",
    )
    args = p.parse_args(argv)
    if args.smoke:
        args.seconds, args.repeat, args.warmup, args.retries = 1, 1, 1, 0
        args.concurrency = args.concurrency or "10"
        args.idle_wait = min(args.idle_wait, 5.0)
    args.concurrency = [int(c) for c in (args.concurrency or "50,500,1000").split(",") if c]
    args.variants = [v for v in (args.variants or ",".join(DEFAULT_VARIANTS)).split(",") if v]
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        p.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    if min(args.seconds, args.repeat, args.warmup) < 1 or not args.concurrency:
        p.error("--seconds, --repeat and --warmup must be >= 1, --concurrency non-empty")
    return args


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def think_lua(think_ms: int) -> str:
    """wrk's ``delay`` hook: each connection waits 0.5-1.5 x ``think_ms`` before each of its
    requests, the first included (users who read a page before the next click), so the
    load offered is about connections / (think + latency) requests a second."""
    if think_ms <= 0:
        return ""
    low, high = think_ms // 2, think_ms * 3 // 2
    hook = f"delay = function()\n  return math.random({low}, {high})\nend\n"
    return "math.randomseed(os.time())\n" + hook


def replot(args: argparse.Namespace) -> int:
    """The report of an earlier run, from its ``--json`` file."""
    document = json.loads(args.from_json.read_text())
    cells = [Cell(**cell) for cell in document["cells"]]
    variants = [v for v in VARIANTS if any(c.variant == v for c in cells)]
    levels = sorted({c.concurrency for c in cells})
    print(f"\n## bench/load/example.py {' '.join(document['argv'])}\n")
    print(", ".join(f"{k} {v}" for k, v in document["versions"].items()) + "\n")
    print(table(cells, variants, levels))
    print("\n" + LEGEND)
    if args.chart:
        database = "postgresql" if "postgresql" in document["argv"] else "sqlite"
        chart(cells, variants, args.chart, _title(database, args.delay))
        log(f"chart: {args.chart}")
    return 0


def _title(database: str, delay: float) -> str:
    return f"vibeshop GET /products/1/price, {database}, upstream {delay} s"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        return replot(args)
    for tool, hint in (("wrk", "apt-get install -y wrk"), ("taskset", "util-linux")):
        if shutil.which(tool) is None:
            log(f"{tool} not found ({hint})")
            return 2
    if (os.cpu_count() or 1) < 2:
        log("needs at least 2 CPUs (the app on CPU 0, the load generator on CPU 1)")
        return 2
    vibefix = shutil.which("vibefix", path=str(Path(args.python).parent)) or "vibefix"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    signal.signal(signal.SIGTERM, _stop)
    packages = versions(args.python)
    started = time.monotonic()
    cells: list[Cell] = []
    status = 0
    with tempfile.TemporaryDirectory(prefix="vibefix-example-load-") as scratch:
        folder = Path(scratch)
        servers = Servers(folder)
        lua = folder / "done.lua"
        lua.write_text(think_lua(args.think) + WRK_LUA)
        try:
            with databases(args.database, folder, args.variants) as urls:
                port = free_port()
                command = ["taskset", "-c", LOAD_CPU, args.python, "-m", "uvicorn"]
                command += ["--app-dir", str(HERE), "upstream:app", "--port", str(port)]
                command += ["--log-level", "warning", "--no-access-log", "--backlog", "4096"]
                env = dict(os.environ, UPSTREAM_DELAY=str(args.delay))
                upstream_process = servers.start("upstream", command, env)
                upstream = f"http://127.0.0.1:{port}"
                wait_ready(f"{upstream}/latest", upstream_process, servers, timeout=30)
                targets = {}
                for variant in args.variants:
                    copy = prepare(variant, folder, vibefix)
                    url = urls[variant]
                    product = seed(variant, copy, url, upstream, servers, args)
                    targets[variant] = (copy, url, product)
                    log(f"{variant}: ready in {copy} ({url.split('://')[0]})")
                for repetition in range(args.repeat):
                    log(f"repetition {repetition + 1}/{args.repeat}")
                    for variant in args.variants:
                        for concurrency in args.concurrency:
                            cells.append(
                                run_cell(
                                    variant,
                                    concurrency,
                                    repetition,
                                    targets[variant],
                                    (upstream_process, upstream),
                                    servers,
                                    lua,
                                    args,
                                )
                            )
                servers.stop_all()
        except KeyboardInterrupt:
            log("interrupted; servers stopped, partial results below")
            status = 130
        except (BenchError, LookupError, subprocess.SubprocessError, OSError) as error:
            log(f"error: {error}")
            status = 2
        finally:
            servers.stop_all()
    wall = time.monotonic() - started
    if args.json:
        document = {"argv": sys.argv[1:], "versions": packages, "cells": [asdict(c) for c in cells]}
        args.json.write_text(json.dumps(document, indent=2))
    if cells:
        print(f"\n## bench/load/example.py {' '.join(sys.argv[1:])}\n")
        print(
            f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), Python"
            f" {platform.python_version()}, database {args.database}, upstream delay"
            f" {args.delay} s, {args.seconds} s per run after a {args.warmup} s warm-up,"
            f"{f' think time {args.think} ms,' if args.think else ''}"
            f" {args.repeat} repetition(s), wall time {wall:.0f} s."
        )
        print(", ".join(f"{k} {v}" for k, v in packages.items()) + "\n")
        print(table(cells, args.variants, args.concurrency))
        print("\n" + LEGEND)
        if args.chart:
            chart(cells, args.variants, args.chart, _title(args.database, args.delay))
            log(f"chart: {args.chart}")
    if status == 0 and args.smoke and any(c.errors or not c.requests for c in cells):
        log("smoke: a run had errors or served no requests")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
