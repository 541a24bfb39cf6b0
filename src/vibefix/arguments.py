"""Call arguments: keyword arguments added to a call in the call's own layout."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

EQUAL = cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))
"""``=`` in a keyword argument, without spaces."""
COMMA = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
"""``, `` between arguments on one line."""


def keyword(name: str, value: cst.BaseExpression, comma: cst.Comma | None = None) -> cst.Arg:
    """The argument ``name=value``."""
    return cst.Arg(
        value, keyword=cst.Name(name), equal=EQUAL, comma=comma or cst.MaybeSentinel.DEFAULT
    )


def appended(
    args: Sequence[cst.Arg],
    new: cst.Arg | Sequence[cst.Arg],
    opening: cst.BaseParenthesizableWhitespace,
) -> list[cst.Arg]:
    """``args`` and ``new`` after them, laid out as they are: one a line with a trailing
    comma when the last has one (``opening`` is the space after the ``(``)."""
    result = list(args)
    for arg in [new] if isinstance(new, cst.Arg) else new:
        result = _appended_one(result, arg, opening)
    return result


def _appended_one(
    args: list[cst.Arg], new: cst.Arg, opening: cst.BaseParenthesizableWhitespace
) -> list[cst.Arg]:
    if not args:
        return [new]
    last = args[-1]
    if isinstance(last.comma, cst.Comma):
        between = args[-2].comma if len(args) > 1 else cst.Comma(whitespace_after=opening)
        return [*args[:-1], last.with_changes(comma=between), new.with_changes(comma=last.comma)]
    return [*args[:-1], last.with_changes(comma=COMMA), new]
