"""What VF101 knows of ``requests`` and httpx: which ``requests`` calls map faithfully onto
an httpx client call, and what their arguments, responses and exceptions become.

One analysis serves both stages. The index records, for every ``requests`` call, why it
cannot be rewritten (then the plan runs it in a thread instead of making its function
async around a call left blocking); the codemod rewrites what the same analysis allows.
The mappings are checked against a real local server in ``tests/test_httpmap_server.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from vibefix.cst.tree import Parents, inside

CODE = "<code>"
"""Stands for the code of the codemod that rewrites requests' calls in the reasons this
analysis gives (a fact of the index, made before any codemod is known): ``said`` puts
the code in."""


def said(reason: str, code: str) -> str:
    """``reason`` as told to the user, with ``code`` for ``CODE``."""
    return reason.replace(CODE, code)


Qualify = Callable[[cst.CSTNode], Collection[str]]
"""The fully qualified names an expression may mean (``requests.get`` for ``rq.get``)."""

# requests' module-level API: the parameters each function takes by position.
API: dict[str, tuple[str, ...]] = {
    "get": ("url", "params"),
    "options": ("url",),
    "head": ("url",),
    "post": ("url", "data", "json"),
    "put": ("url", "data"),
    "patch": ("url", "data"),
    "delete": ("url",),
    "request": ("method", "url"),
}
_PREFIXES = ("requests.", "requests.api.")

KEYWORDS = frozenset(
    {"params", "data", "json", "headers", "files", "auth", "timeout", "allow_redirects", "stream"}
)
"""Keyword arguments an httpx client call takes as requests does (``data`` and
``timeout`` and ``allow_redirects`` mapped, ``stream=False`` dropped)."""

_CLIENT_SETTINGS = {
    "verify": "`verify` is a client setting in httpx",
    "cert": "`cert` is a client setting in httpx",
    "proxies": "`proxies` is a client setting in httpx (`proxy=` / `mounts=`)",
    "cookies": "per-request `cookies` are deprecated in httpx: they belong to the client",
    "hooks": "httpx has event hooks on the client, not per request",
}

RESPONSE_ATTRIBUTES: dict[str, str] = {
    "status_code": "status_code",
    "headers": "headers",
    "text": "text",
    "content": "content",
    "json": "json",
    "elapsed": "elapsed",
    "is_redirect": "is_redirect",
    "reason": "reason_phrase",
    "ok": "is_error",  # negated: 3xx is ok in requests, as in httpx's `not is_error`
    "raise_for_status": "raise_for_status",  # as a statement, guarded by `if r.is_error:`
}
"""The attributes of a ``requests.Response`` whose httpx counterpart means the same."""

EXCEPTIONS: dict[str, tuple[str, ...]] = {
    # requests' JSON errors are RequestExceptions, httpx's are not; a bad URL is
    # httpx.InvalidURL, which is not an HTTPError.
    "RequestException": ("{x}.HTTPError", "{x}.InvalidURL", "json.JSONDecodeError"),
    "HTTPError": ("{x}.HTTPStatusError",),
    # Not TransportError: requests' ConnectionError never caught a read timeout while
    # waiting for the response (one while reading the body, it did: said in the docs).
    "ConnectionError": (
        "{x}.NetworkError",
        "{x}.ProtocolError",
        "{x}.ProxyError",
        "{x}.ConnectTimeout",
    ),
    "Timeout": ("{x}.TimeoutException",),
    "ConnectTimeout": ("{x}.ConnectTimeout",),
    "ReadTimeout": ("{x}.ReadTimeout",),
    "TooManyRedirects": ("{x}.TooManyRedirects",),
    "JSONDecodeError": ("json.JSONDecodeError",),
}
"""What an ``except requests.X`` becomes, ``{x}`` being the httpx module's name."""

AIOHTTP_RESPONSE: dict[str, str] = {
    "status_code": "status",
    "headers": "headers",
    "text": "text",  # `await r.text(errors="replace")`, as requests decodes
    "content": "content",  # `await r.read()`
    "json": "json",  # `json.loads(await r.read())`: an empty body is an error, as in requests
    "reason": "reason",
    "ok": "ok",  # status < 400, as in requests
    "raise_for_status": "raise_for_status",  # raises for status >= 400, as requests does
}
"""The attributes of a ``requests.Response`` whose aiohttp counterpart means the same."""
BODY_READS = frozenset({"text", "content", "json"})
"""What reads the body: awaited in aiohttp."""

AIOHTTP_EXCEPTIONS: dict[str, tuple[str, ...]] = {
    # A bad URL, a refused connection and timeouts are all ClientErrors.
    "RequestException": ("{x}.ClientError", "json.JSONDecodeError"),
    "HTTPError": ("{x}.ClientResponseError",),
    # Not ClientConnectionError: it takes in read timeouts, which requests'
    # ConnectionError never caught while waiting for the response.
    "ConnectionError": (
        "{x}.ClientOSError",
        "{x}.ServerDisconnectedError",
        "{x}.ConnectionTimeoutError",
    ),
    "Timeout": ("{x}.ServerTimeoutError",),
    "ConnectTimeout": ("{x}.ConnectionTimeoutError",),
    "ReadTimeout": ("{x}.SocketTimeoutError",),
    "TooManyRedirects": ("{x}.TooManyRedirects",),
    "JSONDecodeError": ("json.JSONDecodeError",),
}
"""What an ``except requests.X`` becomes with aiohttp, ``{x}`` being aiohttp's name."""


def exceptions(library: str) -> dict[str, tuple[str, ...]]:
    """The exception table of ``library``."""
    return AIOHTTP_EXCEPTIONS if library == "aiohttp" else EXCEPTIONS


def response_attributes(library: str) -> dict[str, str]:
    """The response attribute table of ``library``."""
    return AIOHTTP_RESPONSE if library == "aiohttp" else RESPONSE_ATTRIBUTES


_AIOHTTP_UNMAPPED = {
    "auth": f"aiohttp deprecates `auth=`: {CODE} leaves it (an `Authorization` header would do)",
    "files": f"`files` is an `aiohttp.FormData` in aiohttp: {CODE} leaves it",
}

_CATCH_ALL = frozenset(
    {
        "builtins.Exception",
        "builtins.BaseException",
        "requests.RequestException",
        "requests.exceptions.RequestException",
    }
)
_OS_ERRORS = frozenset({"builtins.OSError", "builtins.IOError", "builtins.EnvironmentError"})
_HARMLESS_MODULES = ("builtins.", "json.", "time.", "asyncio.", "logging.", "math.", "re.")
"""Calls of these cannot raise one of requests' exceptions (``print``, ``json.loads``)."""

