"""Edits of a Pydantic model's fields, shared by VF300-VF304: take None out of an
annotation, take a ``None`` default away, add a keyword to ``Field(...)``."""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from vibefix.arguments import appended, keyword

IsName = Callable[[cst.CSTNode, str], bool]
"""Whether a node can only mean the imported name (``typing.Optional``)."""


def without_none(annotation: cst.BaseExpression, is_name: IsName) -> cst.BaseExpression | None:
    """``annotation`` without None: ``Optional[X]`` -> ``X``, ``X | None`` -> ``X``,
    ``Union[X, None]`` -> ``X``, ``Union[X, Y, None]`` -> ``Union[X, Y]``; None when it
    has no None to take out or no way to say the rest."""
    if isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr):
        if _is_none(annotation.right):
            return annotation.left
        if _is_none(annotation.left):
            return annotation.right
        left = without_none(annotation.left, is_name)
        if left is not None:
            return annotation.with_changes(left=left)
        return None
    if not isinstance(annotation, cst.Subscript):
        return None
    elements = list(annotation.slice)
    if is_name(annotation.value, "typing.Optional") and len(elements) == 1:
        inner = elements[0].slice
        return inner.value if isinstance(inner, cst.Index) else None
    if is_name(annotation.value, "typing.Union"):
        kept = [
            element
            for element in elements
            if not (isinstance(element.slice, cst.Index) and _is_none(element.slice.value))
        ]
        if len(kept) == len(elements) or not kept:
            return None
        if len(kept) == 1:
            only = kept[0].slice
            return only.value if isinstance(only, cst.Index) else None
        last = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return annotation.with_changes(slice=[*kept[:-1], last])
    return None


def without_default(
    value: cst.BaseExpression | None, is_field: IsName
) -> tuple[bool, cst.BaseExpression | None]:
    """A field's value with its None default taken away: ``(True, None)`` for ``= None``,
    ``(True, Field(max_length=5))`` for ``= Field(None, max_length=5)``, ``(True, None)``
    for ``Field(default=None)``; ``(False, value)`` when the default is something else."""
    if value is None:
        return False, None
    if _is_none(value):
        return True, None
    if isinstance(value, cst.Call) and is_field(value.func, "pydantic.Field"):
        kept = [
            arg
            for arg in value.args
            if not (
                ((arg.keyword is None and not arg.star) or _keyword(arg) == "default")
                and _is_none(arg.value)
            )
        ]
        if len(kept) == len(value.args):
            return False, value
        if not kept:
            return True, None
        last = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return True, value.with_changes(args=[*kept[:-1], last])
    return False, value


def with_field_keywords(
    value: cst.BaseExpression | None, keywords: list[tuple[str, cst.BaseExpression]], field: str
) -> cst.BaseExpression:
    """``value`` with ``keywords`` added to its ``Field(...)`` call, or a new
    ``Field(...)`` (``field``: how ``pydantic.Field`` is spelled here) holding the old
    default, if any, as ``default=``."""
    new = [keyword(name, expression) for name, expression in keywords]
    if isinstance(value, cst.Call):
        return value.with_changes(args=appended(value.args, new, value.whitespace_before_args))
    args = [keyword("default", value), *new] if value is not None else new
    return cst.Call(cst.parse_expression(field), appended([], args, cst.SimpleWhitespace("")))


def _keyword(arg: cst.Arg) -> str:
    return arg.keyword.value if arg.keyword is not None else ""


def _is_none(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"
