"""VF101: ``requests`` calls in async code -> awaited httpx client calls, faithfully."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import libcst as cst
from libcst.metadata import QualifiedNameProvider, ScopeProvider

from vibefix.calls.rewrite import AsyncCodemod
from vibefix.calls.roles import Role
from vibefix.codemod import Codemod, NeededName, PlanPart
from vibefix.config import Config
from vibefix.cst.arguments import COMMA, appended, keyword
from vibefix.cst.names import base_name, fully_qualified
from vibefix.engine.imports import ModuleAlias
from vibefix.http import mapping as httpmap
from vibefix.http import shapes, support
from vibefix.http.plan import PARAMETER
from vibefix.http.support import FACTORY, GETTER, LIFESPAN, LINES, PARAMS, READER, TLS, TRUST_ENV
from vibefix.results import Blocking


class _NameTaken(Exception):
    """A name the rewrite needs means something else where it is needed."""


class RequestsToHttpx(AsyncCodemod[PlanPart]):
    """Rewrite `requests` calls in async functions to awaited aiohttp (or httpx2) calls.

    Why: `requests` blocks. In an `async def` handler, one slow upstream freezes the
    event loop, and every other request waits behind it. An awaited HTTP client call
    lets the loop serve other requests while this one waits.

    Example: in a FastAPI app,

        @router.get("/rate")
        async def rate(currency: str):
            r = requests.get(URL, {"c": currency}, timeout=5)
            if not r.ok:
                r.raise_for_status()
            return r.json()["rate"]

    becomes (as a formatter lays it out), with the default backend, aiohttp,

        @router.get("/rate")
        async def rate(
            currency: str,
            *,
            http_client: Annotated[aiohttp.ClientSession, Depends(_get_http_client)],
        ):
            r = await _http_read(
                http_client.get(
                    URL,
                    params={"c": currency},
                    timeout=aiohttp.ClientTimeout(sock_connect=5, sock_read=5),
                )
            )
            if not r.ok:
                r.raise_for_status()
            return json.loads(await r.text(errors="replace"))["rate"]

    and with `backend = "httpx2"` (httpx's API)

        @router.get("/rate")
        async def rate(
            currency: str, *, http_client: Annotated[httpx2.AsyncClient, Depends(_get_http_client)]
        ):
            r = await http_client.get(URL, params={"c": currency}, timeout=5)
            if r.is_error:
                r.raise_for_status()
            return r.json()["rate"]

    One client serves the whole application: the app's lifespan makes it
    (`FastAPI(lifespan=_http_client_lifespan)`, added beside the app) and keeps no
    cookies in it (requests' calls each had their own jar, so one user's cookies never
    reach another's calls; a cookie set by a redirect is not sent on to its target
    either), the dependency `_get_http_client` hands it to the handlers and dependencies
    that need it, and they pass it to the helpers they call (`fetch_rate(c,
    http_client=http_client)`), across modules. A helper takes it only when every caller
    can hand it on; otherwise, and outside a FastAPI app, each call makes its own client
    (`async with _http_client() as http_client:`), as `requests.get` makes its own
    session. `_http_client()`, added once per module that needs it, makes an
    `aiohttp.ClientSession` (an `httpx2.AsyncClient`) that behaves as requests does.
    When the lifespan did not run (a `TestClient` used without `with`), the dependency
    makes a client for the request.

    Behaviour is kept where the libraries differ. With httpx2: the client follows
    redirects (requests does, except for `head()`) and has no timeout (requests has none;
    httpx's default is 5 s). `allow_redirects` becomes `follow_redirects`. Positional
    `params`/`data`/`json` become keywords. A string or bytes `data=` becomes `content=`.
    A `(connect, read)` timeout becomes `httpx2.Timeout(None, connect=..., read=...)`.
    `r.ok` becomes `not r.is_error`, because 3xx is ok in requests. `r.reason` becomes
    `r.reason_phrase`. `r.raise_for_status()` is guarded by `if r.is_error:`, because
    httpx raises for 1xx and 3xx too. An `except requests.X` catches httpx's
    counterpart: `RequestException` -> `(httpx2.HTTPError, httpx2.InvalidURL,
    json.JSONDecodeError)`, `HTTPError` -> `httpx2.HTTPStatusError`, `ConnectionError`
    -> `(httpx2.NetworkError, httpx2.ProtocolError, httpx2.ProxyError,
    httpx2.ConnectTimeout)`, `Timeout` -> `httpx2.TimeoutException`, `JSONDecodeError` ->
    `json.JSONDecodeError`. Where the `try` also guards code that may still raise
    requests' exceptions (a call of a helper), the handler catches both.

    The backend is `aiohttp`; `[tool.vibefix.requests-to-httpx] backend` may choose
    `"httpx2"` (httpx's API, Python 3.11 or later, whose details are above), `"httpx"`
    (slower than the code it replaces under load) or `"httpx-aiohttp"` (httpx's API on
    aiohttp, `httpx_aiohttp.HttpxAiohttpClient`: less faithful: a string body is sent as
    `application/octet-stream`, a response that breaks HTTP's rules raises aiohttp's own
    error, a refused connection is a `ConnectTimeout`). `"aiohttp"` is aiohttp's own API
    (aiohttp 3.10 or later, Python 3.9 or later), the fastest under load. With aiohttp
    each call reads its body before it returns, as requests does (`r = await
    _http_read(client.get(u, timeout=aiohttp.ClientTimeout(sock_connect=5,
    sock_read=5)))`); `r.status_code` is `r.status`, `r.text` is `await
    r.text(errors="replace")`, `r.content` is `await r.read()`, `r.json()` is
    `json.loads(await r.text(errors="replace"))` (an empty body is an error, as in
    requests); `ok`, `reason` and `raise_for_status()` mean what they meant; the
    exceptions map to `ClientError`, `ClientResponseError`, `(ClientOSError,
    ServerDisconnectedError, ConnectionTimeoutError)`, `ServerTimeoutError`. `params`
    other than a dict literal of strings and numbers go through `_http_params()`, added
    beside the factory, which builds the query as requests does (aiohttp raises
    `TypeError` for a `None` or `True` value; requests leaves `None` out, sends `True`
    and repeats a list's values); a query string is sent as the same pairs, with a space
    as `+`. Its own differences: a string body is sent as `text/plain; charset=utf-8`
    (bytes as `application/octet-stream`; requests sends no type), a `None` in a `data`
    form is sent as `None` (requests drops the key), a repeated header reads as its
    first value (requests joins them), certificates come from the system store
    (requests: certifi), the environment's proxies and `~/.netrc` are looked for when
    the module is imported (requests: at every call), at most 100 connections are open
    at once, at most 10 redirects are followed (requests: 30), a status of 600 or more
    is not ok and raises in `raise_for_status()`, and `except requests.HTTPError` also
    catches a response aiohttp cannot parse, too many redirects and a proxy's refusal
    (requests: `ConnectionError`, `TooManyRedirects`, `ProxyError`); a timeout while the
    body is read is a `Timeout` (requests: `ConnectionError`). Left to a thread with a
    finding: streams (reported: a thread does not help), `auth=`, `files=`,
    `r.elapsed`/`r.is_redirect`, a read in a lambda or a generator expression (where it
    cannot be awaited), `r.content` read where `raise_for_status()` may have released
    it, and a `timeout` expression that would be written twice.

    bench/load/example.py measured the example app on one core, against the same app with
    plain `def` handlers, at 50, 500 and 1000 concurrent requests: after `vibefix apply`
    with aiohttp 1.46x, 1.37x and 1.32x as fast; with httpx2 0.95x, 0.86x and 0.77x
    (its client costs more CPU per request, and the app is CPU-bound). bench/load/run.py,
    on a small handler: httpx2 with a client per call 0.90x at 50 (hence the shared
    client); plain httpx's pool slower from 500 on. The httpx2 clients of a module share
    one SSL context (`_HTTP_TLS`): loading the certificates costs about 20 ms a client.

    Safety: safe. The request sent and what the code reads of the response are the same,
    except for the differences between the libraries, which VF101 cannot see through:
    aiohttp's are above; httpx2's: a `None` value in `params` or a `data` form is sent
    empty (`?a=`; requests drops the key), a `None` header raises `TypeError` (requests
    drops it), `True` is sent as `true`, a JSON body is written compactly (`{"a":1}`,
    the same value), iterating `r.headers` gives lowercase names (lookups ignore case in
    both), an error while the body is read is httpx's `ReadTimeout` or
    `RemoteProtocolError` (requests': `ConnectionError` or `ChunkedEncodingError`,
    caught otherwise), `r.text` of a `text/*` response with no charset is decoded as
    UTF-8 (requests: ISO-8859-1), and the environment's `~/.netrc` and
    `REQUESTS_CA_BUNDLE` are not read; the User-Agent names httpx2. A `timeout` bounds
    connecting and reading as in requests (`write` and the wait for a pooled connection
    are not bounded). A helper that takes the application's client gets a new keyword
    argument: a test that replaces it with a fake of the old signature must take
    `http_client` too.

    Not shared: an app with its own `lifespan`, `on_startup`/`on_shutdown` or `on_event`
    handlers (a lifespan would switch the latter off) keeps a client per call, with a
    finding; so does a project with no app, or more than one.

    Not rewritten: a finding says why, and the call is run in a thread instead (VF102).
    This covers `verify`/`cert`/`proxies`/`cookies`/`hooks` (client settings in httpx),
    `**kwargs`, a `data=` whose type is unknown, and `auth=` other than a `(user, password)`
    tuple. It also covers a response that leaves the expression (returned, passed,
    stored), an attribute of the response with no faithful counterpart (`r.cookies`,
    `r.history`, `r.url`), an `except OSError` around the call, an `except` that reads
    the error's `.response` (only httpx's status errors have one), `params` with a URL
    that may carry a query string (httpx replaces it, requests merges), a statement that
    yields, and a call whose errors would reach callers that name requests' exceptions.
    A `requests.Session` the function makes and closes becomes a client (`with
    requests.Session() as s:` -> `async with _http_client() as s:`; `s.close()` -> `await
    s.aclose()`); a session that is configured (`s.headers[...] = ...`), passed on, never
    closed, or kept elsewhere (on `self`, in a module) is not rewritten yet. A streamed
    response opened by `with requests.get(u, stream=True) as r:` and read by `for chunk in
    r.iter_content(n):` becomes `async with client.stream("GET", u) as r:` and `async for
    chunk in r.aiter_bytes(n):` (the same chunks). Read by `for line in r.iter_lines():`,
    it becomes `async for line in _http_lines(r):`, a function added beside the factory
    that yields the same lines as bytes (split at `\n`, `\r`, `\r\n`; requests may also
    yield an empty line where a `\r\n` falls across two reads, this does not); with
    `decode_unicode=True`, `async for line in r.aiter_lines():`, str lines (requests
    yields bytes when it knows no encoding, and decodes `text/*` with no charset as
    ISO-8859-1; httpx as UTF-8). A stream read otherwise (`r.content`, a `delimiter`) is
    reported and left alone: not even a thread helps, its body is read later. Neither is code
    whose project supports a Python older than its backend (httpx2 needs 3.11), nor a
    call whose `timeout` names a tuple (`TIMEOUT = (3.05, 27)`; a name is otherwise taken
    for a number).
    """

    code = "VF101"
    role = Role.HTTP
    linked = True
    follows_plan = True
    verifies = Blocking.HTTP
    verify_hint = "an HTTP call through requests: an async client instead"
    # A module that imports requests, or the one that makes the app (its lifespan makes
    # the shared client).
    triggers = (
        r"(?m:^[ \t]*(?:import|from)[ \t]+requests\b"
        r"|^[A-Za-z_]\w*(?:[ \t]*:[^=\n]*)?[ \t]*=[ \t]*(?:fastapi\.)?FastAPI\()",
    )
    METADATA_DEPENDENCIES = (
        *Codemod.METADATA_DEPENDENCIES,
        QualifiedNameProvider,
        ScopeProvider,
    )

    @classmethod
    def needed_names(cls, config: Config) -> tuple[NeededName, ...]:
        """The shared client's parameter, and the modules the backend's code names."""
        modules = httpmap.named_modules(httpmap.backend_name(config.options))
        return (NeededName(PARAMETER, local=True), *(NeededName(m, m) for m in modules))

    def visit_Module(self, node: cst.Module) -> None:
        self._module = node
        self._package = (
            self.file.module_name
            if self.file.path.name == "__init__.py"
            else self.file.module_name.rpartition(".")[0]
        )
        self._backend = httpmap.backend(self.file.config.options)
        self._x = self._backend.module
        self._aiohttp = self._backend.library == "aiohttp"
        self._tuples = httpmap.tuple_constants(node)
        self._client_type = self._backend.client_type
        http = self.asyncs.http
        path = self.file.path
        blocks = []
        if any(key[0] == path for key in http.per_call | http.injected) or (
            http.app is not None and http.app[0] == path
        ):
            blocks.append(FACTORY)
        if any(key[0] == path for key in http.injected):
            blocks.append(GETTER)
        if http.app is not None and http.app[0] == path:
            blocks.append(LIFESPAN)
        blocks = [name for name in blocks if not shapes.defines(node, name)]
        self._blocks: list[str] = []
        if blocks:
            self._add_blocks(node, blocks)

    def _qualify(self, node: cst.CSTNode) -> tuple[str, ...]:
        provider = QualifiedNameProvider
        names = self.get_metadata(provider, node, set())
        module = self.file.module_name
        return tuple(sorted({fully_qualified(q, module, self._package) for q in names}))

    def _alias(self, at: cst.CSTNode, module: str, name: str = "") -> ModuleAlias:
        """How to spell ``module`` (or ``module.name``) at ``at``; a name taken by
        something else falls back to the module's name, then to a report."""
        if name:
            found = self.file.imports.name_alias(at, module, name)
            if found is not None:
                return found
        found = self.file.imports.module_alias(at, module)
        if found is None:
            raise _NameTaken(module.split(".")[0])
        return ModuleAlias(f"{found.name}.{name}" if name else found.name, found.needs)

    def _aliases(
        self, module: cst.Module, *specs: tuple[str] | tuple[str, str]
    ) -> list[ModuleAlias] | None:
        """``_alias`` of each ``(module[, name])`` at module level; None, with a finding,
        when one of the names means something else there."""
        try:
            return [self._alias(module, *spec) for spec in specs]
        except _NameTaken as taken:
            self.report(module, f"VF101 needs the name `{taken}`, which means something else")
            return None

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        http = self.asyncs.http
        key = self.key(node)
        try:
            if key in http.takes:
                self._take_client(node, injected=key in http.injected)
            twins = self.asyncs.twins
            if not any(k[0] == self.file.path for k in twins):
                return
            analysis = httpmap.analyse(node, self._qualify, self._backend.library, self._tuples)
            rewritten = [c for c in analysis.rewritten() if self.key(c.node) in twins]
            if rewritten:
                x = self._alias(node, self._x)
                self._rewrite(node, analysis, rewritten, x.name, x.needs, key in http.takes)
        except _NameTaken as taken:
            self.report(
                node,
                f"`requests` blocks the event loop here, but the name `{taken}` means"
                " something else: rename it, then rewrite the calls by hand",
            )

    def visit_Call(self, node: cst.Call) -> None:
        super().visit_Call(node)
        http = self.asyncs.http
        key = self.key(node)
        if key in http.passes:
            new = keyword(PARAMETER, cst.Name(PARAMETER))
            self.replace(
                node,
                lambda updated: updated.with_changes(
                    args=appended(list(updated.args), new, updated.whitespace_before_args)
                ),
                "pass on the application's HTTP client",
            )
        if key == http.app:
            lifespan = keyword("lifespan", cst.Name(LIFESPAN))
            self.replace(
                node,
                lambda updated: updated.with_changes(
                    args=appended(list(updated.args), lifespan, updated.whitespace_before_args)
                ),
                "one HTTP client for the application, made in its lifespan",
            )

    def _take_client(self, node: cst.FunctionDef, injected: bool) -> None:
        x = self._alias(node, self._x)
        needs = list(x.needs)
        if injected:
            annotated = self._alias(node, "typing", "Annotated")
            depends = self._alias(node, "fastapi", "Depends")
            needs += [*annotated.needs, *depends.needs]
            annotation = f"{annotated.name}[{x.name}.{self._client_type}, {depends.name}({GETTER})]"
            reason = "FastAPI gives it the application's HTTP client"
        else:
            annotation = f"{x.name}.{self._client_type}"
            reason = "its callers give it the application's HTTP client"
        param = cst.Param(cst.Name(PARAMETER), cst.Annotation(cst.parse_expression(annotation)))

        def take(updated: cst.FunctionDef) -> cst.FunctionDef:
            params = updated.params
            star = params.star_arg
            if isinstance(star, cst.MaybeSentinel):
                star = cst.ParamStar()
            return updated.with_changes(
                params=params.with_changes(
                    star_arg=star, kwonly_params=[*params.kwonly_params, param]
                )
            )

        self.replace(node, take, reason, needs=needs)

    def _rewrite(
        self,
        function: cst.FunctionDef,
        analysis: httpmap.HttpFunction,
        rewritten: list[httpmap.HttpCall],
        x: str,
        needs: Sequence[str],
        shared: bool,
    ) -> None:
        client = PARAMETER
        if not shared:
            taken = shapes.names_in(function)
            client = next(
                name
                for name in (PARAMETER, *(f"{PARAMETER}_{i}" for i in range(2, 99)))
                if name not in taken
            )
        statements: dict[cst.BaseStatement, list[httpmap.HttpCall]] = {}
        sessions: set[str] = set()
        for call in rewritten:
            if call.stream is not None:
                # A session's stream is opened on the session's client; a stream of its
                # own gets a client of another name, so that opening it never rebinds the
                # one a statement around it has opened.
                own = call.session or (client if shared else f"{client}_stream")
                self._rewrite_call(call, own, x, needs)
                self._open_stream(call.stream, own, x, shared or call.session is not None)
                if call.session is not None:
                    sessions.add(call.session)
                continue
            if call.session is not None:
                sessions.add(call.session)
                self._rewrite_call(call, call.session, x, needs)
                continue
            assert call.statement is not None
            statements.setdefault(call.statement, []).append(call)
            self._rewrite_call(call, client, x, needs)
        if not shared:
            for statement in statements:
                self._wrap(statement, client, x, needs)
        for name in sorted(sessions):
            self._open_session(analysis.sessions[name], x)
        for node, read in analysis.reads.items():
            self._read_body(node, read, analysis.quotes.get(node, '"'))
        for loop in analysis.stream_loops:
            self.replace(loop, shapes.async_for, "a streamed body is read with `async for`")
        for loop, (_, decode) in analysis.line_loops.items():
            if decode:
                self.replace(loop, shapes.async_lines, "a streamed body's lines, decoded, as text")
            else:
                self._need_block(LINES)
                self.replace(
                    loop,
                    shapes.async_byte_lines,
                    "a streamed body's lines as bytes, as requests yields them",
                )
        negated = set(analysis.negated.values())
        for attribute, new in analysis.attributes.items():
            if attribute not in negated:
                self._rename(attribute, new, attribute in analysis.negate_parenthesized)
        for line, name in analysis.raise_statements.items():
            self.replace(
                line,
                functools.partial(shapes.guarded, name=name),
                "httpx raises for 1xx and 3xx too: raise for errors only, as requests does",
            )
        for negation in analysis.negated:
            self.replace(negation, shapes.not_ok, "3xx is ok in requests: `not ok` is `is_error`")
        done = {id(c.node) for c in rewritten}
        responses = {c.response for c in rewritten if c.response}

        def raises_here(call: cst.Call) -> bool:
            """A rewritten call, or a read of its response that raises (``r.json()``)."""
            func = call.func
            return id(call) in done or (
                isinstance(func, cst.Attribute)
                and isinstance(func.value, cst.Name)
                and func.value.value in responses
            )

        for handler, (try_, mapped) in analysis.handlers.items():
            if not any(raises_here(call) for call in shapes.calls_in(try_.body)):
                continue
            keep = self._keeps_requests(try_, analysis, done)
            json = analysis.json_handlers.get(handler, False)
            self._map_handler(handler, mapped, x, needs, keep, json)

    def _open_session(self, session: httpmap.Session, x: str) -> None:
        """``requests.Session()`` becomes a client: made by ``_http_client()``, opened by
        ``async with`` where the session was opened by ``with``."""
        self._need_factory(x)
        name = base_name(session.made.func)
        self.replace(
            session.made,
            lambda updated: updated.with_changes(func=cst.Name(FACTORY)),
            f"a requests session becomes an {x} client that does what it did",
            drops=[name] if name is not None else [],
        )
        if session.within is not None:
            self.replace(
                session.within,
                lambda updated: updated.with_changes(asynchronous=cst.Asynchronous()),
                "the client is opened and closed as the session was",
            )

    def _open_stream(self, within: cst.With, client: str, x: str, shared: bool) -> None:
        """``with requests.get(u, stream=True) as r:`` becomes ``async with
        client.stream("GET", u) as r:``, after a client of its own where none is shared."""
        items: list[cst.WithItem] = []
        if not shared:
            self._need_factory(x)
            opening = cst.Call(cst.Name(FACTORY))
            items.append(cst.WithItem(opening, asname=cst.AsName(cst.Name(client)), comma=COMMA))

        def stream(updated: cst.With) -> cst.With:
            return updated.with_changes(
                asynchronous=cst.Asynchronous(), items=[*items, *updated.items]
            )

        self.replace(within, stream, "a streamed response is read as it arrives, awaited")

    def _need_factory(self, x: str) -> None:
        if FACTORY not in self._blocks and not shapes.defines(self._module, FACTORY):
            self._add_blocks(self._module, [FACTORY])

    def _read_body(self, node: cst.CSTNode, read: str, quote: str) -> None:
        """aiohttp: ``r.text`` -> ``await r.text(errors="replace")``, ``r.content`` ->
        ``await r.read()``, ``r.json(...)`` -> ``json.loads(await r.text(errors="replace"),
        ...)`` (a text, as requests decodes it, which a failed ``raise_for_status()`` has
        not released, unlike the bytes)."""
        if read != "json":
            assert isinstance(node, cst.Attribute)
            await_ = self.awaiting(node)
            replace = cst.SimpleString(f"{quote}replace{quote}")
            args = [keyword("errors", replace)] if read == "text" else []
            method = "text" if read == "text" else "read"

            def awaited(updated: cst.Attribute) -> cst.BaseExpression:
                return await_(
                    cst.Call(updated.with_changes(attr=cst.Name(method), lpar=[], rpar=[]), args)
                )

            why = (
                "aiohttp decodes the body when awaited; undecodable bytes are replaced, as in"
                " requests"
                if read == "text"
                else "aiohttp gives the body when awaited"
            )
            self.replace(node, awaited, why)
            return
        assert isinstance(node, cst.Call)
        json = self._alias(node, "json")

        def loads(updated: cst.Call) -> cst.Call:
            assert isinstance(updated.func, cst.Attribute)
            text = updated.func.with_changes(attr=cst.Name("text"))
            replace = [keyword("errors", cst.SimpleString(f"{quote}replace{quote}"))]
            body = cst.Await(cst.Call(text, replace))
            first = cst.Arg(body, comma=COMMA if updated.args else cst.MaybeSentinel.DEFAULT)
            return cst.Call(
                cst.parse_expression(f"{json.name}.loads"),
                [first, *updated.args],
                lpar=updated.lpar,
                rpar=updated.rpar,
            )

        self.replace(
            node,
            loads,
            "the body decoded as requests decodes JSON: an empty body is an error, as in requests",
            needs=json.needs,
        )

    def _need_reader(self) -> None:
        self._need_block(READER)

    def _need_block(self, name: str) -> None:
        if name not in self._blocks and not shapes.defines(self._module, name):
            self._add_blocks(self._module, [name])

    def _rewrite_call(
        self, call: httpmap.HttpCall, client: str, x: str, needs: Sequence[str]
    ) -> None:
        if self._aiohttp:
            self._rewrite_call_aiohttp(call, client, x, needs)
            return
        await_ = self.awaiting(call.node)
        verb = call.verb
        if verb == httpmap.CLOSE:
            self.replace(
                call.node,
                lambda updated: await_(
                    updated.with_changes(func=updated.func.with_changes(attr=cst.Name("aclose")))
                ),
                "close the client as the session was closed",
            )
            return
        positional = (httpmap.SESSION_API if call.session else httpmap.API)[verb]

        def convert(name: str, value: cst.BaseExpression) -> tuple[str, cst.BaseExpression]:
            if name == "allow_redirects":
                return "follow_redirects", value
            if name == "data" and httpmap.data_kind(value) == "content":
                return "content", value
            if name == "timeout" and not shapes.is_none_or_tuple(value):
                # requests times out connecting and reading, never writing or waiting
                # for a connection from the pool (it has none): neither does this.
                return name, cst.Call(
                    cst.parse_expression(f"{x}.Timeout"),
                    [
                        cst.Arg(value, comma=COMMA),
                        keyword("write", cst.Name("None"), COMMA),
                        keyword("pool", cst.Name("None")),
                    ],
                )
            if name == "timeout" and isinstance(value, cst.Tuple):
                connect, read = (element.value for element in value.elements)
                return name, cst.Call(
                    cst.parse_expression(f"{x}.Timeout"),
                    [
                        cst.Arg(cst.Name("None"), comma=COMMA),
                        keyword("connect", connect, COMMA),
                        keyword("read", read),
                    ],
                )
            return name, value

        def rewrite(updated: cst.Call) -> cst.BaseExpression:
            args = shapes.keywords(updated, positional, convert)
            redirects = any(a.keyword and a.keyword.value == "follow_redirects" for a in args)
            if verb == "head" and not redirects:
                redirect = keyword("follow_redirects", cst.Name("False"))
                args = appended(args, redirect, updated.whitespace_before_args)
            if call.stream is None:
                return await_(
                    updated.with_changes(
                        func=cst.Attribute(cst.Name(client), cst.Name(verb)), args=args
                    )
                )
            if verb != "request":  # ``client.stream(method, url, ...)``
                method = cst.SimpleString(f'"{verb.upper()}"')
                args.insert(0, cst.Arg(method, comma=COMMA))
            return updated.with_changes(
                func=cst.Attribute(cst.Name(client), cst.Name("stream")), args=args
            )

        name = base_name(call.node.func)
        self.replace(
            call.node,
            rewrite,
            f"requests blocks the event loop: await an {x} client",
            needs=needs,
            blocking=self.asyncs.blocking.get(self.key(call.node)),
            drops=[name] if name is not None and call.session is None else [],
        )

    def _rewrite_call_aiohttp(
        self, call: httpmap.HttpCall, client: str, x: str, needs: Sequence[str]
    ) -> None:
        await_ = self.awaiting(call.node)
        if call.verb == httpmap.CLOSE:
            self.replace(call.node, await_, "close the client as the session was closed")
            return
        self._need_reader()
        positional = (httpmap.SESSION_API if call.session else httpmap.API)[call.verb]
        params = shapes.argument(call.node, positional, "params")
        query = params is not None and not shapes.plain_query(params)
        if query:
            self._need_block(PARAMS)

        def timeout(**limits: cst.BaseExpression) -> cst.Call:
            arguments = [keyword(name, value, COMMA) for name, value in limits.items()]
            if arguments:
                arguments[-1] = arguments[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            return cst.Call(cst.parse_expression(f"{x}.ClientTimeout"), arguments)

        def convert(name: str, value: cst.BaseExpression) -> tuple[str, cst.BaseExpression]:
            if name == "params" and query:
                return name, cst.Call(cst.Name(PARAMS), [cst.Arg(value)])
            if name == "timeout" and isinstance(value, cst.Tuple):
                connect, read = (element.value for element in value.elements)
                return name, timeout(sock_connect=connect, sock_read=read)
            if name == "timeout" and shapes.is_none_or_tuple(value):
                return name, timeout()
            if name == "timeout":
                # requests times out connecting and between bytes read, never the
                # whole request: aiohttp's ``total`` stays unset.
                return name, timeout(sock_connect=value, sock_read=value.deep_clone())
            return name, value

        def rewrite(updated: cst.Call) -> cst.BaseExpression:
            args = shapes.keywords(updated, positional, convert)
            request = updated.with_changes(
                func=cst.Attribute(cst.Name(client), cst.Name(call.verb)), args=args
            )
            return await_(cst.Call(cst.Name(READER), [cst.Arg(request)]))

        name = base_name(call.node.func)
        self.replace(
            call.node,
            rewrite,
            f"requests blocks the event loop: await an {x} session, its body read as"
            " requests reads it",
            needs=needs,
            blocking=self.asyncs.blocking.get(self.key(call.node)),
            drops=[name] if name is not None and call.session is None else [],
        )

    def _wrap(
        self, statement: cst.BaseStatement, client: str, x: str, needs: Sequence[str]
    ) -> None:
        opening = cst.Call(cst.Name(FACTORY))

        def wrap(updated: cst.SimpleStatementLine | cst.BaseCompoundStatement) -> cst.With:
            return cst.With(
                items=[cst.WithItem(opening, asname=cst.AsName(cst.Name(client)))],
                body=cst.IndentedBlock([updated.with_changes(leading_lines=())]),
                asynchronous=cst.Asynchronous(),
                leading_lines=updated.leading_lines,
            )

        self.replace(
            statement,
            wrap,
            "a client per call, as requests makes a session per call; it follows redirects"
            " and has no timeout, as requests",
            needs=needs,
        )

    def _add_blocks(self, module: cst.Module, blocks: list[str]) -> None:
        """The module-level definitions VF101's code uses, after the imports: the client
        factory, the dependency that hands out the app's client, the app's lifespan."""
        self._blocks.extend(blocks)
        found = self._aliases(
            module,
            (self._x,),
            ("collections.abc", "AsyncIterator"),
            ("collections.abc", "Awaitable"),
            ("fastapi.requests", "HTTPConnection"),
            ("contextlib",),
            ("fastapi", "FastAPI"),
        )
        if found is None:
            return
        x, iterator, awaitable, connection, contextlib, fastapi = found
        needs = list(x.needs)
        code = []
        names = {
            "x": x.name,
            "client": f"{x.name}.{self._client_type}",
            "factory": FACTORY,
            "parameter": PARAMETER,
            "iterator": iterator.name,
        }
        backend = "aiohttp" if self._aiohttp else "httpx"
        if FACTORY in blocks and self._aiohttp:
            found = self._aliases(module, ("os",), ("urllib.request",))
            if found is None:
                return
            os_, request = found
            needs += [*os_.needs, *request.needs]
            code.append(
                support.render(
                    "factory_aiohttp", names, trust_env=TRUST_ENV, os=os_.name, request=request.name
                )
            )
        elif FACTORY in blocks:
            maker, _, cls = self._backend.client.rpartition(".")
            found = self._aliases(module, (maker,))
            if found is None:
                return
            (made,) = found
            needs += made.needs
            code.append(support.render("factory_httpx", names, tls=TLS, made=made.name, cls=cls))
        if READER in blocks:
            needs += awaitable.needs
            code.append(support.render("reader", names, reader=READER, awaitable=awaitable.name))
        if PARAMS in blocks:
            found = self._aliases(module, ("typing", "Any"), ("urllib.parse",))
            if found is None:
                return
            any_, parse = found
            needs += [*any_.needs, *parse.needs]
            code.append(
                support.render("params", names, params=PARAMS, any=any_.name, parse=parse.name)
            )
        if LINES in blocks:
            needs += iterator.needs
            code.append(support.render("lines", names, lines=LINES))
        if GETTER in blocks:
            needs += [*iterator.needs, *connection.needs]
            code.append(support.render("getter", names, getter=GETTER, connection=connection.name))
        if LIFESPAN in blocks:
            needs += [*iterator.needs, *contextlib.needs, *fastapi.needs]
            cookiejar = ""
            if not self._aiohttp:
                found = self._aliases(module, ("http.cookiejar",))
                if found is None:
                    return
                (jar,) = found
                needs += jar.needs
                cookiejar = jar.name
            code.append(
                support.render(
                    f"lifespan_{backend}",
                    names,
                    lifespan=LIFESPAN,
                    contextlib=contextlib.name,
                    fastapi=fastapi.name,
                    cookiejar=cookiejar,
                )
            )
        said = support.render(f"header_{backend}", names).splitlines()
        comments = [cst.EmptyLine(comment=cst.Comment(text)) for text in said]
        new = list(cst.parse_module("\n\n".join(code)).body)

        def add(updated: cst.Module) -> cst.Module:
            body = list(updated.body)
            at = shapes.after_imports(body)
            head = comments if FACTORY in blocks else []
            # A definition first after the imports gets two blank lines; the SSL context
            # assignment httpx's factory starts with, one.
            first = [cst.EmptyLine()] * (2 if isinstance(new[0], cst.FunctionDef) else 1)
            added = [
                statement.with_changes(
                    leading_lines=(
                        [*first, *head]
                        if index == 0 and at
                        else head
                        if index == 0
                        else [cst.EmptyLine()] * 2
                    )
                )
                for index, statement in enumerate(new)
            ]
            if at < len(body):
                following = body[at]
                body[at] = following.with_changes(
                    leading_lines=[cst.EmptyLine()] * 2
                    + shapes.without_blanks(following.leading_lines)
                )
            body[at:at] = added
            return updated.with_changes(body=body)

        self.replace(
            module,
            add,
            f"what VF101's code uses: {', '.join(f'`{name}`' for name in blocks)}",
            needs=needs,
        )

    def _rename(self, attribute: cst.Attribute, new: str, parenthesize: bool) -> None:
        if new == "is_error":

            def negate(updated: cst.Attribute) -> cst.UnaryOperation:
                renamed = updated.with_changes(attr=cst.Name("is_error"))
                parens = ([cst.LeftParen()], [cst.RightParen()]) if parenthesize else ([], [])
                return cst.UnaryOperation(cst.Not(), renamed, lpar=parens[0], rpar=parens[1])

            self.replace(attribute, negate, "3xx is ok in requests: `ok` is `not is_error`")
            return
        self.replace(
            attribute,
            lambda updated: updated.with_changes(attr=cst.Name(new)),
            f"`{attribute.attr.value}` is `{new}` in {self._backend.library}",
        )

    def _keeps_requests(
        self, try_: cst.Try, analysis: httpmap.HttpFunction, done: set[int]
    ) -> bool:
        """Whether the ``try`` may still see requests' exceptions after the rewrite: it
        guards a requests call left as it is, or a call that may make one."""
        responses = {c.response for c in analysis.calls.values() if c.response}
        sessions = {c.session for c in analysis.calls.values() if c.session and id(c.node) in done}
        made = {id(analysis.sessions[name].made) for name in sessions}
        for call in shapes.calls_in(try_.body):
            if id(call) in done or id(call) in made:
                continue
            found = analysis.calls.get(call)
            if found is not None and found.verb == httpmap.CLOSE and found.session in sessions:
                continue  # the client's ``aclose()``/``close()``
            if found is not None:
                return True
            func = call.func
            if isinstance(func, cst.Attribute) and id(func.value) in done:
                continue  # a rewritten call's response, read in place: ``.json()``
            owner = base_name(func) if isinstance(func, cst.Attribute) else None
            if owner is not None and owner.value in responses:
                continue
            if not httpmap.harmless(self._qualify(func)):
                return True
        return False

    def _map_handler(
        self,
        handler: cst.ExceptHandler,
        mapped: tuple[cst.BaseExpression, ...],
        x: str,
        needs: Sequence[str],
        keep: bool,
        reads_json: bool,
    ) -> None:
        assert handler.type is not None
        names = {id(name): httpmap.exception_name(self._qualify(name)) for name in mapped}

        def counterparts(short: str) -> tuple[str, ...]:
            # ``r.json()`` raised a RequestException; where the try reads no JSON, a
            # JSONDecodeError comes from other code, which requests' class never caught.
            found = httpmap.exceptions(self._backend.library)[short]
            if short == "RequestException" and not reads_json:
                found = tuple(new for new in found if not new.startswith("json."))
            return found

        extra = {
            new.format(x=x)
            for short in names.values()
            if short is not None
            for new in counterparts(short)
        }
        json_alias = self.file.imports.module_alias(handler, "json")
        if json_alias is None and any(new.startswith("json.") for new in extra):
            self.report(
                handler, "the name `json` means something else here: map this `except` by hand"
            )
            return
        json_needs = (
            json_alias.needs if json_alias and any(n.startswith("json.") for n in extra) else ()
        )

        def rewrite(updated: cst.BaseExpression) -> cst.BaseExpression:
            originals = (
                [element.value for element in updated.elements]
                if isinstance(updated, cst.Tuple)
                else [updated]
            )
            old = handler.type
            old_elements = (
                [element.value for element in old.elements] if isinstance(old, cst.Tuple) else [old]
            )
            kept: list[cst.BaseExpression] = []
            added: list[str] = []
            for original, now in zip(old_elements, originals, strict=True):
                short = names.get(id(original))
                if short is None or keep:
                    kept.append(now)
                if short is not None:
                    for new in counterparts(short):
                        spelled = new.format(x=x)
                        if json_alias is not None:
                            spelled = spelled.replace("json.", f"{json_alias.name}.", 1)
                        if spelled not in added:
                            added.append(spelled)
            elements = [*kept, *(cst.parse_expression(name) for name in added)]
            if len(elements) == 1:
                return elements[0]
            return cst.Tuple(
                [cst.Element(e) for e in elements], lpar=[cst.LeftParen()], rpar=[cst.RightParen()]
            )

        drops = [] if keep else [n for n in (base_name(name) for name in mapped) if n is not None]
        self.replace(
            handler.type,
            rewrite,
            f"catch {self._backend.library}'s counterpart of requests' exception"
            + (" too: the `try` may still see requests' own" if keep else ""),
            needs=[*needs, *json_needs],
            drops=drops,
        )
