"""Which models are split in two, a request and a response model: those that are both a
body and a response, unless something holds the split back (the code makes the model
from data of its own, another model derives from it, a file names it...). A model that
is only a response and carries a secret field is reported, not split."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vibefix.boundary.facts import BoundaryFacts, HandlerFact
from vibefix.boundary.roles import ModelRole, short, stripped
from vibefix.engine.index import ProjectIndex

SPLIT_OPTIONS = "split-models"
"""The split's table in ``[tool.vibefix]``: ``create``, ``read`` (``"{name}Create"``...)
and ``secrets`` (field names a response must not carry)."""
SECRETS = (
    *("password", "passwd", "hashed_password", "password_hash", "secret", "token"),
    *("api_key", "apikey", "private_key", "salt", "otp", "pin"),
)
"""Field names (or their last ``_`` part) that a response must not carry, by default."""
BOTH = "it is both a request body and a response"
"""Why a model is split."""


@dataclass(frozen=True)
class Split:
    """A model split in two: the fields its body handlers read, and its fields but the
    secret ones for its responses."""

    create: str
    read: str
    create_fields: tuple[str, ...]
    read_fields: tuple[str, ...]
    module: str
    """The module that defines it (where the two new classes are imported from)."""
    bodies: tuple[str, ...]
    responses: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class Naming:
    """How the two halves are named (``{name}`` is the model's name, stripped), and the
    field names a response must not carry: the split's table in ``[tool.vibefix]``."""

    create: str = "{name}Create"
    read: str = "{name}Read"
    secrets: tuple[str, ...] = SECRETS

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> Naming:
        table = options.get(SPLIT_OPTIONS, {})
        table = table if isinstance(table, Mapping) else {}
        return cls(
            str(table.get("create", cls.create)),
            str(table.get("read", cls.read)),
            tuple(str(name) for name in table.get("secrets", SECRETS)),
        )

    def is_secret(self, name: str) -> bool:
        lowered = name.lower()
        return lowered in self.secrets or any(
            lowered.endswith(f"_{secret}") for secret in self.secrets
        )


def plan_splits(
    index: ProjectIndex,
    files: Mapping[Path, BoundaryFacts],
    routes: Mapping[str, HandlerFact],
    roles: Mapping[str, ModelRole],
    subclassed: frozenset[str],
    options: Mapping[str, Any],
) -> tuple[dict[str, Split], dict[str, str]]:
    """The models split (by name), and those that should be but are not, with why."""
    naming = Naming.of(options)
    escapes = _escapes(index, files)
    mentions = _mentions(index, files, routes, roles)
    splits: dict[str, Split] = {}
    unsplit: dict[str, str] = {}
    for qualname, role in roles.items():
        fields = [f.name for f in role.fact.fields]
        secret = [name for name in fields if naming.is_secret(name)]
        if not (role.responses and role.bodies):
            leaked = [name for name in secret if name in role.columns]
            if role.responses and leaked:
                unsplit[qualname] = _leaks(leaked)
            continue
        split = _split(qualname, role, fields, secret, naming)
        problem = _problem(qualname, role, split, subclassed, escapes, mentions, index)
        if problem:
            unsplit[qualname] = f"{BOTH}, but {problem}"
        else:
            splits[qualname] = split
    return splits, unsplit


def _leaks(leaked: list[str]) -> str:
    """Why a response only that carries ``leaked`` is reported, not rewritten: an
    endpoint may be meant to hand the value out (a new API key), and nothing tells which."""
    named = ", ".join(f"`{n}`" for n in leaked)
    return (
        f"its responses carry {named}: take it out of the model if no client"
        " needs it (an endpoint may be meant to hand one out, as an API key)"
    )


def _split(
    qualname: str, role: ModelRole, fields: list[str], secret: list[str], naming: Naming
) -> Split:
    module, _, name = qualname.rpartition(".")
    return Split(
        naming.create.format(name=stripped(name)),
        naming.read.format(name=stripped(name)),
        tuple(field for field in fields if field in role.uses and role.uses[field].reads),
        tuple(field for field in fields if field not in secret),
        module,
        role.bodies,
        role.responses,
        BOTH,
    )


def _problem(
    qualname: str,
    role: ModelRole,
    split: Split,
    subclassed: frozenset[str],
    escapes: Mapping[str, str],
    mentions: Mapping[str, tuple[Path, int]],
    index: ProjectIndex,
) -> str:
    """What holds back ``split`` of a model that is a body and a response; ``""``: nothing."""
    new = {f"{split.module}.{split.create}", f"{split.module}.{split.read}"}
    if role.partial:
        return f"it is a partial-update model ({role.partial})"
    if role.built:
        return "the code also makes it from data of its own"
    if qualname in subclassed:
        return "other models derive from it"
    if not role.fact.plain:
        return "its body holds more than fields (validators, methods): split it by hand"
    if qualname in escapes:
        return (
            f"`{short(escapes[qualname])}` uses the whole body, so which fields a request"
            " needs is not known"
        )
    if qualname in mentions:
        path, line = mentions[qualname]
        return f"it is used elsewhere too ({path.name}:{line})"
    if new & index.bases.keys():
        return f"`{split.create}` or `{split.read}` exists already"
    if not split.create_fields:
        return "its handlers read none of its fields"
    return ""


def _escapes(index: ProjectIndex, files: Mapping[Path, BoundaryFacts]) -> dict[str, str]:
    """The classes a handler uses whole as a body (passes on, dumps, returns), with the
    handler."""
    return {
        index.resolve(t): handler.qualname
        for facts in files.values()
        for handler in facts.handlers
        for parameter in handler.parameters
        if parameter.escapes
        for t in parameter.types
    }


def _mentions(
    index: ProjectIndex,
    files: Mapping[Path, BoundaryFacts],
    routes: Mapping[str, HandlerFact],
    roles: Mapping[str, ModelRole],
) -> dict[str, tuple[Path, int]]:
    """Where each class is first named other than as a route's body or response (a name
    that a split would leave naming nothing), with the line."""
    mentions: dict[str, tuple[Path, int]] = {}
    for path, facts in files.items():
        for name, line in facts.mentions:
            mentions.setdefault(index.resolve(name), (path, line))
        # A handler on something that is no app: its types were taken for no mention.
        for handler in facts.handlers:
            if handler.qualname not in routes:
                for name in (*handler.responses, *(t for p in handler.parameters for t in p.types)):
                    mentions.setdefault(index.resolve(name), (path, handler.line))
        # A model named in a string (``-> "User"``), by its short name.
        for word, line in facts.named_in_strings:
            for qualname in roles:
                if short(qualname) == word:
                    mentions.setdefault(qualname, (path, line))
    # A module that imports the model without being one of its handlers' (a package's
    # ``__init__`` re-exporting it) would import a name that is gone.
    handler_modules = {name.rpartition(".")[0] for name in routes}
    for name, imported in index.objects.items():
        module = name.rpartition(".")[0]
        target = index.resolve(imported) if imported else ""
        if (
            target in roles
            and module != target.rpartition(".")[0]
            and module not in handler_modules
        ):
            where = next((m.path for m in index.modules if m.module == module), None)
            if where is not None:
                mentions.setdefault(target, (where, 1))
    return mentions