STREAM_OBSTACLE = (
    f"a streamed response is read later: {CODE} rewrites only `with requests.get(u,"
    " stream=True) as r:` read by `for chunk in r.iter_content(n):` or `for line in"
    " r.iter_lines():`"
)
AIOHTTP_STREAM_OBSTACLE = (
    f"a streamed response is read later: {CODE} rewrites streams to httpx, not yet to aiohttp"
)
STREAMING = "streaming"
"""The kind of obstacle that leaves a call blocking (not even offloadable): a streamed
response is read later, on the event loop."""


SESSIONS = frozenset({"requests.Session", "requests.session", "requests.sessions.Session"})
"""What makes a ``requests.Session``."""
SESSION_API: dict[str, tuple[str, ...]] = {**API, "get": ("url",)}
"""A session's methods: as the module's functions, but ``Session.get`` takes only the
URL by position."""
CLOSE = "close"
"""``session.close()``, which becomes ``await session.aclose()``."""


def session_verb(names: Collection[str]) -> str | None:
    """The session method ``names`` means (``requests.Session().get``), or None."""
    verbs = set()
    for name in names:
        maker, _, verb = name.rpartition("().")
        if maker not in SESSIONS or (verb not in SESSION_API and verb != CLOSE):
            return None
        verbs.add(verb)
    return verbs.pop() if len(verbs) == 1 else None


def api_verb(names: Collection[str]) -> str | None:
    """The requests API function ``names`` means (``"get"``), or None."""
    verbs = set()
    for name in names:
        prefix = next((p for p in _PREFIXES if name.startswith(p)), None)
        verb = name[len(prefix) :] if prefix else None
        if verb not in API:
            return None
        verbs.add(verb)
    return verbs.pop() if len(verbs) == 1 else None


def exception_name(names: Collection[str]) -> str | None:
    """``RequestException`` for ``requests.exceptions.RequestException``; None for a
    name that is not one of requests' exceptions."""
    short = {
        name.rpartition(".")[2]
        for name in names
        if name.startswith(("requests.exceptions.", "requests."))
        and name.count(".") <= 2
        and name.rpartition(".")[0] in ("requests", "requests.exceptions")
    }
    return short.pop() if len(short) == 1 and len(names) == 1 else None


@dataclass
class HttpCall:
    """One call of requests' API and what VF101 makes of it."""

    node: cst.Call
    verb: str
    obstacle: str = ""
    """Why it is not rewritten; empty when it is."""
    kind: str = ""
    """``STREAMING`` when the obstacle leaves the call blocking even in a thread."""
    statement: cst.BaseStatement | None = None
    """The statement that holds it, which the client's ``async with`` wraps."""
    response: str | None = None
    """The local name its response is assigned to."""
    escapes: bool = True
    """Whether an exception it raises may leave the function (no ``except`` that
    catches everything requests raises encloses it)."""
    session: str | None = None
    """The local session it is a method of (``s`` in ``s.get(u)``): the session's
    client makes it, no client of its own."""
    stream: cst.With | None = None
    """``with requests.get(u, stream=True) as r:``: the ``with`` that becomes
    ``async with client.stream("GET", u) as r:``."""


@dataclass
class Session:
    """A ``requests.Session()`` made in the function, which becomes a client."""

    name: str
    made: cst.Call
    """``requests.Session()``: it becomes ``_http_client()``."""
    within: cst.With | None = None
    """The ``with`` that opens it, which becomes ``async with``; None for an assignment,
    which its ``close()`` call closes."""
    obstacle: str = ""


@dataclass
class HttpFunction:
    """The analysis of one function: its requests calls, and the rewrites they need."""

    calls: dict[cst.Call, HttpCall] = field(default_factory=dict)
    attributes: dict[cst.Attribute, str] = field(default_factory=dict)
    """Response attributes to rename: ``r.reason`` -> ``reason_phrase``; ``ok`` means
    ``not r.is_error``."""
    negate_parenthesized: set[cst.Attribute] = field(default_factory=set)
    """``r.ok`` uses that need parentheses once negated."""
    negated: dict[cst.UnaryOperation, cst.Attribute] = field(default_factory=dict)
    """``not r.ok``: it becomes ``r.is_error``."""
    raise_statements: dict[cst.SimpleStatementLine, str] = field(default_factory=dict)
    """``r.raise_for_status()`` lines, by response name: they become ``if r.is_error:``."""
    handlers: dict[cst.ExceptHandler, tuple[cst.Try, tuple[cst.BaseExpression, ...]]] = field(
        default_factory=dict
    )
    """Handlers that name requests' exceptions: their ``try`` and the names to map."""
    sessions: dict[str, Session] = field(default_factory=dict)
    """The sessions made in the function, by name."""
    stream_loops: dict[cst.For, cst.Call] = field(default_factory=dict)
    """``for chunk in r.iter_content(n):`` loops over a streamed response, with their
    ``iter_content`` call: they become ``async for chunk in r.aiter_bytes(n):``."""
    line_loops: dict[cst.For, tuple[cst.Call, bool]] = field(default_factory=dict)
    """``for line in r.iter_lines():`` loops over a streamed response, with their
    ``iter_lines`` call and whether it decodes (``decode_unicode=True``): they become
    ``async for line in r.aiter_lines():`` (str) or ``_http_lines(r)`` (bytes)."""
    raisers: list[tuple[str, cst.CSTNode]] = field(default_factory=list)
    """Uses of a response that raise (``r.raise_for_status()``, ``r.json()``), by name."""
    json_handlers: dict[cst.ExceptHandler, bool] = field(default_factory=dict)
    """Whether the ``try`` of each mapped handler reads a response's JSON: only then does
    ``RequestException`` stand for ``json.JSONDecodeError`` too."""
    library: str = "httpx"
    """The API the calls become: ``"httpx"`` or ``"aiohttp"``."""
    reads: dict[cst.CSTNode, str] = field(default_factory=dict)
    """aiohttp: reads of the body, which are awaited there: ``r.text`` and ``r.content``
    (the attribute) and ``r.json(...)`` (the call), by what they read."""
    quotes: dict[cst.CSTNode, str] = field(default_factory=dict)
    """aiohttp: the quote a string written in a read must use (``'`` in an f-string
    written with ``"``): the other reads use ``"``."""

    def rewritten(self) -> Iterator[HttpCall]:
        return (call for call in self.calls.values() if not call.obstacle)


