"""The cache, as ruff keeps one: what a run learnt, kept for the next run.

Two kinds of entries, in ``.vibefix_cache/`` at the project's root (``VIBEFIX_CACHE_DIR``
moves it; ``--no-cache`` bypasses it):

- ``facts``: what the index learnt of one file, keyed by the file's content, path and
  module name and by the *fingerprint* of the run (vibefix's own code, libcst's and
  Python's versions, the configuration, the selected codemods). A changed file misses its
  own entry only; the rest of the index is read back without a parse.
- ``runs``: a whole run's results, keyed by the fingerprint, the options and the content
  of every file the run reads or may read (the paths given, the rest of the project, the
  files declaring its Python and its dependencies). A run over a project where nothing
  changed is read back whole: the plan is a function of the whole project, so nothing
  less than all of it decides a run's results.

Entries are written atomically (a temporary file renamed over the entry), so concurrent
runs each read a whole entry or none. Every entry is signed with a key kept in the user's
own cache folder, outside the project: an entry that is corrupt, from another version or
another machine (a ``.vibefix_cache`` committed by someone else) fails the check and is
ignored, never unpickled, and written anew. A folder that cannot be written means no
cache, not a failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import pickle
import secrets
import sys
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import libcst

from vibefix import __version__
from vibefix.engine.sourcefile import syntax_ok

FOLDER = ".vibefix_cache"
ENVIRONMENT = "VIBEFIX_CACHE_DIR"
_MAGIC = b"vibefix-cache-1\n"
_GITIGNORE = "# Written by vibefix: the cache of its runs, safe to delete.\n*\n"


class Cache:
    """A cache folder, or none (``folder`` None: every lookup misses, nothing is kept)."""

    def __init__(self, folder: Path | None, key: bytes | None = None) -> None:
        self.folder = folder
        self._key = key

    @classmethod
    def open(cls, root: Path) -> Cache:
        """The cache for the project at ``root`` (or where ``VIBEFIX_CACHE_DIR`` says);
        no cache when its folder or the signing key cannot be had."""
        where = os.environ.get(ENVIRONMENT)
        folder = Path(where) if where else root / FOLDER
        key = _signing_key()
        if key is None:
            return cls(None)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            ignore = folder / ".gitignore"
            if not ignore.exists():
                _write(ignore, _GITIGNORE.encode())
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe."):
                pass
        except OSError:
            return cls(None)
        return cls(folder, key)

    @property
    def enabled(self) -> bool:
        return self.folder is not None

    def get(self, kind: str, name: str) -> object | None:
        """The entry's value, or None when there is none to trust."""
        if self.folder is None or self._key is None:
            return None
        try:
            data = (self.folder / kind / name).read_bytes()
        except OSError:
            return None
        if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 32:
            return None
        signature = data[len(_MAGIC) : len(_MAGIC) + 32]
        payload = data[len(_MAGIC) + 32 :]
        if not hmac.compare_digest(signature, self._sign(kind, name, payload)):
            return None
        try:
            value: object = pickle.loads(payload)
        except Exception:  # signed by us, yet unreadable (a class renamed): a miss
            return None
        return value

    def put(self, kind: str, name: str, value: object) -> None:
        """Keep ``value`` under ``name``; silently nothing when it cannot be written."""
        if self.folder is None or self._key is None:
            return
        try:
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            return
        folder = self.folder / kind
        with contextlib.suppress(OSError):
            folder.mkdir(exist_ok=True)
            _write(folder / name, _MAGIC + self._sign(kind, name, payload) + payload)

    def syntax_ok(self, data: bytes) -> bool:
        """``sourcefile.syntax_ok``, remembered by content (most files do not change)."""
        name = digest(sys.version, data)
        known = self.get("syntax", name)
        if isinstance(known, bool):
            return known
        found = syntax_ok(data)
        self.put("syntax", name, found)
        return found

    def _sign(self, kind: str, name: str, payload: bytes) -> bytes:
        assert self._key is not None
        message = kind.encode() + b"\0" + name.encode() + b"\0" + payload
        return hmac.new(self._key, message, "sha256").digest()


def _write(path: Path, data: bytes) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def _signing_key() -> bytes | None:
    """This user's key for signing entries, made on first use, outside any project."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "vibefix" / "signing-key"
    try:
        key = path.read_bytes()
        if len(key) == 32:
            return key
    except OSError:
        pass
    key = secrets.token_bytes(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".signing-key.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        os.chmod(tmp_name, 0o600)
        # Two first runs at once: the first rename wins, and both read the winner's key.
        if not path.exists():
            os.replace(tmp_name, path)
        else:
            os.unlink(tmp_name)
        found = path.read_bytes()
    except OSError:
        return None
    return found if len(found) == 32 else None


def digest(*parts: bytes | str) -> str:
    """A hex digest of ``parts``, each length-prefixed so that no two lists collide."""
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        hasher.update(len(data).to_bytes(8, "little"))
        hasher.update(data)
    return hasher.hexdigest()


def fingerprint(settings: str, modules: Iterable[str]) -> str:
    """What every entry of a run depends on besides its files: vibefix's own code (its
    version, and the source of every module that makes it and its codemods, so that a
    changed codemod never reads stale facts), libcst's version, Python's, and
    ``settings`` (the configuration and the selection, as text)."""
    return digest(
        __version__,
        libcst.__version__ if hasattr(libcst, "__version__") else "",
        f"{sys.version_info.major}.{sys.version_info.minor}",
        _code(tuple(sorted(set(modules)))),
        settings,
    )


def package_files(package: Path) -> list[Path]:
    """The files of ``package`` a run's results depend on: its modules and what they
    read (the blocking-call table, the templates of the code codemods write)."""
    return sorted(
        path
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


@cache
def _code(modules: tuple[str, ...]) -> str:
    """A digest of the source files of vibefix and of the given modules."""
    files = set(package_files(Path(__file__).resolve().parent.parent))
    for name in modules:
        module = sys.modules.get(name)
        origin = getattr(module, "__file__", None)
        if origin:
            files.add(Path(origin).resolve())
    parts: list[bytes | str] = []
    for path in sorted(files):
        with contextlib.suppress(OSError):
            parts += [str(path), path.read_bytes()]
    return digest(*parts)
