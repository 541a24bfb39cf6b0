"""The blocking-call table: what blocks the event loop, and what vibefix does about it.

The table is data (``blocking.toml`` beside this module), extended and overridden by the
user's ``[tool.vibefix.blocking]``. Keys are qualified call targets as the index writes
them (``subprocess.run``, ``requests.Session().get``: a method of an instance); a key may
end in ``.*`` (one more name) or ``.**`` (anything reached from there). The most specific
key wins.

A value is the action alone (``"offload"``), or a table that says why:
``{ action = "offload", kind = "http", why = "...", twin = "openai.AsyncOpenAI" }``.
The shipped table uses the table form for every blocking entry.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


class Kind(enum.Enum):
    TWIN = "twin"
    """Blocks; an async twin exists and a codemod rewrites to it."""
    OFFLOAD = "offload"
    """Blocks; no async twin, so it can run in a worker thread (VF102)."""
    BLOCKING = "blocking"
    """Blocks; no automatic rewrite."""
    NONBLOCKING = "nonblocking"


@dataclass(frozen=True)
class Entry:
    kind: Kind
    code: str | None = None
    """For TWIN: the codemod that rewrites the call to its twin."""
    loop: bool = False
    """For TWIN: the twin belongs to the event loop (an ``AsyncSession``'s calls): the
    call cannot be moved into a thread instead."""
    category: str | None = None
    """What kind of blocking this is, one of ``CATEGORIES``; None when the entry does not
    say (a user's entry written as a string, a non-blocking one)."""
    why: str = ""
    """A one-line reason the call blocks (or does not)."""
    twin: str = ""
    """The async counterpart a user can move to, when one exists (``openai.AsyncOpenAI``),
    whether or not a codemod rewrites to it."""


CATEGORIES = ("http", "sleep", "file", "db", "subprocess", "cpu", "other")
"""The kinds of blocking an entry may name."""


@runtime_checkable
class Rules(Protocol):
    """A part of the plan that has its own say on some call targets, asked before the
    table (VF203's: a session's calls are awaitable once the project moves to
    AsyncSession)."""

    def blocking_rule(self) -> Callable[[str], Entry | None] | None: ...

    def blocking_calls(self) -> Mapping[tuple[Path, int, int, int, int], Entry]:
        """Its say on single calls, by position (file, line, column, end line, end
        column): calls on a receiver whose type no annotation tells that it knows to be
        a session's (``def helper(session): session.commit()``)."""
        ...


class TableError(ValueError):
    """An entry that is not one of the known values; the message names the key."""


def parse_entry(key: str, value: Any) -> Entry:
    if isinstance(value, Mapping):
        return _parse_table(key, value)
    entry = _parse_action(value)
    if entry is None:
        raise TableError(
            f"blocking-call entry {key!r} = {value!r}: expected 'offload', 'blocking',"
            " 'nonblocking' or the code of the codemod that rewrites it (`vibefix list` shows"
            " them), or a table `{ action = ..., kind = ..., why = ..., twin = ... }`"
        )
    return entry


def _parse_action(value: Any) -> Entry | None:
    if not isinstance(value, str):
        return None
    if value.upper().startswith("VF") and value[2:].isdigit():
        return Entry(Kind.TWIN, value.upper())
    for kind in (Kind.OFFLOAD, Kind.BLOCKING, Kind.NONBLOCKING):
        if value.lower() == kind.value:
            return Entry(kind)
    return None


_FIELDS = ("action", "kind", "why", "twin")


def _parse_table(key: str, value: Mapping[str, Any]) -> Entry:
    def fail(problem: str) -> TableError:
        return TableError(f"blocking-call entry {key!r}: {problem}")

    unknown = sorted(set(value) - set(_FIELDS))
    if unknown:
        raise fail(f"unknown field {unknown[0]!r} (the fields are {', '.join(_FIELDS)})")
    if "action" not in value:
        raise fail("no `action` ('offload', 'blocking', 'nonblocking' or a codemod's code)")
    entry = _parse_action(value["action"])
    if entry is None:
        raise fail(
            f"action = {value['action']!r}: expected 'offload', 'blocking', 'nonblocking' or"
            " the code of the codemod that rewrites it (`vibefix list` shows them)"
        )
    for name in ("kind", "why", "twin"):
        if name in value and not isinstance(value[name], str):
            raise fail(f"{name} = {value[name]!r}: expected a string")
    category = value.get("kind")
    if category is not None:
        if entry.kind is Kind.NONBLOCKING:
            raise fail(f"kind = {category!r}: a non-blocking entry has no kind")
        if category not in CATEGORIES:
            raise fail(f"kind = {category!r}: expected one of {', '.join(CATEGORIES)}")
    return replace(entry, category=category, why=value.get("why", ""), twin=value.get("twin", ""))


@dataclass(frozen=True)
class BlockingTable:
    exact: Mapping[str, Entry]
    one: Mapping[str, Entry]
    """Keys that ended in ``.*``, without it."""
    deep: Mapping[str, Entry]
    """Keys that ended in ``.**``, without it."""
    rules: tuple[Callable[[str], Entry | None], ...] = ()
    """Codemods' own say on some targets, asked first (VF203: a session's calls once the
    project moves to ``AsyncSession``)."""

    @classmethod
    def from_mapping(cls, entries: Mapping[str, Any]) -> BlockingTable:
        exact: dict[str, Entry] = {}
        one: dict[str, Entry] = {}
        deep: dict[str, Entry] = {}
        for key, value in entries.items():
            entry = parse_entry(key, value)
            if key.endswith(".**"):
                deep[key[:-3]] = entry
            elif key.endswith(".*"):
                one[key[:-2]] = entry
            else:
                exact[key] = entry
        return cls(exact, one, deep)

    def extended(self, entries: Mapping[str, Any]) -> BlockingTable:
        """This table with ``entries`` (the user's) added; they win over shipped ones."""
        other = BlockingTable.from_mapping(entries)
        return BlockingTable(
            {**self.exact, **other.exact},
            {**self.one, **other.one},
            {**self.deep, **other.deep},
            self.rules,
        )

    def with_rules(self, rules: tuple[Callable[[str], Entry | None], ...]) -> BlockingTable:
        return replace(self, rules=rules)

    def ruled(self, target: str) -> Entry | None:
        """What a codemod's rule says of ``target``; None when none does."""
        for rule in self.rules:
            entry = rule(target)
            if entry is not None:
                return entry
        return None

    def deep_key(self, target: str) -> str | None:
        """The longest ``.**`` key (without it) that ``target`` is, or reaches from."""
        for end in reversed([*boundaries(target), len(target)]):
            if target[:end] in self.deep:
                return target[:end]
        return None

    def lookup(self, target: str) -> Entry | None:
        """The entry for a call target, most specific key first; None when none applies."""
        entry = self.exact.get(target)
        if entry is not None:
            return entry
        owner, last = split_last(target)
        if owner is not None and "." not in last and "(" not in last:
            entry = self.one.get(owner)
            if entry is not None:
                return entry
        for end in reversed(boundaries(target)):
            entry = self.deep.get(target[:end])
            if entry is not None:
                return entry
        return None

    def reached_from_instance(self, target: str) -> Entry | None:
        """The entry of the most specific ``.**`` key that covers ``target`` from an
        instance (``openai.OpenAI().**`` for ``openai.OpenAI().chat.completions.create``);
        None when the most specific one is a module's (``fastapi.**``) or none applies.
        Such a key says "anything reached from the instance, attributes included"; a
        module's key knows nothing of an attribute of an object its module made."""
        for end in reversed(boundaries(target)):
            entry = self.deep.get(target[:end])
            if entry is not None:
                return entry if "(" in target[:end] else None
        return None


def boundaries(target: str) -> list[int]:
    """The ends of ``target``'s prefixes that are themselves targets: before each ``.``
    and each ``(`` that starts a ``()``."""
    return [i for i, char in enumerate(target) if i > 0 and char in ".("]


def split_last(target: str) -> tuple[str | None, str]:
    """``("requests.Session()", "get")`` for ``"requests.Session().get"``."""
    owner, dot, last = target.rpartition(".")
    return (owner, last) if dot else (None, target)


@cache
def shipped_table() -> BlockingTable:
    text = resources.files("vibefix.known").joinpath("blocking.toml").read_text(encoding="utf-8")
    calls: dict[str, Any] = tomllib.loads(text)["calls"]
    return BlockingTable.from_mapping(calls)


def table_for(options: Mapping[str, Any]) -> BlockingTable:
    """The shipped table extended by the user's ``[tool.vibefix.blocking]``."""
    user = options.get("blocking")
    return shipped_table().extended(user) if user else shipped_table()


_GUESSES = (
    ("sleep", ("time.sleep",)),
    ("subprocess", ("subprocess.", "os.system", "os.popen", "os.spawn", "os.exec")),
    (
        "http",
        (
            "requests.",
            "urllib.",
            "urllib3.",
            "httpx.",
            "http.client.",
            "smtplib.",
            "ftplib.",
            "socket.",
        ),
    ),
    (
        "db",
        (
            "sqlalchemy.",
            "sqlmodel.",
            "sqlite3.",
            "psycopg",
            "pymysql.",
            "MySQLdb.",
            "redis.",
            "pymongo.",
        ),
    ),
    ("file", ("builtins.open", "io.open", "pathlib.", "shutil.", "os.", "json.load")),
)
"""Name prefixes and the category they mean, for an entry that does not say (the
string form: ``"acme.get" = "offload"``) and for what a blocking call made."""


def guess_category(target: str) -> str:
    """The category of a blocking call the table does not give one: by its name."""
    for category, prefixes in _GUESSES:
        if target.startswith(prefixes):
            return category
    return "other"