def analyse(
    function: cst.FunctionDef,
    qualify: Qualify,
    library: str = "httpx",
    tuples: Collection[str] = (),
) -> HttpFunction:
    """The requests calls of ``function`` (nested functions excluded: they are analysed
    as themselves), each with the reason it cannot be rewritten into ``library``'s API
    (``"httpx"`` or ``"aiohttp"``), if any. ``tuples``: the module-level names assigned
    a tuple (``TIMEOUT = (3, 27)``)."""
    walker = Parents()
    function.visit(walker)
    parent = walker.parent
    result = HttpFunction(library=library)

    def owner(node: cst.CSTNode) -> cst.CSTNode | None:
        """The innermost function or lambda around ``node``."""
        current = parent.get(node)
        while current is not None and not isinstance(current, cst.FunctionDef | cst.Lambda):
            current = parent.get(current)
        return current

    names: dict[str, list[cst.Name]] = {}
    for node in parent:
        if isinstance(node, cst.Name):
            names.setdefault(node.value, []).append(node)
        if isinstance(node, cst.Call) and owner(node) is function:
            verb = api_verb(qualify(node.func))
            if verb is not None:
                result.calls[node] = HttpCall(node, verb)
            elif set(qualify(node.func)) & SESSIONS and not node.args:
                _session(node, parent, result)
    for session in result.sessions.values():
        _session_uses(session, names.get(session.name, []), parent, result, owner, function)

    for call in result.calls.values():
        if call.verb == CLOSE:
            continue
        api = SESSION_API if call.session else API
        call.obstacle, call.kind = _argument_obstacle(call.node, call.verb, api, library)
        if not call.obstacle:
            call.obstacle = _timeout_obstacle(call, parent, names, tuples, api)
        if not call.obstacle and library == "httpx":  # aiohttp merges, as requests does
            call.obstacle = _url_obstacle(call, parent, function, names, api)
        call.statement = _statement(call.node, parent, function)
        if not call.obstacle and _in_class_body(call.node, parent, function):
            call.obstacle = "it sits in a class body, where `await` is not allowed"
        if call.session:
            pass  # the session's client makes it: nothing to wrap
        elif call.statement is None and not call.obstacle:
            call.obstacle = (
                "it sits where no statement can be wrapped in a client (an `elif` test,"
                " a one-line block)"
            )
        elif call.statement is not None and not call.obstacle and _yields(call.statement):
            call.obstacle = (
                "its statement yields: the client would stay open while the generator waits"
            )
        if call.kind == STREAMING and call.obstacle == STREAM_OBSTACLE:
            _stream(call, parent)
            continue
        _use_of_response(call, parent, result)
    for session in result.sessions.values():
        if session.obstacle:
            for call in result.calls.values():
                if call.session == session.name and not call.obstacle:
                    call.obstacle = session.obstacle
    # A call inside a statement that another call's client wraps uses that client:
    # two ``async with`` of one name, one inside the other, would leave the outer
    # statement with the inner, closed, client (``while`` tests are evaluated again).
    statements = {c.statement for c in result.calls.values() if c.statement and not c.session}
    for call in result.calls.values():
        above = parent.get(call.statement) if call.statement and not call.session else None
        while above is not None and above is not function:
            if above in statements:
                assert isinstance(above, cst.BaseStatement)
                call.statement = above
            above = parent.get(above)
    _check_responses(result, names, parent)
    _check_exceptions(result, parent, function, qualify)
    # Calls whose responses share a name, or whose excepts are shared, stand or fall
    # together: a response is of one type, a handler catches one library's errors.
    changed = True
    while changed:
        changed = False
        for group in _groups(result, parent, function):
            blocked = next((c for c in group if c.obstacle), None)
            if blocked is None:
                continue
            for call in group:
                if not call.obstacle:
                    call.obstacle = (
                        f"it shares its response name or its `try` with a call {CODE} leaves"
                        f" ({blocked.obstacle})"
                    )
                    changed = True
    for call in result.calls.values():
        if call.stream is not None and call.obstacle:
            call.kind = STREAMING  # its body is read later, on the loop: not even a thread
    left = {c.response for c in result.calls.values() if c.obstacle and c.response}
    left_calls = {id(c.node) for c in result.calls.values() if c.obstacle}

    def stays_owner(owner: cst.BaseExpression) -> bool:
        return owner.value in left if isinstance(owner, cst.Name) else id(owner) in left_calls

    def stays(attribute: cst.Attribute) -> bool:
        return stays_owner(attribute.value)

    def read_owner(node: cst.CSTNode) -> cst.BaseExpression:
        func = node.func if isinstance(node, cst.Call) else node
        assert isinstance(func, cst.Attribute)
        return func.value

    result.attributes = {a: new for a, new in result.attributes.items() if not stays(a)}
    result.negated = {n: a for n, a in result.negated.items() if not stays(a)}
    result.negate_parenthesized = {a for a in result.negate_parenthesized if not stays(a)}
    result.raise_statements = {
        line: name for line, name in result.raise_statements.items() if name not in left
    }
    result.reads = {n: k for n, k in result.reads.items() if not stays_owner(read_owner(n))}
    result.stream_loops = {
        loop: call
        for loop, call in result.stream_loops.items()
        if not (isinstance(call.func, cst.Attribute) and stays(call.func))
    }
    result.line_loops = {
        loop: (call, decode)
        for loop, (call, decode) in result.line_loops.items()
        if not (isinstance(call.func, cst.Attribute) and stays(call.func))
    }
    if not any(True for _ in result.rewritten()):
        result.handlers.clear()
    return result


def _argument_obstacle(
    node: cst.Call, verb: str, api: Mapping[str, tuple[str, ...]] = API, library: str = "httpx"
) -> tuple[str, str]:
    positional = api[verb]
    seen_keyword = False
    streamed = False
    for index, argument in enumerate(node.args):
        if argument.star:
            return f"its arguments are unpacked (`*args`, `**kwargs`): unknown to {CODE}", ""
        if argument.keyword is None:
            if seen_keyword or index >= len(positional):
                return "it passes more positional arguments than requests' API names", ""
            name = positional[index]
        else:
            seen_keyword = True
            name = argument.keyword.value
        if name in _CLIENT_SETTINGS:
            if library == "aiohttp":
                return f"{CODE} does not map `{name}` onto aiohttp", ""
            return _CLIENT_SETTINGS[name], ""
        if name in ("url", "method"):
            continue
        if name not in KEYWORDS:
            return f"{library} has no `{name}` argument", ""
        if library == "aiohttp" and name in _AIOHTTP_UNMAPPED:
            return _AIOHTTP_UNMAPPED[name], ""
        value = argument.value
        if name == "stream":
            if not (isinstance(value, cst.Name) and value.value in ("False", "True")):
                return "`stream=` is neither `True` nor `False`", STREAMING
            streamed = streamed or value.value == "True"
        elif name == "auth" and not (isinstance(value, cst.Tuple) and len(value.elements) == 2):
            return "only a `(user, password)` tuple `auth` means the same in httpx", ""
        elif name == "data" and data_kind(value) is None and library == "httpx":
            return (
                "`data` may be a string (httpx's `content=`) or a form (`data=`): write a"
                " literal, or `json.dumps(...)`",
                "",
            )
        elif name == "timeout" and isinstance(value, cst.Tuple) and len(value.elements) != 2:
            return "a `timeout` tuple other than `(connect, read)`", ""
        elif name == "timeout" and library == "aiohttp" and not _plain(value):
            return (
                "its `timeout` is an expression aiohttp would need twice (`sock_connect`,"
                " `sock_read`): name it first",
                "",
            )
    if streamed and library == "aiohttp":
        return AIOHTTP_STREAM_OBSTACLE, STREAMING
    if streamed:
        return STREAM_OBSTACLE, STREAMING
    return "", ""


