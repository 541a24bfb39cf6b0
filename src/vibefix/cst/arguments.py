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
        # One argument a line: the last keeps the comment that ends its line and takes
        # the layout between arguments; the new one takes the closing layout.
        previous = args[-2].comma if len(args) > 1 else None
        if isinstance(previous, cst.Comma):  # its layout, not its comment
            previous = previous.with_changes(whitespace_after=_plain(previous.whitespace_after))
        between = (
            previous if isinstance(previous, cst.Comma) else cst.Comma(whitespace_after=opening)
        )
        kept = between.with_changes(
            whitespace_after=_commented(between.whitespace_after, last.comma.whitespace_after)
        )
        closing = last.comma.with_changes(whitespace_after=_plain(last.comma.whitespace_after))
        return [*args[:-1], last.with_changes(comma=kept), new.with_changes(comma=closing)]
    after = last.whitespace_after_arg
    if isinstance(after, cst.ParenthesizedWhitespace):
        # ``f(\n    a  # note\n)``: the line break before ``)`` moves after the new one.
        start = opening if isinstance(opening, cst.ParenthesizedWhitespace) else after
        comma = cst.Comma(whitespace_after=_commented(start, after))
        return [
            *args[:-1],
            last.with_changes(comma=comma, whitespace_after_arg=cst.SimpleWhitespace("")),
            new.with_changes(whitespace_after_arg=_plain(after)),
        ]
    return [*args[:-1], last.with_changes(comma=COMMA), new]


def _commented(
    layout: cst.BaseParenthesizableWhitespace, source: cst.BaseParenthesizableWhitespace
) -> cst.BaseParenthesizableWhitespace:
    """``layout`` ending its line with ``source``'s comment, if it has one."""
    if not isinstance(source, cst.ParenthesizedWhitespace) or source.first_line.comment is None:
        return layout
    if isinstance(layout, cst.ParenthesizedWhitespace):
        return layout.with_changes(first_line=source.first_line)
    return source


def _plain(whitespace: cst.BaseParenthesizableWhitespace) -> cst.BaseParenthesizableWhitespace:
    """``whitespace`` without the comment that ends its first line."""
    if isinstance(whitespace, cst.ParenthesizedWhitespace):
        return whitespace.with_changes(first_line=cst.TrailingWhitespace())
    return whitespace
