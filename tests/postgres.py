"""A throwaway PostgreSQL server on loopback, for the tests that need a real one.

Debian's ``postgresql`` package provides the programs (``.ci/run`` installs it); the
server runs from a temporary data folder on a free port, as the ``postgres`` user when
the tests run as root (PostgreSQL refuses root), and is stopped and deleted afterwards.
Where the programs are missing the tests are skipped with that reason, unless
``VIBEFIX_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) makes it a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REQUIRED = "VIBEFIX_REQUIRE_POSTGRES"


def programs() -> Path | None:
    """The folder with ``initdb``, ``pg_ctl`` and ``createdb``; None when not installed."""
    folders = []
    found = shutil.which("pg_ctl")
    if found:
        folders.append(Path(found).resolve().parent)
    folders.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))
    for folder in folders:
        if all((folder / name).exists() for name in ("initdb", "pg_ctl", "createdb")):
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    bin: Path
    port: int
    as_user: tuple[str, ...]

    def create_database(self, name: str) -> str:
        """A new empty database; its URL (no driver named: ``postgresql://``)."""
        self.run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def run(self, program: str, *args: str) -> None:
        command = [*self.as_user, str(self.bin / program), *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)}: {done.stdout}{done.stderr}")


MISSING = "PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run installs it)"


@contextmanager
def start_postgres(pinned: Sequence[str] = ()) -> Iterator[Server]:
    """A throwaway server; ``pinned`` goes before ``pg_ctl start`` (``taskset -c 1``, say),
    so that the server's processes inherit it. Raises LookupError when not installed."""
    folder_of_programs = programs()
    if folder_of_programs is None:
        raise LookupError(MISSING)
    as_user: tuple[str, ...] = ()
    folder = Path(tempfile.mkdtemp(prefix="vibefix-postgres-"))
    if os.geteuid() == 0:
        as_user = ("runuser", "-u", "postgres", "--")
        shutil.chown(folder, "postgres", "postgres")
    server = Server(folder_of_programs, _free_port(), as_user)
    data = folder / "data"
    server.run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = f"-h 127.0.0.1 -p {server.port} -k {folder} -F"
    start = ("pg_ctl", "-D", str(data), "-l", str(folder / "log"), "-w", "-o", options, "start")
    Server(server.bin, server.port, (*pinned, *as_user)).run(*start)
    try:
        yield server
    finally:
        server.run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[Server]:
    """``start_postgres`` for a test: skipped when PostgreSQL is missing (a failure with
    VIBEFIX_REQUIRE_POSTGRES=1)."""
    import pytest

    if programs() is None:
        if os.environ.get(REQUIRED) == "1":
            pytest.fail(f"{MISSING}, and {REQUIRED}=1")
        pytest.skip(MISSING)
    with start_postgres() as server:
        yield server