def _plain(value: cst.BaseExpression) -> bool:
    """A tuple, a name, a number or a dotted name: the same value when written twice."""
    if isinstance(value, cst.UnaryOperation) and isinstance(value.operator, cst.Minus):
        value = value.expression
    while isinstance(value, cst.Attribute):
        value = value.value
    return isinstance(value, cst.Tuple | cst.Name | cst.Integer | cst.Float)


def data_kind(value: cst.BaseExpression) -> str | None:
    """``"content"`` for a body that is a string or bytes, ``"data"`` for a form, None
    when the expression does not say which."""
    if isinstance(value, cst.SimpleString | cst.ConcatenatedString | cst.FormattedString):
        return "content"
    if isinstance(value, cst.Dict | cst.DictComp):
        return "data"
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute):
        func = value.func
        if isinstance(func.value, cst.Name) and func.value.value == "json":
            return "content" if func.attr.value == "dumps" else None
        if func.attr.value == "encode":
            return "content"
    return None


def _statement(
    node: cst.CSTNode, parent: dict[cst.CSTNode, cst.CSTNode], function: cst.FunctionDef
) -> cst.BaseStatement | None:
    """The statement of ``function``'s blocks that holds ``node``."""
    current: cst.CSTNode = node
    while True:
        above = parent.get(current)
        if above is None or above is function:
            return None
        if isinstance(current, cst.BaseStatement) and isinstance(above, cst.IndentedBlock):
            return current
        if isinstance(current, cst.BaseStatement) and isinstance(above, cst.If | cst.Else):
            return None  # an ``elif``: its test cannot be wrapped alone
        if isinstance(current, cst.Decorator):
            return None
        current = above


def _in_class_body(
    node: cst.CSTNode, parent: dict[cst.CSTNode, cst.CSTNode], function: cst.FunctionDef
) -> bool:
    """Whether ``node`` sits in a class defined inside ``function``."""
    current = parent.get(node)
    while current is not None and current is not function:
        if isinstance(current, cst.ClassDef):
            return True
        current = parent.get(current)
    return False


def _session(made: cst.Call, parent: dict[cst.CSTNode, cst.CSTNode], result: HttpFunction) -> None:
    """``s = requests.Session()`` or ``with requests.Session() as s:``."""
    above = parent.get(made)
    name: str | None = None
    within: cst.With | None = None
    if isinstance(above, cst.Assign) and len(above.targets) == 1:
        target = above.targets[0].target
        name = target.value if isinstance(target, cst.Name) else None
    elif isinstance(above, cst.WithItem) and above.asname is not None:
        target = above.asname.name
        name = target.value if isinstance(target, cst.Name) else None
        holder = parent.get(above)
        within = holder if isinstance(holder, cst.With) and len(holder.items) == 1 else None
        if within is None or within.asynchronous is not None:
            name = None
    if name is None:
        return
    if name in result.sessions:
        result.sessions[name].obstacle = f"two sessions are named `{name}`"
        return
    result.sessions[name] = Session(name, made, within)


def _session_uses(
    session: Session,
    uses: list[cst.Name],
    parent: dict[cst.CSTNode, cst.CSTNode],
    result: HttpFunction,
    owner: Callable[[cst.CSTNode], cst.CSTNode | None],
    function: cst.FunctionDef,
) -> None:
    """The session's calls; an obstacle for any other use (configured, passed on, used
    in a nested function, or after it is closed: requests reopens a closed session,
    httpx does not)."""
    closed = session.within is not None
    order = {node: index for index, node in enumerate(parent)}
    closing: cst.Call | None = None
    for use in uses:
        above = parent.get(use)
        if isinstance(above, cst.AssignTarget | cst.AsName):
            continue  # where it is made
        if owner(use) is not function:
            session.obstacle = session.obstacle or (
                f"the session `{session.name}` is used in a nested function"
            )
            continue
        if session.within is not None and not inside(use, session.within.body, parent):
            session.obstacle = session.obstacle or (
                f"the session `{session.name}` is used after its `with`"
            )
            continue
        call = parent.get(above) if isinstance(above, cst.Attribute) else None
        if (
            isinstance(above, cst.Attribute)
            and above.value is use
            and isinstance(call, cst.Call)
            and call.func is above
        ):
            verb = above.attr.value
            if verb == CLOSE and session.within is None and isinstance(parent.get(call), cst.Expr):
                closed = True
                closing = call
                result.calls[call] = HttpCall(call, CLOSE, session=session.name)
                continue
            if verb in SESSION_API:
                result.calls[call] = HttpCall(call, verb, session=session.name)
                continue
        session.obstacle = session.obstacle or (
            f"the session `{session.name}` is configured or passed on (only its request"
            " methods and `close()` map onto a client)"
        )
    if not closed:
        session.obstacle = session.obstacle or (
            f"the session `{session.name}` is never closed: open it with `with`"
        )
    if closing is not None and any(
        order.get(use, 0) > order[closing] and not inside(use, closing, parent)
        for use in uses
        if owner(use) is function
    ):
        session.obstacle = session.obstacle or (
            f"the session `{session.name}` is used after `close()`"
        )


def _stream(call: HttpCall, parent: dict[cst.CSTNode, cst.CSTNode]) -> None:
    """``with requests.get(u, stream=True) as r:``: a streamed response VF101 rewrites
    (its uses are checked with the other responses')."""
    item = parent.get(call.node)
    within = parent.get(item) if item is not None else None
    if not (
        isinstance(item, cst.WithItem)
        and item.item is call.node
        and item.asname is not None
        and isinstance(item.asname.name, cst.Name)
        and isinstance(within, cst.With)
        and len(within.items) == 1
        and within.asynchronous is None
    ):
        return
    call.obstacle, call.kind = "", ""
    call.stream = within
    call.response = item.asname.name.value


def _yields(statement: cst.CSTNode) -> bool:
    """Whether ``statement`` yields, outside the functions and lambdas it defines."""

    class Finder(cst.CSTVisitor):
        found = False

        def visit_Yield(self, node: cst.Yield) -> None:
            self.found = True

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False

        def visit_Lambda(self, node: cst.Lambda) -> bool:
            return False

    finder = Finder()
    statement.visit(finder)
    return finder.found


