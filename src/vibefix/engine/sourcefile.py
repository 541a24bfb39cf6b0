"""Reading, decoding, parsing and atomically writing source files without losing a byte.

libcst parses bytes itself, honouring a BOM and a PEP 263 encoding cookie, and gives them
back unchanged on output, so the engine never re-encodes a file by hand. This module turns
the ways that can fail into a ``Finding`` with a position, and writes files atomically.
"""

from __future__ import annotations

import ast
import codecs
import contextlib
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import libcst as cst

from vibefix.engine import deep, syntax
from vibefix.results import Finding, Position

T = TypeVar("T")

PARSE_ERROR = "E999"
"""The code used for files that cannot be decoded or parsed (as in ruff and flake8)."""

_ONLY_AST = 0x400
"""``ast.PyCF_ONLY_AST``: parse, without the compiler's checks."""

_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


class SourceError(Exception):
    """A file that cannot be read, decoded or parsed; carries a positioned finding."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


@dataclass(frozen=True)
class ParsedSource:
    module: cst.Module
    encoding: str
    compiles: bool
    """Whether the running Python compiles the original (then the output must too)."""


def declared_encoding(data: bytes) -> str:
    """The encoding Python would use for these bytes: BOM, then cookie, then UTF-8."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for line in data.splitlines()[:2]:
        match = _COOKIE.match(line)
        if match:
            return match.group(1).decode("ascii")
        if line.strip() and not line.lstrip().startswith(b"#"):
            break
    return "utf-8"


def _position_of_offset(data: bytes, offset: int, encoding: str) -> Position:
    """The line and column (in characters, as editors count) of a byte offset."""
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[start:offset].decode(encoding, errors="replace")) + 1
    return Position(line, column)


def parse(path: Path, data: bytes, target: tuple[int, int] | None = None) -> ParsedSource:
    """Parse ``data`` read from ``path``; raise ``SourceError`` with a position on failure,
    or when it uses syntax that ``target`` (the oldest Python the project runs on, if it
    says) does not have."""
    encoding = declared_encoding(data)
    try:
        codecs.lookup(encoding)
        text = data.decode(encoding)
    except LookupError:
        raise SourceError(
            Finding(path, Position(1, 1), PARSE_ERROR, f"unknown encoding {encoding!r}")
        ) from None
    except UnicodeDecodeError as error:
        position = _position_of_offset(data, error.start, encoding)
        message = f"cannot decode as {encoding}: {error.reason} (byte {data[error.start]:#04x})"
        raise SourceError(Finding(path, position, PARSE_ERROR, message)) from None
    if b"\0" in data:
        position = _position_of_offset(data, data.index(b"\0"), encoding)
        raise SourceError(Finding(path, position, PARSE_ERROR, "source contains a NUL byte"))
    problem = _compile_first(path, data)
    if isinstance(problem, Finding):
        raise SourceError(problem)
    rejected = syntax.by_grammar(text, target) if target and problem is None else None
    try:
        module = cst.parse_module(data)
    except cst.ParserSyntaxError as error:
        raise SourceError(_syntax_finding(path, text, error)) from None
    if target is not None and (rejected is not None or isinstance(problem, SyntaxError)):
        newer = syntax.in_tree(module, target) or rejected
        if newer is not None:
            raise SourceError(Finding(path, newer.position, PARSE_ERROR, newer.message(target)))
        unparsed = _grammar_error(path, text, target) if target <= sys.version_info[:2] else None
        if unparsed is not None:
            raise SourceError(unparsed)
    module = _plain_indent(module)
    return ParsedSource(module, module.encoding, compiles=problem is None)


def _plain_indent(module: cst.Module) -> cst.Module:
    """``module`` with an indentation for new code that holds no form feed.

    libcst takes the file's first indentation for the code it writes; when that line
    starts with a form feed (which Python ignores at the start of a line only), every
    level of new code would repeat it, and the result does not compile. The blocks
    written with that indentation keep it; new ones get it without the form feed."""
    default = module.default_indent
    if "\f" not in default:
        return module

    class Explicit(cst.CSTTransformer):
        def leave_IndentedBlock(
            self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
        ) -> cst.IndentedBlock:
            if updated_node.indent is None:
                return updated_node.with_changes(indent=default)
            return updated_node

    plain = default.replace("\f", "") or "    "
    return module.visit(Explicit()).with_changes(default_indent=plain)


def in_deep_stack(path: Path, function: Callable[..., T], *args: object) -> T:
    """``function(*args)``, the work of indexing or rewriting the file at ``path``, with
    room to recurse as deep as its nesting needs (``deep.call``). A ``RecursionError``
    that comes all the same (Python 3.12's fixed C recursion limit) fails the file with
    a message that says so, not as an internal error."""
    try:
        return deep.call(function, *args)
    except RecursionError:
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        message = (
            f"nested too deeply for vibefix on Python {version}: libcst's walk of the tree"
            " reached the interpreter's recursion limit"
        )
        raise SourceError(Finding(path, Position(1, 1), PARSE_ERROR, message)) from None


