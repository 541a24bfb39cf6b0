"""The shapes of code VF101 reads and writes that need none of its state: keyword
arguments converted for the backend, loops over a streamed body made ``async for``, the
names and calls in a tree, where a module's imports end."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import libcst as cst

from vibefix.cst.arguments import EQUAL
from vibefix.http.support import LINES


def keywords(
    call: cst.Call,
    positional: Sequence[str],
    convert: Callable[[str, cst.BaseExpression], tuple[str, cst.BaseExpression]],
) -> list[cst.Arg]:
    """``call``'s arguments as keywords (``url`` and ``method`` as they are), each
    converted for the backend; ``stream=False`` goes (the body is read, as requests
    does), and the last argument keeps the last comma's style."""
    args: list[cst.Arg] = []
    for index, argument in enumerate(call.args):
        name = argument.keyword.value if argument.keyword else positional[index]
        if name in ("url", "method"):
            args.append(argument)
            continue
        if name == "stream":
            continue
        name, value = convert(name, argument.value)
        args.append(
            argument.with_changes(
                keyword=cst.Name(name),
                value=value,
                equal=argument.equal if argument.keyword else EQUAL,
            )
        )
    if args and len(args) < len(call.args):
        args[-1] = args[-1].with_changes(comma=call.args[-1].comma)
    return args


def is_none_or_tuple(value: cst.BaseExpression) -> bool:
    return isinstance(value, cst.Tuple) or (isinstance(value, cst.Name) and value.value == "None")


def async_for(updated: cst.For) -> cst.For:
    """``for c in r.iter_content(n):`` as ``async for c in r.aiter_bytes(n):``; requests'
    default chunk is one byte."""
    call = updated.iter
    assert isinstance(call, cst.Call)
    assert isinstance(call.func, cst.Attribute)
    args = list(call.args) or [cst.Arg(cst.Integer("1"))]
    args = [arg.with_changes(keyword=None, equal=cst.MaybeSentinel.DEFAULT) for arg in args]
    return updated.with_changes(
        asynchronous=cst.Asynchronous(),
        iter=call.with_changes(
            func=call.func.with_changes(attr=cst.Name("aiter_bytes")), args=args
        ),
    )


def async_lines(updated: cst.For) -> cst.For:
    """``for line in r.iter_lines(decode_unicode=True):`` as ``async for line in
    r.aiter_lines():``."""
    call = updated.iter
    assert isinstance(call, cst.Call)
    assert isinstance(call.func, cst.Attribute)
    return updated.with_changes(
        asynchronous=cst.Asynchronous(),
        iter=call.with_changes(func=call.func.with_changes(attr=cst.Name("aiter_lines")), args=[]),
    )


def async_byte_lines(updated: cst.For) -> cst.For:
    """``for line in r.iter_lines():`` as ``async for line in _http_lines(r):``."""
    call = updated.iter
    assert isinstance(call, cst.Call)
    assert isinstance(call.func, cst.Attribute)
    return updated.with_changes(
        asynchronous=cst.Asynchronous(),
        iter=cst.Call(cst.Name(LINES), [cst.Arg(call.func.value)]),
    )


def not_ok(updated: cst.UnaryOperation) -> cst.BaseExpression:
    """``not r.ok`` as ``r.is_error``."""
    assert isinstance(updated.expression, cst.Attribute)
    return updated.expression.with_changes(
        attr=cst.Name("is_error"), lpar=updated.lpar, rpar=updated.rpar
    )


def guarded(line: cst.SimpleStatementLine, name: str) -> cst.If:
    return cst.If(
        test=cst.parse_expression(f"{name}.is_error"),
        body=cst.IndentedBlock([line.with_changes(leading_lines=())]),
        leading_lines=line.leading_lines,
    )


class _Collect(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.calls: list[cst.Call] = []

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node)


def names_in(node: cst.CSTNode) -> set[str]:
    collect = _Collect()
    node.visit(collect)
    return collect.names


def calls_in(node: cst.CSTNode) -> list[cst.Call]:
    collect = _Collect()
    node.visit(collect)
    return collect.calls


def argument(call: cst.Call, positional: Sequence[str], name: str) -> cst.BaseExpression | None:
    """The value ``call`` passes for ``name``, by keyword or by position."""
    for index, argument in enumerate(call.args):
        if argument.star:
            continue
        given = argument.keyword.value if argument.keyword else positional[index]
        if given == name:
            return argument.value
    return None


_PLAIN_QUERY = re.compile(r"[A-Za-z0-9_.~=&-]*")
"""A query string that aiohttp sends as it is written (it encodes ``%``, ``+`` and the rest)."""


def plain_query(value: cst.BaseExpression) -> bool:
    """Whether aiohttp sends ``params=value`` as requests does without help: a query
    string of plain characters, or a dict literal of strings and numbers (no ``None``, no
    ``True``, no list)."""
    if isinstance(value, cst.SimpleString):
        text = value.evaluated_value
        return isinstance(text, str) and _PLAIN_QUERY.fullmatch(text) is not None
    if not isinstance(value, cst.Dict):
        return False
    for element in value.elements:
        if not isinstance(element, cst.DictElement):
            return False  # ``**more``
        if not is_text(element.key):
            return False
        item = element.value
        if isinstance(item, cst.UnaryOperation) and isinstance(item.operator, cst.Minus):
            item = item.expression
        if not (is_text(item) or isinstance(item, cst.Integer | cst.Float)):
            return False
    return True


def is_text(node: cst.BaseExpression) -> bool:
    """A str literal (not bytes, which aiohttp refuses in a query)."""
    if isinstance(node, cst.FormattedString):
        return True
    if isinstance(node, cst.SimpleString | cst.ConcatenatedString):
        return isinstance(node.evaluated_value, str)
    return False


def defines(module: cst.Module, name: str) -> bool:
    """Whether ``module`` defines ``name`` at its top level (a def or an assignment)."""
    for statement in module.body:
        if isinstance(statement, cst.FunctionDef | cst.ClassDef) and statement.name.value == name:
            return True
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.Assign) and any(
                    isinstance(t.target, cst.Name) and t.target.value == name for t in small.targets
                ):
                    return True
    return False


def without_blanks(lines: Sequence[cst.EmptyLine]) -> list[cst.EmptyLine]:
    first = next((i for i, line in enumerate(lines) if line.comment is not None), len(lines))
    return list(lines[first:])


def after_imports(body: Sequence[cst.BaseStatement]) -> int:
    """Where a module-level definition goes: after the last import that comes before the
    module's first definition or object made (``app = FastAPI()``), so that what it uses
    is imported and what uses it comes later (``load_dotenv()`` may sit between imports)."""
    at = 0
    for index, statement in enumerate(body):
        if isinstance(statement, cst.FunctionDef | cst.ClassDef):
            break
        if isinstance(statement, cst.SimpleStatementLine):
            smalls = statement.body
            if all(isinstance(small, cst.Import | cst.ImportFrom) for small in smalls):
                at = index + 1
            elif any(
                isinstance(small, cst.Assign | cst.AnnAssign) and isinstance(small.value, cst.Call)
                for small in smalls
            ):
                break
            elif index == at and all(is_docstring(small) for small in smalls):
                at = index + 1
    return at


def is_docstring(small: cst.BaseSmallStatement) -> bool:
    return isinstance(small, cst.Expr) and isinstance(small.value, cst.SimpleString)