def _use_of_response(
    call: HttpCall, parent: dict[cst.CSTNode, cst.CSTNode], result: HttpFunction
) -> None:
    """Where the response goes: assigned to a name, used in place, or dropped."""
    node: cst.CSTNode = call.node
    above = parent.get(node)
    if isinstance(above, cst.Expr):
        return
    if isinstance(above, cst.Assign) and above.value is node:
        targets = above.targets
        if len(targets) == 1 and isinstance(targets[0].target, cst.Name):
            call.response = targets[0].target.value
            return
    in_place = response_attributes(result.library).keys() - {"ok", "raise_for_status"}
    if isinstance(above, cst.Attribute) and above.value is node and above.attr.value in in_place:
        problem = _rename(above, result, parent)
        if problem and not call.obstacle:
            call.obstacle = problem
        return
    if not call.obstacle:
        call.obstacle = (
            "its response leaves the expression (returned, passed, stored): code elsewhere"
            f" would get an {result.library} response"
        )


def _rename(
    attribute: cst.Attribute, result: HttpFunction, parent: dict[cst.CSTNode, cst.CSTNode]
) -> str:
    """Record what ``attribute`` of a response becomes; why it cannot, else ``""``."""
    attr = attribute.attr.value
    new = response_attributes(result.library)[attr]
    if result.library == "aiohttp" and attr in BODY_READS:
        if _in_nested_scope(attribute, parent):
            return (
                f"`{attr}` is read in a lambda, a nested function or a generator expression,"
                " where aiohttp's read cannot be awaited"
            )
        quote = _free_quote(attribute, parent)
        if quote is None:
            return f"`{attr}` is read in f-strings written with both quotes"
        if quote != '"':
            result.quotes[attribute] = quote
        if attr != "json":
            result.reads[attribute] = attr
            return ""
        call = parent.get(attribute)
        if not (isinstance(call, cst.Call) and call.func is attribute):
            return "`json` is used other than called: aiohttp's is awaited"
        result.reads[call] = attr
        if quote != '"':
            result.quotes[call] = quote
        return ""
    if new != attr:
        result.attributes[attribute] = new
    return ""


def _free_quote(node: cst.CSTNode, parent: dict[cst.CSTNode, cst.CSTNode]) -> str | None:
    """The quote a string written at ``node`` may use: before Python 3.12, not one of the
    f-strings around it; None when they use both."""
    used = set()
    current = parent.get(node)
    while current is not None:
        if isinstance(current, cst.FormattedString):
            used.add(current.quote[0])
        current = parent.get(current)
    free = [quote for quote in ('"', "'") if quote not in used]
    return free[0] if free else None


def _in_nested_scope(node: cst.CSTNode, parent: dict[cst.CSTNode, cst.CSTNode]) -> bool:
    """Whether ``node`` sits in a lambda, a generator expression or a function nested in
    the one analysed (the root of ``parent``)."""
    current = parent.get(node)
    while current is not None:
        above = parent.get(current)
        if isinstance(current, cst.Lambda | cst.GeneratorExp) or (
            isinstance(current, cst.FunctionDef) and above is not None
        ):
            return True
        current = above
    return False


def _check_responses(
    result: HttpFunction, names: dict[str, list[cst.Name]], parent: dict[cst.CSTNode, cst.CSTNode]
) -> None:
    """Every use of a response name must be an attribute VF101 maps."""
    by_name: dict[str, list[HttpCall]] = {}
    for call in result.calls.values():
        if call.response is not None:
            by_name.setdefault(call.response, []).append(call)
    assigned = {id(c.node) for c in result.calls.values()}
    for name, calls in by_name.items():
        problem = ""
        streamed = any(call.stream is not None for call in calls)
        for use in names.get(name, []):
            above = parent.get(use)
            if streamed and not all(call.stream is not None for call in calls):
                problem = f"`{name}` holds a streamed response and a read one"
            elif isinstance(above, cst.AsName):
                item = parent.get(above)
                if isinstance(item, cst.WithItem) and id(item.item) in assigned:
                    continue
                problem = f"`{name}` is also bound to something else"
            elif streamed and isinstance(above, cst.Attribute) and above.value is use:
                attr = above.attr.value
                if attr == "iter_content":
                    problem = _stream_loop(above, parent, result)
                    result.raisers.append((name, above))  # reading the body raises
                elif attr in ("content", "text", "json", "elapsed"):
                    problem = (
                        f"`{name}.{attr}` reads a streamed body, which httpx must `aread()` first"
                    )
                elif attr == "iter_lines":
                    problem = _lines_loop(above, parent, result)
                    result.raisers.append((name, above))
                else:
                    problem = _response_attribute(name, above, parent, result)
            elif isinstance(above, cst.AssignTarget):
                assign = parent.get(above)
                if isinstance(assign, cst.Assign) and id(assign.value) in assigned:
                    continue
                problem = f"`{name}` is also assigned something else"
            elif isinstance(above, cst.Attribute) and above.value is use:
                problem = _response_attribute(name, above, parent, result)
            else:
                problem = f"the response `{name}` is used as a whole (returned, passed, stored)"
            if problem:
                break
        if not problem and result.library == "aiohttp":
            problem = _content_after_raise(name, names.get(name, []), parent)
        if problem:
            for call in calls:
                call.obstacle = call.obstacle or problem


def _content_after_raise(
    name: str, uses: list[cst.Name], parent: dict[cst.CSTNode, cst.CSTNode]
) -> str:
    """aiohttp: a failed ``raise_for_status()`` releases the body's bytes (its text and
    JSON stay): a response that is raised for and whose ``content`` is read is left."""
    read = {
        above.attr.value
        for use in uses
        if isinstance(above := parent.get(use), cst.Attribute) and above.value is use
    }
    if {"raise_for_status", "content"} <= read:
        return (
            f"`{name}.content` may be read after `raise_for_status()`, which releases the"
            " body in aiohttp"
        )
    return ""


def _response_attribute(
    name: str,
    above: cst.Attribute,
    parent: dict[cst.CSTNode, cst.CSTNode],
    result: HttpFunction,
) -> str:
    """What ``name.attr`` becomes; why it cannot be rewritten, else ``""``."""
    attr = above.attr.value
    httpx = result.library == "httpx"
    if attr not in response_attributes(result.library):
        return f"`{name}.{attr}` has no faithful {result.library} counterpart"
    if attr == "raise_for_status":
        result.raisers.append((name, above))
        line = _raise_line(above, parent)
        if line is None:
            return f"`{name}.raise_for_status` is used other than as a statement"
        if httpx and not _under_not_ok(line, name, parent):
            result.raise_statements[line] = name
    elif attr == "ok" and httpx:
        result.attributes[above] = "is_error"
        holder = parent.get(above)
        if isinstance(holder, cst.UnaryOperation) and isinstance(holder.operator, cst.Not):
            result.negated[holder] = above
        if not isinstance(
            holder,
            cst.If | cst.While | cst.BooleanOperation | cst.UnaryOperation | cst.Arg,
        ) and not (isinstance(holder, cst.Assign | cst.Return) and holder.value is above):
            result.negate_parenthesized.add(above)
    elif attr != "ok":
        if attr == "json":
            result.raisers.append((name, above))
        return _rename(above, result, parent)
    return ""