def _compile(source: bytes | str, path: Path, flags: int = 0) -> None:
    """``compile()`` with CPython's own recursion limit, whatever ``deep`` raised it to."""
    with deep.ordinary_recursion():
        compile(source, str(path), "exec", dont_inherit=True, flags=flags)


def _compile_first(path: Path, data: bytes) -> Finding | Exception | None:
    """Compile with CPython before libcst parses: None when it compiles, the error when
    it does not (the file may use newer syntax than this Python knows; libcst and the
    project's target decide), or a finding for source nested deeper than CPython
    accepts, on which libcst's native parser can exhaust the stack and crash the process."""
    try:
        _compile(data, path)
    except SyntaxError as error:
        if "too many nested" in str(error.msg) or "too complex" in str(error.msg):
            position = Position(error.lineno or 1, error.offset or 1)
            return Finding(path, position, PARSE_ERROR, f"syntax error: {error.msg}")
        return error
    except (ValueError, RecursionError, MemoryError) as error:
        return error
    return None


def _grammar_error(path: Path, text: str, target: tuple[int, int]) -> Finding | None:
    """What the grammar of the running Python, as new as ``target`` or newer, rejects in
    ``text`` although libcst parsed it and saw nothing newer than ``target`` in it (say an
    f-string of 3.12): ``target`` cannot parse it either. None for what only its compiler
    rejects (``await`` outside an async function), which is left to libcst as before."""
    try:
        _compile(text, path, flags=_ONLY_AST)
    except SyntaxError as error:
        position = Position(error.lineno or 1, error.offset or 1)
        message = syntax.NewerSyntax(position, None, str(error.msg)).message(target)
        return Finding(path, position, PARSE_ERROR, message)
    except (ValueError, RecursionError, MemoryError):
        return None
    return None


def _syntax_finding(path: Path, text: str, error: cst.ParserSyntaxError) -> Finding:
    # CPython's own parser names the offending token far more precisely than libcst's
    # (libcst often points at the start of the next line), so prefer its message. Given
    # text, not bytes, its column counts characters.
    try:
        _compile(text, path, flags=_ONLY_AST)
    except SyntaxError as syntax:
        if syntax.lineno is not None:
            return Finding(
                path,
                Position(syntax.lineno, syntax.offset or 1),
                PARSE_ERROR,
                f"syntax error: {syntax.msg}",
            )
    except (ValueError, UnicodeDecodeError):
        pass
    message = error.message.removeprefix("parser error: ")
    return Finding(path, Position(error.raw_line, error.raw_column + 1), PARSE_ERROR, message)


def compiles(source: bytes, path: Path) -> str | None:
    """None when ``source`` compiles, else the error as ``line:col: message``.

    ``compile`` is stricter than a parse: it rejects ``await`` outside async functions.
    """
    try:
        _compile(source, path)
    except SyntaxError as error:
        return f"{error.lineno}:{error.offset}: {error.msg}"
    except ValueError as error:
        return str(error)
    return None


class WriteError(OSError):
    """A file of a batch could not be written; none of the batch was."""

    def __init__(self, path: Path, error: OSError) -> None:
        super().__init__(error.errno, error.strerror)
        self.path = path
        self.error = error


def atomic_write_all(files: Sequence[tuple[Path, bytes]]) -> None:
    """Replace several files' content at once, as far as a file system allows: every new
    content is written to a temporary file beside its target first, and only when all of
    them are written are they renamed over their targets. A rewrite that spans files (a
    function made async here, its awaits there) is thus never left half-written by a
    full disk or a read-only folder."""
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in files:
            try:
                staged.append((_stage(path, data), path.resolve()))
            except OSError as error:
                raise WriteError(path, error) from error
        for tmp_name, target in staged:
            os.replace(tmp_name, target)
    except BaseException:
        for tmp_name, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
        raise


def _stage(path: Path, data: bytes) -> str:
    """A temporary file beside ``path`` with ``data`` and ``path``'s mode; its name."""
    target = path.resolve()
    mode = stat.S_IMODE(target.stat().st_mode)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".vibefix", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return tmp_name


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path``'s content with ``data``: fully old or fully new, mode kept.

    Writes a temporary file in the same folder (so ``os.replace`` is a rename on one file
    system), then renames it over the target. A symlink is followed, not replaced.
    """
    tmp_name = _stage(path, data)
    try:
        os.replace(tmp_name, path.resolve())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def syntax_ok(data: bytes) -> bool:
    """Whether Python's own parser takes ``data`` (about a tenth of libcst's cost): a file
    the engine may leave unparsed is checked so, lest a syntax error go unreported."""
    try:
        ast.parse(data)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True
