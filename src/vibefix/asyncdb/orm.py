"""The project's ORM, as the planner reads it: its models and their relationships, its
schemas and their fields, and the attributes whose read does I/O (a relationship, a
property that reads one, a deferred column, a column the database sets on update)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from vibefix.asyncdb.facts import DbFacts, FunctionDb
from vibefix.engine.index import ProjectIndex


class Orm:
    def __init__(
        self,
        index: ProjectIndex,
        facts: Mapping[Path, DbFacts],
        functions: Mapping[str, tuple[Path, FunctionDb]],
    ) -> None:
        self.index = index
        self.models: dict[str, dict[str, str]] = {}
        """Each model's relationships: attribute, the target class's name."""
        self.schemas: dict[str, dict[str, tuple[str, ...]]] = {}
        """Each schema's fields: field, the classes its annotation names."""
        self.eager: dict[tuple[str, str], str] = {}
        """``(model, attribute)``: the ``lazy=`` strategy its mapping gives it."""
        for file in facts.values():
            for name, relationships in file.models:
                self.models[name] = dict(relationships)
            for name, fields in file.schemas:
                self.schemas[name] = dict(fields)
        # A subclass of a model is a model (inheritance), with its base's relationships;
        # a schema has its bases' fields.
        for name in list(self.schemas):
            lineage = index.lineage(name)
            if any(klass in self.models for klass in lineage):
                self.schemas.pop(name)
                self.models[name] = {}
        for table in (self.models, self.schemas):
            for name in list(table):
                merged: dict[str, Any] = {}
                for klass in reversed(index.lineage(name)):
                    merged.update(table.get(klass, {}))
                merged.update(table[name])
                table[name] = merged
        by_short = {name.rpartition(".")[2]: name for name in self.models}
        for file in facts.values():
            for model, attr, lazy, backref in file.loading:
                if lazy:
                    self.eager[(model, attr)] = lazy
                target = by_short.get(self.models.get(model, {}).get(attr, "").rpartition(".")[2])
                if backref and target is not None and backref != "?":
                    self.models[target][backref] = model.rpartition(".")[2]
        self.relationship_names = {r for rels in self.models.values() for r in rels}
        # Attributes whose read does I/O besides relationships: a property that reads
        # one (``order.item_count``), a deferred column, a column the database sets on
        # update (read after a commit).
        self.properties: dict[str, dict[str, str]] = {}
        for qualname, (_, function) in functions.items():
            owner, _, attr = qualname.rpartition(".")
            if owner in self.models and any("property" in d for d in function.decorators):
                self.properties.setdefault(owner, {})[attr] = qualname
        for model in self.models:
            for klass in index.lineage(model):
                for attr, qualname in self.properties.get(klass, {}).items():
                    self.properties.setdefault(model, {}).setdefault(attr, qualname)
        self.columns: dict[str, dict[str, str]] = {}
        for file in facts.values():
            for model, attr, kind in file.columns:
                self.columns.setdefault(model, {})[attr] = kind
        self.watched = (
            self.relationship_names
            | {a for props in self.properties.values() for a in props}
            | {a for cols in self.columns.values() for a, kind in cols.items() if kind != "key"}
        )
        """The attributes whose read may do I/O."""

    def key(self, model: str) -> str | None:
        """The attribute of the model's primary key, its own or a base's; None when it
        has several, or none VF203 has read."""
        keys = {
            attr
            for klass in (model, *self.index.lineage(model))
            for attr, kind in self.columns.get(klass, {}).items()
            if kind == "key"
        }
        return keys.pop() if len(keys) == 1 else None

    def model(self, names: Iterable[str]) -> str | None:
        """The first of ``names`` that is a model."""
        for name in names:
            resolved = self.index.resolve(name)
            if resolved in self.models:
                return resolved
        return None

    def target(self, model: str, relationship: str) -> str | None:
        """The model a relationship leads to."""
        target = self.models.get(model, {}).get(relationship, "")
        short = target.rpartition(".")[2]
        for name in self.models:
            if name.rpartition(".")[2] == short:
                return name
        return None

    def fields(self, schema: str, depth: int = 0) -> set[str]:
        """The relationships a schema reads (with ``from_attributes``), by field name:
        ``items``, and ``items.product`` for a field of a nested schema."""
        found: set[str] = set()
        classes = {model.rpartition(".")[2] for model in self.models}
        for field_name, referenced in self.schemas.get(schema, {}).items():
            # A field named for a model reads a row's entity (``Post: PostOut`` of a
            # ``(Post, votes)`` row): what its schema reads is read on the row.
            entity = field_name in classes and field_name not in self.watched
            if field_name not in self.watched and not entity:
                continue
            if not entity:
                found.add(field_name)
            prefix = "" if entity else f"{field_name}."
            for nested in referenced:
                if nested in self.schemas and nested != schema and depth < 3:
                    found |= {f"{prefix}{inner}" for inner in self.fields(nested, depth + 1)}
        return found