def _loop_over(
    attribute: cst.Attribute, parent: dict[cst.CSTNode, cst.CSTNode]
) -> tuple[cst.Call, cst.For] | None:
    """``r.iter_x(...)`` and the ``for`` loop it is the iterable of, if it is one."""
    call = parent.get(attribute)
    loop = parent.get(call) if call is not None else None
    if (
        isinstance(call, cst.Call)
        and call.func is attribute
        and isinstance(loop, cst.For)
        and loop.iter is call
        and loop.asynchronous is None
        and not _in_nested_scope(loop, parent)  # `async for` needs the async function
    ):
        return call, loop
    return None


def _lines_loop(
    attribute: cst.Attribute, parent: dict[cst.CSTNode, cst.CSTNode], result: HttpFunction
) -> str:
    """``for line in r.iter_lines():``: bytes lines, as ``_http_lines(r)`` yields them;
    with ``decode_unicode=True``, str lines, as ``r.aiter_lines()`` yields them."""
    found = _loop_over(attribute, parent)
    if found is None:
        return "`iter_lines` is used other than as a `for` loop's iterable"
    call, loop = found
    decode = False
    names = ("chunk_size", "decode_unicode", "delimiter")
    for index, argument in enumerate(call.args):
        keyword = argument.keyword.value if argument.keyword else names[min(index, 2)]
        value = argument.value
        if argument.star or index > 2:
            return f"`iter_lines` is given arguments {CODE} cannot see"
        if keyword == "chunk_size":
            continue  # how requests reads, not what it yields
        if (
            keyword == "decode_unicode"
            and isinstance(value, cst.Name)
            and value.value in ("True", "False")
        ):
            decode = value.value == "True"
            continue
        if keyword == "delimiter" and isinstance(value, cst.Name) and value.value == "None":
            continue
        return "only `iter_lines`' `chunk_size` and a literal `decode_unicode` have counterparts"
    result.line_loops[loop] = (call, decode)
    return ""


def _stream_loop(
    attribute: cst.Attribute, parent: dict[cst.CSTNode, cst.CSTNode], result: HttpFunction
) -> str:
    """``for chunk in r.iter_content(n):``, a streamed body read in chunks."""
    found = _loop_over(attribute, parent)
    if found is None:
        return "`iter_content` is used other than as a `for` loop's iterable"
    call, loop = found
    for index, argument in enumerate(call.args):
        keyword = argument.keyword.value if argument.keyword else ("chunk_size", "")[min(index, 1)]
        if argument.star or keyword != "chunk_size":
            return "only `iter_content`'s `chunk_size` has a counterpart (`aiter_bytes`)"
    result.stream_loops[loop] = call
    return ""


def _raise_line(
    attribute: cst.Attribute, parent: dict[cst.CSTNode, cst.CSTNode]
) -> cst.SimpleStatementLine | None:
    call = parent.get(attribute)
    expr = parent.get(call) if isinstance(call, cst.Call) and not call.args else None
    line = parent.get(expr) if isinstance(expr, cst.Expr) else None
    if isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1:
        return line
    return None


def _under_not_ok(
    line: cst.SimpleStatementLine, name: str, parent: dict[cst.CSTNode, cst.CSTNode]
) -> bool:
    """Whether ``line`` runs only under ``if not name.ok:``: it needs no guard then."""
    block = parent.get(line)
    test = (
        getattr(parent.get(block), "test", None) if isinstance(block, cst.IndentedBlock) else None
    )
    return (
        isinstance(test, cst.UnaryOperation)
        and isinstance(test.operator, cst.Not)
        and isinstance(test.expression, cst.Attribute)
        and isinstance(test.expression.value, cst.Name)
        and test.expression.value.value == name
        and test.expression.attr.value == "ok"
    )


def _enclosing_tries(
    node: cst.CSTNode, parent: dict[cst.CSTNode, cst.CSTNode], function: cst.FunctionDef
) -> Iterator[cst.Try]:
    """The ``try`` statements whose body holds ``node``, innermost first."""
    current = node
    while current is not function:
        above = parent.get(current)
        nested = isinstance(above, cst.Lambda | cst.FunctionDef) and above is not function
        if above is None or nested:
            return
        if isinstance(above, cst.Try) and current is above.body:
            yield above
        current = above


def _under_except_star(node: cst.CSTNode, parent: dict[cst.CSTNode, cst.CSTNode]) -> bool:
    current = node
    while (above := parent.get(current)) is not None:
        if isinstance(above, cst.TryStar) and current is above.body:
            return True
        current = above
    return False


