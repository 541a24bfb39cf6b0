"""Edits of a Pydantic model's fields, shared by VF300-VF304: take None out of an
annotation, take a ``None`` default away, find the one type an annotation names.

Each edit is decided on the original tree (where names resolve) and carried out on the
updated one, so that edits of several codemods inside one field compose."""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from vibefix.cst.names import imported_as

IsName = Callable[[cst.CSTNode, str], bool]
"""Whether a node can only mean the imported name (``typing.Optional``)."""


def typing_names(visitor: cst.MetadataDependent) -> IsName:
    """``imported_as`` for ``visitor``, ``typing_extensions``' twins of typing's names too."""

    def is_name(node: cst.CSTNode, qualified: str) -> bool:
        return imported_as(visitor, node, qualified) or imported_as(
            visitor, node, qualified.replace("typing.", "typing_extensions.")
        )

    return is_name


def fields_of(node: cst.ClassDef) -> list[tuple[cst.AnnAssign, str]]:
    """A class body's annotated fields (``model_config`` aside), with their names."""
    if not isinstance(node.body, cst.IndentedBlock):
        return []
    return [
        (small, small.target.value)
        for line in node.body.body
        if isinstance(line, cst.SimpleStatementLine)
        for small in line.body
        if isinstance(small, cst.AnnAssign)
        and isinstance(small.target, cst.Name)
        and small.target.value != "model_config"
    ]


def names_in(node: cst.CSTNode) -> list[cst.Name]:
    """Every name in ``node``: the references an edit that removes it drops."""
    found: list[cst.Name] = []

    class Names(cst.CSTVisitor):
        def visit_Name(self, name: cst.Name) -> None:
            found.append(name)

    node.visit(Names())
    return found


def none_shape(annotation: cst.BaseExpression, is_name: IsName) -> str | None:
    """How ``annotation`` admits None: ``optional`` (``Optional[X]``), ``union``
    (``Union[X, None]``, ``Union[X, Y, None]``) or ``bitor`` (``X | None``); None when it
    does not, or has no other type left to say."""
    if isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr):
        return "bitor" if _bitor_without_none(annotation) is not annotation else None
    if not isinstance(annotation, cst.Subscript):
        return None
    elements = list(annotation.slice)
    if is_name(annotation.value, "typing.Optional") and len(elements) == 1:
        return "optional" if isinstance(elements[0].slice, cst.Index) else None
    if is_name(annotation.value, "typing.Union"):
        kept = _union_without_none(elements)
        if 0 < len(kept) < len(elements) and all(isinstance(e.slice, cst.Index) for e in kept):
            return "union"
    return None


def without_none(annotation: cst.BaseExpression, shape: str) -> cst.BaseExpression:
    """``annotation`` (as updated by nested edits) without None, ``shape`` being what
    ``none_shape`` said of the original: ``Optional[X]`` -> ``X``, ``X | None`` -> ``X``,
    ``Union[X, None]`` -> ``X``, ``Union[X, Y, None]`` -> ``Union[X, Y]``."""
    if shape == "bitor":
        return _bitor_without_none(annotation)
    assert isinstance(annotation, cst.Subscript)
    if shape == "optional":
        inner = annotation.slice[0].slice
        assert isinstance(inner, cst.Index)
        return inner.value
    kept = _union_without_none(list(annotation.slice))
    if len(kept) == 1:
        only = kept[0].slice
        assert isinstance(only, cst.Index)
        return only.value
    last = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return annotation.with_changes(slice=[*kept[:-1], last])


def _bitor_without_none(annotation: cst.BaseExpression) -> cst.BaseExpression:
    if not (
        isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr)
    ):
        return annotation
    if _is_none(annotation.right):
        return annotation.left
    if _is_none(annotation.left):
        return annotation.right
    left = _bitor_without_none(annotation.left)
    return annotation if left is annotation.left else annotation.with_changes(left=left)


def _union_without_none(elements: list[cst.SubscriptElement]) -> list[cst.SubscriptElement]:
    return [
        element
        for element in elements
        if not (isinstance(element.slice, cst.Index) and _is_none(element.slice.value))
    ]


def default_shape(value: cst.BaseExpression | None, is_name: IsName) -> str | None:
    """How a field's value gives it a None default: ``none`` (``= None``) or ``field``
    (``Field(None, ...)``, ``Field(default=None, ...)``); None for anything else."""
    if value is None:
        return None
    if _is_none(value):
        return "none"
    if (
        isinstance(value, cst.Call)
        and is_name(value.func, "pydantic.Field")
        and len(_without_none_default(value)) < len(value.args)
    ):
        return "field"
    return None


def without_default(value: cst.BaseExpression, shape: str) -> cst.BaseExpression | None:
    """A field's value (as updated) with its None default taken away: None for ``= None``
    and for a ``Field(None)`` left with no argument, else ``Field(...)`` without it."""
    if shape == "none":
        return None
    assert isinstance(value, cst.Call)
    kept = _without_none_default(value)
    if not kept:
        return None
    last = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return value.with_changes(args=[*kept[:-1], last])


def _without_none_default(call: cst.Call) -> list[cst.Arg]:
    return [
        arg
        for arg in call.args
        if not (
            ((arg.keyword is None and not arg.star) or _keyword(arg) == "default")
            and _is_none(arg.value)
        )
    ]


def core_name(annotation: cst.BaseExpression, is_name: IsName) -> cst.Name | None:
    """The plain name of the one type ``annotation`` holds, None aside: ``str`` in
    ``str``, ``Optional[str]``, ``str | None``, ``Union[str, None]``; else None."""
    shape = none_shape(annotation, is_name)
    inner = without_none(annotation, shape) if shape is not None else annotation
    return inner if isinstance(inner, cst.Name) else None


def _keyword(arg: cst.Arg) -> str:
    return arg.keyword.value if arg.keyword is not None else ""


def _is_none(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"