def _json_reads(try_: cst.Try, result: HttpFunction, qualify: Qualify) -> tuple[bool, bool]:
    """Whether the ``try``'s body reads a response's JSON (``r.json()``), and whether it
    calls anything else that may raise ``JSONDecodeError`` (not a builtin)."""
    responses = {c.response for c in result.calls.values() if c.response}
    sessions = set(result.sessions)
    reads = risky = False

    class Finder(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            nonlocal reads, risky
            func = node.func
            owner = func.value if isinstance(func, cst.Attribute) else None
            if node in result.calls:
                return
            if (
                isinstance(func, cst.Attribute)
                and func.attr.value == "json"
                and (
                    (isinstance(owner, cst.Name) and owner.value in responses)
                    or (isinstance(owner, cst.Call) and owner in result.calls)
                )
            ):
                reads = True
                return
            if isinstance(owner, cst.Name) and owner.value in responses | sessions:
                return
            names = qualify(func)
            if not names or not all(name.startswith("builtins.") for name in names):
                risky = True

    try_.body.visit(Finder())
    return reads, risky


def _handler_names(handler: cst.ExceptHandler) -> tuple[cst.BaseExpression, ...]:
    kind = handler.type
    if kind is None:
        return ()
    if isinstance(kind, cst.Tuple):
        return tuple(element.value for element in kind.elements)
    return (kind,)


def _check_exceptions(
    result: HttpFunction,
    parent: dict[cst.CSTNode, cst.CSTNode],
    function: cst.FunctionDef,
    qualify: Qualify,
) -> None:
    """Which ``except`` clauses name requests' exceptions, and which calls may raise past
    every one of them (``escapes``)."""
    library = result.library

    def guarded(node: cst.CSTNode, call: HttpCall) -> bool:
        caught = False
        for try_ in _enclosing_tries(node, parent, function):
            for handler in try_.handlers:
                mapped: list[cst.BaseExpression] = []
                caught = caught or handler.type is None
                for name in _handler_names(handler):
                    qualified = qualify(name)
                    caught = caught or (bool(qualified) and set(qualified) <= _CATCH_ALL)
                    if qualified and set(qualified) & _OS_ERRORS and not call.obstacle:
                        call.obstacle = (
                            "an `except OSError` catches it: requests' errors are OSErrors,"
                            f" {library}'s are not all"
                        )
                    short = exception_name(qualified)
                    if short is None:
                        continue
                    mapped.append(name)
                    if call.obstacle:
                        continue
                    if short not in exceptions(library):
                        call.obstacle = f"{library} has no counterpart of `requests.{short}`"
                    elif _reads_response(handler, short, library):
                        call.obstacle = (
                            f"its `except requests.{short}` reads off the error what {library}'s"
                            " counterpart lacks or names otherwise (`.response`, `.request`,"
                            " `.response.ok`)"
                        )
                if mapped:
                    result.handlers[handler] = (try_, tuple(mapped))
                    reads, risky = _json_reads(try_, result, qualify)
                    result.json_handlers[handler] = reads
                    requested = {exception_name(qualify(name)) for name in mapped}
                    if reads and risky and "RequestException" in requested and not call.obstacle:
                        call.obstacle = (
                            "its `try` reads a response's JSON and runs other code that may"
                            " raise `JSONDecodeError`, which `except RequestException` did not"
                            " catch"
                        )
        return caught

    for call in result.calls.values():
        call.escapes = not guarded(call.node, call)
        if _under_except_star(call.node, parent) and not call.obstacle:
            call.obstacle = f"an `except*` here is not mapped to {library}'s errors"
    for name, node in result.raisers:
        for call in result.calls.values():
            if call.response == name and not guarded(node, call):
                call.escapes = True


def _reads_response(handler: cst.ExceptHandler, short: str, library: str = "httpx") -> bool:
    """Whether the handler reads off the error what httpx's counterpart lacks or names
    otherwise: ``error.response``/``error.request`` (only ``HTTPStatusError`` has a
    response), and, of ``HTTPError``'s response, an attribute that is renamed in httpx.
    aiohttp's errors have neither."""
    if handler.name is None or not isinstance(handler.name.name, cst.Name):
        return False
    bound = handler.name.name.value
    aiohttp = library == "aiohttp"
    same = {key for key, value in RESPONSE_ATTRIBUTES.items() if key == value} - {
        "raise_for_status"
    }
    found = False

    class Finder(cst.CSTVisitor):
        def __init__(self) -> None:
            super().__init__()
            self.read: set[cst.Attribute] = set()

        def visit_Attribute(self, node: cst.Attribute) -> None:
            nonlocal found
            inner = node.value
            if (
                isinstance(inner, cst.Attribute)
                and isinstance(inner.value, cst.Name)
                and inner.value.value == bound
                and inner.attr.value == "response"
                and short == "HTTPError"
            ):
                self.read.add(inner)
                found = found or node.attr.value not in same
            elif (
                isinstance(inner, cst.Name)
                and inner.value == bound
                and node.attr.value in ("response", "request")
                and (short != "HTTPError" or node.attr.value == "request" or aiohttp)
            ):
                found = True

        def leave_Attribute(self, original_node: cst.Attribute) -> None:
            nonlocal found
            if (
                short == "HTTPError"
                and original_node not in self.read
                and isinstance(original_node.value, cst.Name)
                and original_node.value.value == bound
                and original_node.attr.value == "response"
            ):
                found = True  # the response itself, used whole

    handler.body.visit(Finder())
    return found


def _url_obstacle(
    call: HttpCall,
    parent: dict[cst.CSTNode, cst.CSTNode],
    function: cst.FunctionDef,
    names: dict[str, list[cst.Name]],
    api: Mapping[str, tuple[str, ...]] = API,
) -> str:
    """httpx replaces a URL's query string with ``params`` (requests merges them): a call
    with ``params`` is rewritten only when its URL is a string with no ``?``, written
    in the call or assigned once to the name the call uses."""
    positional = api[call.verb]
    url: cst.BaseExpression | None = None
    has_params = False
    for index, argument in enumerate(call.node.args):
        name = argument.keyword.value if argument.keyword else positional[index]
        if name == "url":
            url = argument.value
        has_params = has_params or name == "params"
    if not has_params or url is None:
        return ""
    if isinstance(url, cst.Name):
        values = [
            assign.value
            for use in names.get(url.value, [])
            if isinstance(target := parent.get(use), cst.AssignTarget)
            and isinstance(assign := parent.get(target), cst.Assign)
        ]
        url = values[0] if len(values) == 1 else None
    if url is not None and _no_query(url):
        return ""
    return (
        "its URL may carry a query string, which httpx replaces with `params` (requests"
        " merges them)"
    )


def _timeout_obstacle(
    call: HttpCall,
    parent: dict[cst.CSTNode, cst.CSTNode],
    names: dict[str, list[cst.Name]],
    tuples: Collection[str],
    api: Mapping[str, tuple[str, ...]],
) -> str:
    """A ``timeout`` given by a name is taken for a number, unless the name is assigned a
    tuple in the function or at module level: that one must be written out."""
    positional = api[call.verb]
    for index, argument in enumerate(call.node.args):
        name = argument.keyword.value if argument.keyword else positional[index]
        value = argument.value
        if name != "timeout" or not isinstance(value, cst.Name):
            continue
        assigned = [
            assign.value
            for use in names.get(value.value, [])
            if isinstance(target := parent.get(use), cst.AssignTarget)
            and isinstance(assign := parent.get(target), cst.Assign)
        ] + [
            annotated.value
            for use in names.get(value.value, [])
            if isinstance(annotated := parent.get(use), cst.AnnAssign)
            and annotated.target is use
            and annotated.value is not None
        ]
        if any(isinstance(v, cst.Tuple) for v in assigned) or (
            not assigned and value.value in tuples
        ):
            return (
                f"its `timeout` names a `(connect, read)` tuple (`{value.value}`): write"
                " the tuple in the call"
            )
    return ""


def tuple_constants(module: cst.Module) -> frozenset[str]:
    """The module-level names assigned a tuple (``TIMEOUT = (3.05, 27)``), also under an
    ``if`` or a ``try`` at module level."""

    class Finder(cst.CSTVisitor):
        def __init__(self) -> None:
            super().__init__()
            self.lines: list[cst.SimpleStatementLine] = []

        def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
            self.lines.append(node)

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return False

    finder = Finder()
    module.visit(finder)
    found = set()
    for statement in finder.lines:
        for small in statement.body:
            if isinstance(small, cst.Assign) and isinstance(small.value, cst.Tuple):
                found |= {t.target.value for t in small.targets if isinstance(t.target, cst.Name)}
            elif (
                isinstance(small, cst.AnnAssign)
                and isinstance(small.value, cst.Tuple)
                and isinstance(small.target, cst.Name)
            ):
                found.add(small.target.value)
    return frozenset(found)


def _no_query(url: cst.BaseExpression) -> bool:
    if isinstance(url, cst.SimpleString):
        return "?" not in url.value
    if isinstance(url, cst.FormattedString):
        return all(
            "?" not in part.value for part in url.parts if isinstance(part, cst.FormattedStringText)
        )
    if isinstance(url, cst.BinaryOperation) and isinstance(url.operator, cst.Add):
        return _no_query(url.right) and (
            isinstance(url.left, cst.Name | cst.Attribute) or _no_query(url.left)
        )
    return False


def _groups(
    result: HttpFunction, parent: dict[cst.CSTNode, cst.CSTNode], function: cst.FunctionDef
) -> list[list[HttpCall]]:
    groups: dict[object, list[HttpCall]] = {}
    for call in result.calls.values():
        if call.response is not None:
            groups.setdefault(("name", call.response), []).append(call)
        if call.session is not None:
            groups.setdefault(("session", call.session), []).append(call)
        for try_ in _enclosing_tries(call.node, parent, function):
            if any(handler in result.handlers for handler in try_.handlers):
                groups.setdefault(("try", id(try_)), []).append(call)
    return list(groups.values())


def harmless(names: Collection[str]) -> bool:
    """True when a call of ``names`` cannot raise one of requests' exceptions."""
    return bool(names) and all(
        name.startswith(_HARMLESS_MODULES) or api_verb([name]) is not None for name in names
    )


@dataclass(frozen=True)
class Backend:
    """What VF101 writes for one backend."""

    module: str
    """The API's module: its exceptions, ``Timeout``, ``create_ssl_context``."""
    client: str
    """The client class, fully qualified."""
    python: tuple[int, int]
    """The oldest Python it runs on."""
    library: str = "httpx"
    """Whose API the code is written in: ``"httpx"`` or ``"aiohttp"``."""

    @property
    def client_type(self) -> str:
        """The client's type, in its module (``AsyncClient``)."""
        return "ClientSession" if self.library == "aiohttp" else "AsyncClient"


BACKENDS: dict[str, Backend] = {
    "httpx2": Backend("httpx2", "httpx2.AsyncClient", (3, 11)),
    "httpx": Backend("httpx", "httpx.AsyncClient", (3, 8)),
    "httpx-aiohttp": Backend("httpx", "httpx_aiohttp.HttpxAiohttpClient", (3, 9)),
    "aiohttp": Backend("aiohttp", "aiohttp.ClientSession", (3, 9), "aiohttp"),
}
"""The backends VF101 writes. ``aiohttp`` (aiohttp's own API, 3.10 or later) is the
default: on the example app under load (bench/load/example.py, one core) it was the only
one faster than the plain ``def`` app at every concurrency; ``httpx2`` (httpx's API on
``httpcore2``), the default before, spent more CPU per request and fell behind the ``def``
app from 500 concurrent requests on. Plain ``httpx`` fell far behind (bench/load/run.py).
``httpx-aiohttp`` (httpx's API on aiohttp) reports a refused connection as a
``ConnectTimeout`` and ignores ``retries``."""

DEFAULT_BACKEND = "aiohttp"
"""``[tool.vibefix.requests-to-httpx] backend`` when it is not set."""

NAMED_MODULES = (
    *("aiohttp", "httpx2", "httpx", "json", "os", "typing", "urllib.parse", "urllib.request"),
)
"""Every module VF101's code may name, in a rewritten function or in the definitions it
adds beside it (``named_modules``)."""


def named_modules(backend_name: str) -> tuple[str, ...]:
    """The modules VF101's code for ``backend_name`` names: where one of their names means
    something else, VF101 leaves the call (the plan decides it, for every file at once)."""
    if BACKENDS.get(backend_name, BACKENDS[DEFAULT_BACKEND]).library == "aiohttp":
        # ``json.loads`` of a body; ``_HTTP_TRUST_ENV`` (os, urllib.request);
        # ``_http_params`` (typing.Any, urllib.parse).
        return ("aiohttp", "json", "os", "typing", "urllib.parse", "urllib.request")
    return ("httpx2", "httpx", "json")


OPTIONS = "requests-to-httpx"
"""VF101's table in ``[tool.vibefix]``."""


def backend_name(options: Mapping[str, Any]) -> str:
    """``[tool.vibefix.requests-to-httpx] backend``: ``DEFAULT_BACKEND`` unless set."""
    table = options.get(OPTIONS, {})
    name = table.get("backend", DEFAULT_BACKEND) if isinstance(table, Mapping) else None
    return name if isinstance(name, str) else DEFAULT_BACKEND


def backend(options: Mapping[str, Any]) -> Backend:
    """What VF101 writes, from ``[tool.vibefix.requests-to-httpx] backend``."""
    return BACKENDS.get(backend_name(options), BACKENDS[DEFAULT_BACKEND])


def backend_problem(options: Mapping[str, Any], target: tuple[int, int]) -> str:
    """Why VF101 can rewrite nothing in a project that runs on Python ``target`` and
    up; empty when it can."""
    name = backend_name(options)
    chosen = BACKENDS.get(name)
    if chosen is None:
        return f"backend {name!r} is not one {CODE} writes"
    oldest = chosen.python
    if target < oldest:
        return (
            f"`{name}` needs Python {oldest[0]}.{oldest[1]} and the project supports"
            f" {target[0]}.{target[1]} (plain httpx is slower than the code it would replace)"
        )
    return ""


def http_call(targets: Collection[str]) -> bool:
    """Whether a call of ``targets`` is one VF101 analyses: requests' functions, and the
    methods of a ``requests.Session``."""
    return api_verb(targets) is not None or session_verb(targets) is not None


GENERATED: dict[str, tuple[str, ...]] = {
    "_http_client": (
        "verify=_HTTP_TLS",
        "ClientTimeout(), trust_env=_HTTP_TRUST_ENV",
        "ClientTimeout(), trust_env=True",  # an earlier vibefix's
    ),
    "_http_read": ("await response.read()",),
    "_http_params": ("query.append((name, text))",),
    "_http_lines": ("async for chunk in response.aiter_bytes():",),
    "_get_http_client": ('"http_client", None',),
    "_http_client_lifespan": ("app.state.http_client = client",),
}
"""The module-level functions VF101 writes, and lines one of which each has (per backend)
that say it wrote it."""


def ours(node: cst.FunctionDef, backend_name: str = DEFAULT_BACKEND) -> bool:
    """False for a module-level function that has the name of one VF101 writes but is
    another: the project's own ``_http_client``, or the one an earlier run wrote for
    another backend (its client is not the one the code would now be written for)."""
    name = node.name.value
    markers = GENERATED.get(name)
    if markers is None:
        return True
    code = cst.Module([]).code_for_node(node)
    if name == "_http_client":
        client = BACKENDS.get(backend_name, BACKENDS[DEFAULT_BACKEND]).client
        module, _, cls = client.rpartition(".")
        # ``httpx.AsyncClient`` is not in ``httpx2.AsyncClient``: the module is checked too.
        made = re.search(rf"(?<![\w.]){re.escape(module)}\.{cls}\(", code)
        return made is not None and any(marker in code for marker in markers)
    return any(marker in code for marker in markers)
