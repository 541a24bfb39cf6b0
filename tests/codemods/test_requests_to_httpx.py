"""VF101 (requests-to-httpx): requests calls in async code become awaited httpx2 calls.

What the rewritten calls do is checked against a real server in
``tests/test_requests_to_httpx_server.py``; these cases pin the text."""

import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import pytest
from vibefix.codemods import ALL
from vibefix.codemods.offload_blocking import OffloadBlocking
from vibefix.codemods.requests_to_httpx import RequestsToHttpx

from tests.codemods.helpers import (
    HTTPX2,
    TARGET,
    _run,
    assert_transforms,
    assert_unchanged,
    config_with,
    findings_for,
    upto,
)
from vibefix.config import Config
from vibefix.results import Status

VF101 = upto(RequestsToHttpx)
VF102 = upto(OffloadBlocking)

FACTORY = dedent(
    """\
    # `requests` as an httpx client: it follows redirects and has no timeout. The
    # clients share one SSL context: loading it costs ~20 ms a client.
    _HTTP_TLS = httpx2.create_ssl_context()


    def _http_client() -> httpx2.AsyncClient:
        return httpx2.AsyncClient(verify=_HTTP_TLS, follow_redirects=True, timeout=None)
    """
)


def module(imports: str, body: str) -> str:
    """A rewritten module: its imports, the client factory, then its code."""
    return f"{dedent(imports)}\n{FACTORY}\n\n{dedent(body)}"


# ---------------------------------------------------------------------------------------
# Rewrites
# ---------------------------------------------------------------------------------------


APP_BLOCKS = dedent(
    """\
    async def _get_http_client(connection: HTTPConnection) -> AsyncIterator[httpx2.AsyncClient]:
        \"\"\"The application's HTTP client, made in its lifespan; when the lifespan did not
        run (a `TestClient` used without `with`), a client for this request.\"\"\"
        client = getattr(connection.app.state, "http_client", None)
        if client is not None:
            yield client
        else:
            async with _http_client() as client:
                yield client


    @contextlib.asynccontextmanager
    async def _http_client_lifespan(app: FastAPI) -> AsyncIterator[None]:
        \"\"\"One HTTP client for all the application's requests, closed at shutdown.\"\"\"
        async with _http_client() as client:
            # Shared by every request: it keeps no cookies, as each requests call had its own.
            client.cookies.jar.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
            app.state.http_client = client
            try:
                yield
            finally:
                app.state.http_client = None  # closed: not for a later request
    """
)


def app_module(imports: str, body: str) -> str:
    """A rewritten app module: the factory, the dependency and the lifespan, then code."""
    return module(imports, f"{APP_BLOCKS}\n\n{dedent(body)}")


def test_in_an_app_handlers_get_the_client_the_lifespan_makes_with_mapped_except_and_ok():
    before = dedent(
        """\
        import requests
        from fastapi import FastAPI

        app = FastAPI()


        @app.get("/rate")
        async def rate(c: str):
            try:
                r = requests.get("http://rates", {"c": c}, timeout=5)
            except requests.exceptions.RequestException:
                return {"error": True}
            if not r.ok:
                r.raise_for_status()
            return {"rate": r.json()["rate"], "why": r.reason}
        """
    )
    after = app_module(
        """\
        import contextlib
        import http.cookiejar
        from collections.abc import AsyncIterator
        from typing import Annotated

        import httpx2
        from fastapi import Depends, FastAPI
        from fastapi.requests import HTTPConnection
        """,
        """\
        app = FastAPI(lifespan=_http_client_lifespan)


        @app.get("/rate")
        async def rate(c: str, *, http_client: Annotated[httpx2.AsyncClient, Depends(_get_http_client)]):
            try:
                r = await http_client.get("http://rates", params={"c": c}, timeout=httpx2.Timeout(5, write=None, pool=None))
            except (httpx2.HTTPError, httpx2.InvalidURL):
                return {"error": True}
            if r.is_error:
                r.raise_for_status()
            return {"rate": r.json()["rate"], "why": r.reason_phrase}
        """,  # noqa: E501
    )
    assert_transforms(VF101, before, after)


def test_an_app_with_its_own_lifespan_keeps_a_client_per_call_and_says_so():
    source = dedent(
        """\
        import requests
        from fastapi import FastAPI

        from .lifespan import lifespan

        app = FastAPI(lifespan=lifespan)


        @app.get("/ping")
        async def ping():
            return requests.get("http://upstream").status_code
        """
    )
    output = _run(VF101, source).new_source
    assert output is not None
    assert "async with _http_client() as http_client:" in output.decode()
    assert "_get_http_client" not in output.decode()
    assert any(
        "a client per call instead of one for the application: the app has its own"
        " `lifespan`" in message
        for _, message in findings_for(VF101, source)
    )


def test_aliases_and_from_imports_are_followed():
    before = dedent(
        """\
        import requests as rq
        from requests import post as send


        async def ping(url):
            rq.get(url)
            send(url, json={"a": 1})
        """
    )
    after = module(
        """\
        import httpx2
        """,
        """\
        async def ping(url):
            async with _http_client() as http_client:
                await http_client.get(url)
            async with _http_client() as http_client:
                await http_client.post(url, json={"a": 1})
        """,
    )
    assert_transforms(VF101, before, after)


def test_string_data_becomes_content_and_a_form_stays_data():
    before = dedent(
        """\
        import json

        import requests


        async def send(url, payload):
            requests.post(url, data=json.dumps(payload))
            requests.put(url, {"a": "1"})
            requests.patch(url, data=b"raw")
        """
    )
    after = module(
        """\
        import json

        import httpx2
        """,
        """\
        async def send(url, payload):
            async with _http_client() as http_client:
                await http_client.post(url, content=json.dumps(payload))
            async with _http_client() as http_client:
                await http_client.put(url, data={"a": "1"})
            async with _http_client() as http_client:
                await http_client.patch(url, content=b"raw")
        """,
    )
    assert_transforms(VF101, before, after)


def test_redirects_timeouts_and_head_keep_requests_behaviour():
    before = dedent(
        """\
        import requests


        async def probe(url):
            a = requests.head(
                url,
                timeout=(1, 2),
            )
            b = requests.get(url, allow_redirects=False, stream=False).status_code
            return a.status_code, b
        """
    )
    after = module(
        """\
        import httpx2
        """,
        """\
        async def probe(url):
            async with _http_client() as http_client:
                a = await http_client.head(
                    url,
                    timeout=httpx2.Timeout(None, connect=1, read=2),
                    follow_redirects=False,
                )
            async with _http_client() as http_client:
                b = (await http_client.get(url, follow_redirects=False)).status_code
            return a.status_code, b
        """,
    )
    assert_transforms(VF101, before, after)


def test_ok_is_negated_is_error_with_parentheses_where_needed():
    before = dedent(
        """\
        import requests


        async def check(url):
            r = requests.get(url)
            good = r.ok
            if r.ok and r.status_code != 204:
                print(r.ok == True, r.ok)
            return good
        """
    )
    after = module(
        """\
        import httpx2
        """,
        """\
        async def check(url):
            async with _http_client() as http_client:
                r = await http_client.get(url)
            good = not r.is_error
            if not r.is_error and r.status_code != 204:
                print((not r.is_error) == True, not r.is_error)
            return good
        """,
    )
    assert_transforms(VF101, before, after)


def test_a_try_that_may_still_see_requests_errors_catches_both():
    before = dedent(
        """\
        import requests

        from app.legacy import sync_fetch


        async def both(url):
            try:
                r = requests.get(url)
                sync_fetch(url)
            except requests.HTTPError as error:
                return error
            return r.text
        """
    )
    after = module(
        """\
        import httpx2
        import requests

        from app.legacy import sync_fetch
        """,
        """\
        async def both(url):
            try:
                async with _http_client() as http_client:
                    r = await http_client.get(url)
                sync_fetch(url)
            except (requests.HTTPError, httpx2.HTTPStatusError) as error:
                return error
            return r.text
        """,
    )
    assert_transforms(VF101, before, after)


def test_a_helper_is_handed_the_client_by_the_handlers_that_call_it():
    before = dedent(
        """\
        import requests
        from fastapi import FastAPI

        app = FastAPI()


        def fetch_rate(c):
            try:
                return requests.get("http://rates", params={"c": c}).json()["rate"]
            except Exception:
                return None


        @app.get("/")
        async def home():
            return {"rate": fetch_rate("EUR")}
        """
    )
    after = app_module(
        """\
        import contextlib
        import http.cookiejar
        from collections.abc import AsyncIterator
        from typing import Annotated

        import httpx2
        from fastapi import Depends, FastAPI
        from fastapi.requests import HTTPConnection
        """,
        """\
        app = FastAPI(lifespan=_http_client_lifespan)


        async def fetch_rate(c, *, http_client: httpx2.AsyncClient):
            try:
                return (await http_client.get("http://rates", params={"c": c})).json()["rate"]
            except Exception:
                return None


        @app.get("/")
        async def home(*, http_client: Annotated[httpx2.AsyncClient, Depends(_get_http_client)]):
            return {"rate": await fetch_rate("EUR", http_client=http_client)}
        """,
    )
    assert_transforms(ALL, before, after)


def test_a_helper_with_a_caller_that_cannot_hand_it_the_client_makes_its_own():
    before = dedent(
        """\
        import requests
        from fastapi import FastAPI

        app = FastAPI()


        async def fetch_rate(c):
            try:
                return requests.get("http://rates", params={"c": c}).json()["rate"]
            except Exception:
                return None


        @app.get("/")
        async def home():
            return {"rate": await fetch_rate("EUR")}


        callback = fetch_rate  # used as a value: no client to hand it
        """
    )
    output = _run(ALL, before).new_source
    assert output is not None
    text = output.decode()
    assert "async def fetch_rate(c):\n    try:\n        async with _http_client() as" in text
    assert "async def home():" in text  # nothing to hand on: no client parameter
    assert "_get_http_client" not in text


def test_plain_httpx_backend_when_configured():
    before = dedent(
        """\
        import requests


        async def ping(url):
            requests.get(url)
        """
    )
    after = module(
        """\
        import httpx
        """,
        """\
        async def ping(url):
            async with _http_client() as http_client:
                await http_client.get(url)
        """,
    ).replace("httpx2", "httpx")
    config = config_with(**{"requests-to-httpx": {"backend": "httpx"}})
    assert_transforms(VF101, before, after, config)


# ---------------------------------------------------------------------------------------
# Left alone
# ---------------------------------------------------------------------------------------


def test_sync_code_is_left_alone():
    assert_unchanged(
        VF101,
        dedent(
            """\
            import requests


            def fetch(url):
                return requests.get(url).json()
            """
        ),
    )


def test_a_local_requests_is_not_the_library():
    assert_unchanged(
        VF101,
        dedent(
            """\
            class requests:
                @staticmethod
                def get(url):
                    return url


            async def fetch(url):
                return requests.get(url)
            """
        ),
    )


def test_calls_in_lambdas_and_nested_defs_are_left_alone():
    assert_unchanged(
        VF101,
        dedent(
            """\
            import requests


            async def later(url, loop):
                fetch = lambda: requests.get(url).text

                def inner():
                    return requests.get(url).text

                return await loop.run_in_executor(None, inner), fetch
            """
        ),
    )


def left_alone(source: str, config: Config | None = None) -> list[tuple[int, str]]:
    """The findings for ``source``, which VF101 leaves as it is."""
    source = dedent(source)
    assert_unchanged(VF101, source, config)
    return findings_for(VF101, source, config)


def test_client_settings_are_left_alone_and_said():
    found = left_alone(
        """\
        import requests


        async def insecure(url):
            return requests.get(url, verify=False).text
        """
    )
    assert found == [
        (
            5,
            "`requests.get` blocks the event loop in `async def insecure`; VF101 leaves it:"
            " `verify` is a client setting in httpx",
        )
    ]


def test_a_response_that_leaves_the_function_is_left_alone():
    found = left_alone(
        """\
        import requests


        async def passthrough(url):
            r = requests.get(url)
            return r
        """
    )
    assert "is used as a whole" in found[0][1]


def test_an_attribute_without_counterpart_is_left_alone():
    found = left_alone(
        """\
        import requests


        async def jar(url):
            r = requests.get(url)
            return r.cookies, r.status_code
        """
    )
    assert "`r.cookies` has no faithful httpx counterpart" in found[0][1]


def test_a_streamed_response_read_by_iter_content_is_streamed_by_the_client():
    before = dedent(
        """\
        import requests


        async def download(url, out):
            with requests.get(url, stream=True, timeout=10) as r:
                r.raise_for_status()
                for chunk in r.iter_content(chunk_size=8192):
                    out.write(chunk)
            with requests.post(url, stream=True) as r:
                for byte in r.iter_content():
                    out.write(byte)
        """
    )
    after = module(
        """\
        import httpx2
        """,
        """\
        async def download(url, out):
            async with _http_client() as http_client_stream, http_client_stream.stream("GET", url, timeout=httpx2.Timeout(10, write=None, pool=None)) as r:
                if r.is_error:
                    r.raise_for_status()
                async for chunk in r.aiter_bytes(8192):
                    out.write(chunk)
            async with _http_client() as http_client_stream, http_client_stream.stream("POST", url) as r:
                async for byte in r.aiter_bytes(1):
                    out.write(byte)
        """,  # noqa: E501
    )
    assert_transforms(VF101, before, after)


LINES_BLOCK = dedent(
    '''\
    async def _http_lines(response: httpx2.Response) -> AsyncIterator[bytes]:
        """requests' `iter_lines()`: the body's lines as bytes, split at `\\n`, `\\r` or
        `\\r\\n`, which are dropped."""
        pending = b""
        async for chunk in response.aiter_bytes():
            lines = (pending + chunk).splitlines(keepends=True)
            # The last line may go on in the next chunk (a `\\r` may be half of `\\r\\n`).
            pending = lines.pop() if lines and not lines[-1].endswith(b"\\n") else b""
            for line in lines:
                yield line.rstrip(b"\\r\\n")
        if pending:
            yield pending.rstrip(b"\\r\\n")
    '''
)


def test_a_streamed_response_read_by_iter_lines_yields_the_same_lines():
    before = dedent(
        """\
        import json

        import requests


        async def events(url, out):
            with requests.get(url, stream=True, timeout=10) as r:
                for line in r.iter_lines(chunk_size=64):
                    if line:
                        out.append(json.loads(line))
            with requests.get(url, stream=True) as r:
                for text in r.iter_lines(decode_unicode=True):
                    out.append(text)
        """
    )
    after = (
        "import json\nfrom collections.abc import AsyncIterator\n\nimport httpx2\n\n\n"
        + LINES_BLOCK
        + "\n\n"
        + FACTORY
        + dedent(
            """\


            async def events(url, out):
                async with _http_client() as http_client_stream, http_client_stream.stream("GET", url, timeout=httpx2.Timeout(10, write=None, pool=None)) as r:
                    async for line in _http_lines(r):
                        if line:
                            out.append(json.loads(line))
                async with _http_client() as http_client_stream, http_client_stream.stream("GET", url) as r:
                    async for text in r.aiter_lines():
                        out.append(text)
            """  # noqa: E501
        )
    )
    assert_transforms(VF101, before, after)


@pytest.mark.parametrize(
    ("loop", "reason"),
    [
        ('for line in r.iter_lines(delimiter=b";"):', "only `iter_lines`' `chunk_size`"),
        ("for line in r.iter_lines(decode_unicode=flag):", "only `iter_lines`' `chunk_size`"),
        ("for line in list(r.iter_lines()):", "other than as a `for` loop's iterable"),
        ("async for line in r.iter_lines():", "other than as a `for` loop's iterable"),
    ],
)
def test_a_streamed_response_whose_lines_are_read_otherwise_is_left(loop, reason):
    source = dedent(
        f"""\
        import requests


        async def events(url, out, flag):
            with requests.get(url, stream=True) as r:
                {loop}
                    out.append(line)
        """
    )
    assert_unchanged(VF102, source)
    assert any(reason in message for _, message in findings_for(VF102, source))


def test_a_streamed_response_read_otherwise_is_left_alone_and_not_offloaded():
    for read in ("r.content", "list(r.iter_content(4))"):
        source = dedent(
            f"""\
            import requests


            async def download(url, out):
                with requests.get(url, stream=True) as r:
                    out.write({read})
            """
        )
        assert_unchanged(VF102, source)
        (found,) = findings_for(VF102, source)
        assert "VF101 leaves it" in found[1], read
    source = dedent(
        """\
        import requests


        async def download(url, out):
            r = requests.get(url, stream=True)
            for chunk in r.iter_content(1024):
                out.write(chunk)
        """
    )
    assert_unchanged(VF102, source)
    assert (
        "VF101 rewrites only `with requests.get(u, stream=True) as r:`"
        in (findings_for(VF102, source)[0][1])
    )


def test_except_oserror_is_left_alone():
    found = left_alone(
        """\
        import requests


        async def guarded(url):
            try:
                r = requests.get(url)
            except OSError:
                return None
            return r.text
        """
    )
    assert "an `except OSError` catches it" in found[0][1]


def test_a_helper_whose_errors_reach_its_callers_is_offloaded_instead():
    source = dedent(
        """\
        import requests
        from fastapi import FastAPI

        app = FastAPI()


        async def fetch_rate(currency):
            return requests.get("http://rates", params={"c": currency}).json()["rate"]


        @app.get("/")
        async def home():
            try:
                return {"rate": await fetch_rate("EUR")}
            except requests.RequestException:
                return {"rate": None}
        """
    )
    found = findings_for(VF102, source)
    assert any(
        line == 8 and "its callers would get httpx's exceptions" in message
        for line, message in found
    )


def test_a_project_on_python_3_10_is_left_alone():
    found = left_alone(
        """\
        import requests


        async def ping(url):
            requests.get(url)
        """,
        Config(root=config_with().root, options=HTTPX2, target_version=(3, 10)),
    )
    assert "`httpx2` needs Python 3.11 and the project supports 3.10" in found[0][1]


def test_the_default_backend_aiohttp_runs_on_python_3_9_not_3_8():
    source = """\
        import requests


        async def ping(url):
            requests.get(url)
        """
    found = left_alone(source, Config(root=config_with().root, target_version=(3, 8)))
    assert "`aiohttp` needs Python 3.9 and the project supports 3.8" in found[0][1]
    output = _run(VF101, dedent(source), Config(root=config_with().root, target_version=(3, 9)))
    assert b"await _http_read(http_client.get(url))" in (output.new_source or b"")


def test_a_session_that_is_never_closed_is_left_alone():
    found = left_alone(
        """\
        import requests


        async def latest():
            session = requests.Session()
            return session.get("http://rates").json()
        """
    )
    assert "the session `session` is never closed" in found[0][1]


def test_a_session_made_and_closed_in_the_function_becomes_a_client():
    before = dedent(
        """\
        import requests


        async def crawl(urls):
            with requests.Session() as s:
                for url in urls:
                    print(s.get(url, timeout=5).status_code)


        async def post_all(url, items):
            session = requests.Session()
            for item in items:
                session.post(url, json=item)
            session.close()
        """
    )
    after = module(
        """\
        import httpx2
        """,
        """\
        async def crawl(urls):
            async with _http_client() as s:
                for url in urls:
                    print((await s.get(url, timeout=httpx2.Timeout(5, write=None, pool=None))).status_code)


        async def post_all(url, items):
            session = _http_client()
            for item in items:
                await session.post(url, json=item)
            await session.aclose()
        """,  # noqa: E501
    )
    assert_transforms(VF101, before, after)


def test_a_configured_session_is_left_alone():
    found = left_alone(
        """\
        import requests


        async def fetch(url, token):
            with requests.Session() as s:
                s.headers["Authorization"] = token
                return s.get(url).text
        """
    )
    assert "the session `s` is configured or passed on" in found[0][1]


def test_the_target_python_comes_from_requires_python(tmp_path):
    source = dedent(
        """\
        import requests


        async def ping(url):
            requests.get(url)
        """
    )
    config = Config(root=tmp_path, options=HTTPX2)
    (tmp_path / "pyproject.toml").write_text('[project]\nrequires-python = ">=3.10"\n')
    assert "supports 3.10" in findings_for(VF101, source, config)[0][1]
    (tmp_path / "pyproject.toml").write_text('[project]\nrequires-python = ">= 3.12, <4"\n')
    assert findings_for(VF101, source, config) == []


def test_a_session_stored_on_self_runs_in_a_thread():
    before = dedent(
        """\
        import requests


        class Rates:
            def __init__(self):
                self.session = requests.Session()

            async def latest(self, base):
                return self.session.get("http://rates", params={"b": base}).json()
        """
    )
    after = dedent(
        """\
        import asyncio

        import requests


        class Rates:
            def __init__(self):
                self.session = requests.Session()

            async def latest(self, base):
                return (await asyncio.to_thread(self.session.get, "http://rates", params={"b": base})).json()
        """  # noqa: E501
    )
    assert_transforms(VF102, before, after)
    assert (
        "not a session kept elsewhere (on `self`, in a module)" in findings_for(VF102, before)[0][1]
    )


def test_an_async_generator_gets_a_client_around_each_call_but_not_around_a_yield():
    before = dedent(
        """\
        import requests


        async def pages(urls):
            for url in urls:
                r = requests.get(url)
                yield r.text
            yield requests.get(urls[0]).status_code
        """
    )
    after = dedent(
        """\
        import asyncio

        import httpx2
        import requests

        # `requests` as an httpx client: it follows redirects and has no timeout. The
        # clients share one SSL context: loading it costs ~20 ms a client.
        _HTTP_TLS = httpx2.create_ssl_context()


        def _http_client() -> httpx2.AsyncClient:
            return httpx2.AsyncClient(verify=_HTTP_TLS, follow_redirects=True, timeout=None)


        async def pages(urls):
            for url in urls:
                async with _http_client() as http_client:
                    r = await http_client.get(url)
                yield r.text
            yield (await asyncio.to_thread(requests.get, urls[0])).status_code
        """
    )
    assert_transforms(VF102, before, after)


def test_a_url_that_may_carry_a_query_with_params_is_left_alone():
    found = left_alone(
        """\
        import requests


        async def search(url, q):
            return requests.get(url, params={"q": q}).json()
        """
    )
    assert "httpx replaces with `params` (requests merges them)" in found[0][1]


def test_a_url_assigned_once_without_a_query_takes_params():
    before = dedent(
        """\
        import requests


        async def search(base, q):
            url = f"{base}/search"
            return requests.get(url, params={"q": q}).json()
        """
    )
    after = module(
        """\
        import httpx2
        """,
        """\
        async def search(base, q):
            url = f"{base}/search"
            async with _http_client() as http_client:
                return (await http_client.get(url, params={"q": q})).json()
        """,
    )
    assert_transforms(VF101, before, after)


def test_an_except_that_reads_the_error_response_is_left_alone():
    found = left_alone(
        """\
        import requests


        async def fetch(url):
            try:
                return requests.get(url).text
            except requests.RequestException as error:
                return error.response
        """
    )
    assert "reads off the error what httpx's counterpart lacks" in found[0][1]


def test_calls_in_a_loop_test_and_its_body_share_one_client():
    before = dedent(
        """\
        import requests


        async def drain(url):
            while requests.get(url).status_code == 200:
                requests.delete(url)
        """
    )
    after = module(
        """\
        import httpx2
        """,
        """\
        async def drain(url):
            async with _http_client() as http_client:
                while (await http_client.get(url)).status_code == 200:
                    await http_client.delete(url)
        """,
    )
    assert_transforms(VF101, before, after)


def test_a_call_in_a_one_line_function_is_left_alone():
    found = left_alone(
        """\
        import requests


        async def ping(url): return requests.get(url).status_code
        """
    )
    assert "a one-line block" in found[0][1]


def test_without_vf101_selected_requests_calls_run_in_a_thread():
    before = dedent(
        """\
        import requests


        async def ping(url):
            return requests.get(url).status_code
        """
    )
    after = dedent(
        """\
        import asyncio

        import requests


        async def ping(url):
            return (await asyncio.to_thread(requests.get, url)).status_code
        """
    )
    assert_transforms(OffloadBlocking, before, after)


def test_the_httpx_aiohttp_backend_makes_its_client_and_speaks_httpx():
    source = dedent(
        """\
        import requests


        async def ping(url):
            requests.get(url)
        """
    )
    config = config_with(**{"requests-to-httpx": {"backend": "httpx-aiohttp"}})
    output = _run(VF101, source, config).new_source
    assert output is not None
    text = output.decode()
    assert "import httpx\nimport httpx_aiohttp\n" in text
    assert "_HTTP_TLS = httpx.create_ssl_context()" in text
    assert (
        "def _http_client() -> httpx.AsyncClient:\n"
        "    return httpx_aiohttp.HttpxAiohttpClient(verify=_HTTP_TLS, follow_redirects=True,"
        " timeout=None)\n"
    ) in text


def test_a_helper_no_caller_is_seen_for_makes_its_own_client():
    source = dedent(
        """\
        import requests
        from fastapi import FastAPI

        app = FastAPI()


        @app.get("/")
        async def home():
            return requests.get("http://rates").json()


        class Rates:
            async def latest(self):
                try:
                    return requests.get("http://rates").json()
                except Exception:
                    return None
        """
    )
    output = _run(VF101, source).new_source
    assert output is not None
    text = output.decode()
    assert "async def latest(self):\n        try:\n            async with _http_client()" in text
    assert "async def home(*, http_client:" in text


# -- found in review: each once a wrong rewrite -----------------------------------------

APP_HEAD = """\
import requests
from fastapi import BackgroundTasks, FastAPI

app = FastAPI()
"""


def test_methods_keep_a_client_per_call_since_self_and_super_may_reach_others():
    source = APP_HEAD + dedent(
        """\


        class Base:
            async def fetch(self, u):
                try:
                    return requests.get(u).text
                except Exception:
                    return None


        @app.get("/")
        async def home(u: str):
            return await Base().fetch(u)
        """
    )
    text = (_run(VF101, source).new_source or b"").decode()
    assert "async def fetch(self, u):\n        try:\n            async with _http_client()" in text
    assert "fetch(u, http_client=" not in text


def test_a_handler_also_queued_as_a_background_task_takes_no_client():
    source = APP_HEAD + dedent(
        """\


        @app.post("/refresh")
        async def refresh(u: str):
            return requests.get(u).status_code


        @app.post("/later")
        async def later(u: str, tasks: BackgroundTasks):
            tasks.add_task(refresh, u)
        """
    )
    text = (_run(VF101, source).new_source or b"").decode()
    assert "async def refresh(u: str):\n    async with _http_client() as http_client:" in text


@pytest.mark.parametrize(
    ("app", "why"),
    [
        ("app = FastAPI(**SETTINGS)", "the app's settings are unpacked"),
        ("app = FastAPI()\napp.add_event_handler('startup', print)", "startup or shutdown"),
    ],
)
def test_an_app_whose_startup_a_lifespan_could_change_keeps_clients_per_call(app, why):
    source = f"import requests\nfrom fastapi import FastAPI\n\nSETTINGS = {{}}\n{app}\n" + dedent(
        """\


        @app.get("/")
        async def home():
            return requests.get("http://x").status_code
        """
    )
    assert "lifespan=" not in (_run(VF101, source).new_source or b"").decode()
    assert any(why in message for _, message in findings_for(VF101, source))


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (
            "try:\n        r = requests.get(u)\n        return r.json(), json.loads(u)\n"
            "    except requests.RequestException:\n        return None",
            "runs other code that may raise `JSONDecodeError`",
        ),
        (
            "try:\n        return requests.get(u).text\n"
            "    except requests.HTTPError as e:\n        return e.response.reason",
            "reads off the error what httpx's counterpart lacks",
        ),
        (
            "try:\n        return requests.get(u).text\n"
            "    except* requests.HTTPError:\n        return None",
            "an `except*` here is not mapped",
        ),
        ("return sum(requests.get(x).status_code for x in [u])", "where `await` is not"),
        (
            "with requests.Session() as s:\n        r = s.get(u)\n    return s.get(u).text, r.text",
            "used after its `with`",
        ),
        (
            "s = requests.Session()\n    s.close()\n    return s.get(u).text",
            "used after `close()`",
        ),
        (
            "with requests.Session() as s:\n        def fetch(v):\n            return s.get(v)\n"
            "        return s.get(u).text, fetch",
            "used in a nested function",
        ),
    ],
)
def test_calls_vf101_cannot_map_are_said_and_left(body, why):
    source = f"import json\n\nimport requests\n\n\nasync def f(u):\n    {body}\n"
    found = findings_for(VF102, source)
    assert any(why in message for _, message in found), found


def test_a_parameter_named_json_keeps_requests():
    found = left_alone(
        """\
        import requests


        async def send(u, json):
            try:
                return requests.post(u, json=json).json()
            except requests.RequestException:
                return None
        """
    )
    assert "the name `json` means something else here" in found[0][1]


def test_an_exception_handler_for_requests_errors_keeps_escaping_calls_on_requests():
    source = APP_HEAD + dedent(
        """\


        @app.exception_handler(requests.RequestException)
        async def upstream_failed(request, exc):
            return None


        @app.get("/")
        async def home():
            return requests.get("http://x").status_code
        """
    )
    assert any(
        "its callers would get httpx's exceptions" in message
        for _, message in findings_for(VF102, source)
    )


def test_a_session_stream_is_opened_on_the_session():
    before = dedent(
        """\
        import requests


        async def download(u, out):
            with requests.Session() as s:
                with s.get(u, stream=True) as r:
                    for chunk in r.iter_content(1024):
                        out.write(chunk)
        """
    )
    after = module(
        """\
        import httpx2
        """,
        """\
        async def download(u, out):
            async with _http_client() as s:
                async with s.stream("GET", u) as r:
                    async for chunk in r.aiter_bytes(1024):
                        out.write(chunk)
        """,
    )
    assert_transforms(VF101, before, after)


def test_a_stream_inside_a_statement_with_its_own_client_gets_another_name():
    source = dedent(
        """\
        import requests


        async def mirror(index, done):
            for u in requests.get(index).json():
                with requests.get(u, stream=True) as r:
                    for c in r.iter_content(1024):
                        print(len(c))
                requests.post(done, json={"u": u})
        """
    )
    text = (_run(VF101, source).new_source or b"").decode()
    assert "async with _http_client() as http_client_stream, http_client_stream.stream(" in text
    assert "            await http_client.post(done" in text


def test_a_name_imported_only_for_type_checking_is_imported_for_real():
    source = dedent(
        """\
        from typing import TYPE_CHECKING

        import requests
        from fastapi import FastAPI

        if TYPE_CHECKING:
            from fastapi import Depends

        app = FastAPI()


        @app.get("/")
        async def home():
            return requests.get("http://x").status_code
        """
    )
    text = (_run(VF101, source).new_source or b"").decode()
    # `Depends` is taken by an import that never runs: the module's name is used instead.
    assert "\nimport fastapi\n" in text
    assert "fastapi.Depends(_get_http_client)" in text


def test_a_module_with_its_own_http_client_function_keeps_requests():
    found = left_alone(
        """\
        import requests


        def _http_client():
            return requests.Session()


        async def ping(url):
            with requests.Session() as s:
                return s.get(url).status_code
        """
    )
    assert "the module defines its own `_http_client`" in found[0][1]


def test_a_call_added_after_an_earlier_run_uses_the_app_client_already_there():
    before = dedent(
        """\
        import requests
        from fastapi import FastAPI

        app = FastAPI()


        @app.get("/rate")
        async def rate(c: str):
            return requests.get("http://rates", params={"c": c}).json()
        """
    )
    once = (_run(VF101, before).new_source or b"").decode()
    added = once.replace("import httpx2\n", "import httpx2\nimport requests\n", 1) + dedent(
        """\


        @app.get("/ping")
        async def ping():
            return requests.get("http://upstream").status_code
        """
    )
    again = (_run(VF101, added).new_source or b"").decode()
    assert again.count("lifespan=") == 1
    assert "async def ping(*, http_client:" in again
    assert "the app has its own" not in str(findings_for(VF101, added))


# -- the aiohttp backend ------------------------------------------------------------------

AIOHTTP = {"requests-to-httpx": {"backend": "aiohttp"}}

AIOHTTP_BLOCKS = '''\


async def _http_read(request: Awaitable[aiohttp.ClientResponse]) -> aiohttp.ClientResponse:
    """The response with its body read, as requests returns it; read to the end, its
    connection goes back to the pool."""
    response = await request
    await response.read()
    return response


# `requests` as an aiohttp session: it follows redirects and has no timeout.
# It reads proxies and ~/.netrc from the environment when there are any:
# aiohttp, told to, looks for them in a thread at every call.
_HTTP_TRUST_ENV = bool(urllib.request.getproxies()) or any(
    os.path.exists(os.path.expanduser(path))
    for path in (os.environ.get("NETRC") or "~/.netrc", "~/_netrc")
)


def _http_client(shared: bool = False) -> aiohttp.ClientSession:
    """A session that behaves as requests does; one `shared` by the application's
    requests keeps no cookies, as each requests call had its own."""
    jar = aiohttp.DummyCookieJar() if shared else None
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(), trust_env=_HTTP_TRUST_ENV, cookie_jar=jar
    )
'''


def test_aiohttp_a_call_reads_its_body_and_its_response_is_read_awaited():
    before = dedent(
        """\
        import requests


        async def rate(url, base):
            r = requests.get(url, timeout=5)
            if not r.ok:
                return r.reason
            return r.status_code, r.text.strip(), r.content, requests.post(url, json=base).json()
        """
    )
    after = (
        "import json\nimport os\nimport urllib.request\nfrom collections.abc import Awaitable\n\n"
        "import aiohttp\n"
        + AIOHTTP_BLOCKS
        + dedent(
            """\


            async def rate(url, base):
                async with _http_client() as http_client:
                    r = await _http_read(http_client.get(url, timeout=aiohttp.ClientTimeout(sock_connect=5, sock_read=5)))
                if not r.ok:
                    return r.reason
                async with _http_client() as http_client:
                    return r.status, (await r.text(errors="replace")).strip(), await r.read(), json.loads(await (await _http_read(http_client.post(url, json=base))).text(errors="replace"))
            """  # noqa: E501
        )
    )
    assert_transforms(VF101, before, after, config_with(**AIOHTTP))


def test_aiohttp_a_session_and_the_exceptions_it_raises():
    before = dedent(
        """\
        import requests


        async def sync_all(url, items):
            try:
                session = requests.Session()
                for item in items:
                    session.post(url, data={"id": item}, timeout=(3, 10))
                session.close()
            except requests.ConnectionError:
                return "down"
            except requests.Timeout:
                return "slow"
            except requests.RequestException:
                return "failed"
        """
    )
    after = (
        "import os\nimport urllib.request\nfrom collections.abc import Awaitable\n\n"
        "import aiohttp\n"
        + AIOHTTP_BLOCKS
        + dedent(
            """\


            async def sync_all(url, items):
                try:
                    session = _http_client()
                    for item in items:
                        await _http_read(session.post(url, data={"id": item}, timeout=aiohttp.ClientTimeout(sock_connect=3, sock_read=10)))
                    await session.close()
                except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError, aiohttp.ConnectionTimeoutError):
                    return "down"
                except aiohttp.ServerTimeoutError:
                    return "slow"
                except aiohttp.ClientError:
                    return "failed"
            """  # noqa: E501
        )
    )
    assert_transforms(VF101, before, after, config_with(**AIOHTTP))


def test_aiohttp_an_app_shares_one_session_made_in_its_lifespan():
    source = dedent(
        """\
        import requests
        from fastapi import FastAPI

        app = FastAPI()


        @app.get("/")
        async def home():
            return requests.get("http://rates").json()
        """
    )
    output = _run(VF101, source, config_with(**AIOHTTP)).new_source
    assert output is not None
    text = output.decode()
    assert "app = FastAPI(lifespan=_http_client_lifespan)" in text
    assert (
        "async def home(*, http_client: Annotated[aiohttp.ClientSession,"
        " Depends(_get_http_client)]):\n"
        '    return json.loads(await (await _http_read(http_client.get("http://rates")))'
        '.text(errors="replace"))\n'
    ) in text
    assert "-> AsyncIterator[aiohttp.ClientSession]:" in text
    compile(text, "<after>", "exec", dont_inherit=True)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('r = requests.get(u, auth=("a", "b"))\n    return r.text', "deprecates `auth=`"),
        ("r = requests.get(u)\n    return any(r.text == p for p in u)", "generator expression"),
        (
            "r = requests.get(u)\n    r.raise_for_status()\n    return r.content",
            "`r.content` may be read after `raise_for_status()`",
        ),
        ("r = requests.get(u, timeout=limit())\n    return r.text", "name it first"),
        ("r = requests.get(u)\n    return r.elapsed", "no faithful aiohttp counterpart"),
        ("r = requests.get(u, files={'f': u})\n    return r.text", "`aiohttp.FormData`"),
        ("r = requests.get(u)\n    return r.json", "used other than called"),
    ],
)
def test_aiohttp_what_it_cannot_keep_runs_in_a_thread(body, reason):
    source = f"import requests\n\n\nasync def fetch(u):\n    {body}\n"
    config = config_with(**AIOHTTP)
    result = _run(VF101, source, config)
    output = (result.new_source or b"").decode()
    assert "aiohttp" not in output
    offloaded = _run(VF102, source, config).new_source
    assert offloaded is not None
    assert "asyncio.to_thread(requests.get" in offloaded.decode()
    assert any(reason in message for _, message in findings_for(VF102, source, config))


def test_aiohttp_a_stream_is_reported_not_rewritten():
    source = dedent(
        """\
        import requests


        async def download(u, out):
            with requests.get(u, stream=True) as r:
                for chunk in r.iter_content(1024):
                    out.write(chunk)
        """
    )
    config = config_with(**AIOHTTP)
    assert _run(VF102, source, config).status is Status.UNCHANGED
    assert any(
        "not yet to aiohttp" in message for _, message in findings_for(VF102, source, config)
    )


@pytest.mark.parametrize("backend", ["httpx2", "aiohttp"])
def test_a_timeout_that_names_a_tuple_is_left(backend):
    source = dedent(
        """\
        import requests

        TIMEOUT = (3.05, 27)


        async def fetch(u):
            return requests.get(u, timeout=TIMEOUT).text
        """
    )
    config = config_with(**{"requests-to-httpx": {"backend": backend}})
    assert "Timeout(" not in (_run(VF102, source, config).new_source or b"").decode()
    assert any(
        "names a `(connect, read)` tuple (`TIMEOUT`)" in message
        for _, message in findings_for(VF102, source, config)
    )


@pytest.mark.parametrize("backend", ["httpx2", "aiohttp"])
def test_an_except_around_raise_for_status_alone_is_mapped(backend):
    source = dedent(
        """\
        import requests


        async def fetch(u):
            r = requests.get(u)
            try:
                r.raise_for_status()
            except requests.HTTPError:
                return None
            return r.text
        """
    )
    config = config_with(**{"requests-to-httpx": {"backend": backend}})
    output = (_run(VF101, source, config).new_source or b"").decode()
    caught = "aiohttp.ClientResponseError" if backend == "aiohttp" else "httpx2.HTTPStatusError"
    assert f"    except {caught}:\n" in output
    assert "import requests" not in output


def test_a_stdlib_from_import_goes_after_the_plain_ones_as_ruff_sorts_them(tmp_path):
    source = dedent(
        """\
        import os
        import sys
        from pathlib import Path

        import requests


        async def fetch(u):
            return requests.get(u).text, os, sys, Path
        """
    )
    output = (_run(VF101, source, config_with(**AIOHTTP)).new_source or b"").decode()
    assert output.startswith(
        "import os\nimport sys\nimport urllib.request\nfrom collections.abc import Awaitable\n"
        "from pathlib import Path\n\nimport aiohttp\n"
    ), output
    (tmp_path / "out.py").write_text(output)
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run(
        [str(ruff), "check", "--isolated", "--no-cache", "--select", "I", "out.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout


def test_aiohttp_a_read_in_an_f_string_uses_the_other_quote():
    source = dedent(
        """\
        import requests


        async def show(u):
            r = requests.get(u)
            return f"got {r.text}", f'{r.json()["a"]}'
        """
    )
    output = (_run(VF101, source, config_with(**AIOHTTP)).new_source or b"").decode()
    assert "f\"got {await r.text(errors='replace')}\"" in output
    assert """f'{json.loads(await r.text(errors="replace"))["a"]}'""" in output
    compile(output, "<after>", "exec", dont_inherit=True)
    nested = source.replace("""f"got {r.text}\"""", """f"{f'{r.text}'}\"""")
    assert nested != source
    assert any(
        "f-strings written with both quotes" in message
        for _, message in findings_for(VF102, nested, config_with(**AIOHTTP))
    )


def test_a_factory_an_earlier_run_wrote_for_another_backend_is_not_reused():
    source = dedent(
        """\
        import httpx2
        import requests

        _HTTP_TLS = httpx2.create_ssl_context()


        def _http_client() -> httpx2.AsyncClient:
            return httpx2.AsyncClient(verify=_HTTP_TLS, follow_redirects=True, timeout=None)


        async def fetch(u):
            return requests.get(u).text
        """
    )
    output = (_run(VF102, source, config_with(**AIOHTTP)).new_source or b"").decode()
    assert "aiohttp" not in output
    assert "asyncio.to_thread(requests.get" in output
    # The backend it was written for reuses it.
    rewritten = (_run(VF101, source).new_source or b"").decode()
    assert rewritten.count("def _http_client") == 1
    assert "async with _http_client() as http_client:" in rewritten


@pytest.mark.parametrize(
    "assignment",
    [
        "    limit: tuple[float, float] = (3.05, 27)\n",  # in the function, annotated
        "",  # at module level, under an `if`
    ],
)
def test_a_timeout_that_names_a_tuple_is_left_wherever_it_is_assigned(assignment):
    source = (
        "import os\n\nimport requests\n\nif os.environ.get('SLOW'):\n    limit = (10, 60)\n"
        "else:\n    limit = 5\n\n\nasync def fetch(u):\n"
        + assignment
        + "    return requests.get(u, timeout=limit).text\n"
    )
    assert any(
        "names a `(connect, read)` tuple (`limit`)" in message
        for _, message in findings_for(VF102, source)
    )


def test_an_except_around_a_streamed_loop_catches_httpx_errors():
    before = dedent(
        """\
        import requests


        async def events(u, out):
            with requests.get(u, stream=True) as r:
                try:
                    for line in r.iter_lines(decode_unicode=True):
                        out.append(line)
                except requests.ConnectionError:
                    out.append(None)
        """
    )
    output = (_run(VF101, before).new_source or b"").decode()
    assert "async for line in r.aiter_lines():" in output
    # `out.append` might raise requests' own errors, as far as VF101 knows: both are caught.
    assert (
        "except (requests.ConnectionError, httpx2.NetworkError, httpx2.ProtocolError,"
        " httpx2.ProxyError, httpx2.ConnectTimeout):" in output
    )


def test_a_streamed_loop_in_a_nested_sync_def_is_left():
    source = dedent(
        """\
        import requests


        async def events(u, out):
            with requests.get(u, stream=True) as r:

                def consume():
                    for line in r.iter_lines():
                        out.append(line)

                consume()
        """
    )
    assert_unchanged(VF102, source)
    assert any(
        "other than as a `for` loop's iterable" in message
        for _, message in findings_for(VF102, source)
    )


def test_aiohttp_a_function_whose_aiohttp_is_something_else_is_left_alone():
    found = left_alone(
        """\
        import requests


        async def ping(url, aiohttp):
            requests.get(url)
        """,
        Config(root=config_with().root, target_version=TARGET),
    )
    assert any("the name `aiohttp` means something else here" in m for _, m in found), found


AIOHTTP_PARAMS = '''\


def _http_params(params: Any) -> Any:
    """`params` as requests sends them: a `None` value is left out, a list (any iterable
    but a string) is repeated, any other value is sent as `str()` gives it."""
    if params is None:
        return None
    if isinstance(params, (str, bytes)):  # aiohttp would encode its `%` again
        text = params.decode() if isinstance(params, bytes) else params
        return urllib.parse.parse_qsl(text, keep_blank_values=True)
    query: list[tuple[str, str]] = []
    for key, values in params.items() if hasattr(params, "items") else params:
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            values = [values]
        name = key.decode() if isinstance(key, bytes) else str(key)
        for value in values:
            if value is not None:
                text = value.decode() if isinstance(value, bytes) else str(value)
                query.append((name, text))
    return query
'''


def test_aiohttp_params_that_may_hold_none_true_or_a_list_are_built_as_requests_builds_them():
    # aiohttp raises TypeError for a None or True value; requests drops None, sends
    # "True", repeats a list's values.
    before = dedent(
        """\
        import requests


        async def search(url, term, page=None, query=None):
            found = requests.get(url, params={"q": term, "page": page, "exact": True})
            more = requests.get(url, query)
            return found.json(), more.json()
        """
    )
    after = (
        "import json\nimport os\nimport urllib.parse\nimport urllib.request\n"
        "from collections.abc import Awaitable\nfrom typing import Any\n\nimport aiohttp\n"
        + AIOHTTP_PARAMS
        + AIOHTTP_BLOCKS
        + dedent(
            """\


            async def search(url, term, page=None, query=None):
                async with _http_client() as http_client:
                    found = await _http_read(http_client.get(url, params=_http_params({"q": term, "page": page, "exact": True})))
                async with _http_client() as http_client:
                    more = await _http_read(http_client.get(url, params=_http_params(query)))
                return json.loads(await found.text(errors="replace")), json.loads(await more.text(errors="replace"))
            """  # noqa: E501
        )
    )
    assert_transforms(VF101, before, after, config_with(**AIOHTTP))


@pytest.mark.parametrize(
    ("params", "built"),
    [
        ('{"q": "lamps", "page": 2, "min": -1.5, "tag": f"x{url}"}', False),
        ('"q=lamps&page=2&sort=-price"', False),
        ('{"q": "lamps", "page": None}', True),
        ('{"q": "lamps", "sale": True}', True),
        ('{"q": "lamps", **more}', True),
        ('"q=a+b&s=%20"', True),  # aiohttp would send `%2B`, `%2520`
        ('"q=" "lamps"', True),
        ('{url: "lamps"}', True),  # aiohttp wants a str key; requests sends str(key)
        ('{"q": b"lamps"}', True),  # aiohttp refuses bytes; requests decodes them
    ],
    ids=[
        *("literal-dict", "plain-query", "none", "true", "spread", "encoded-query", "concat"),
        *("name-key", "bytes-value"),
    ],
)
def test_aiohttp_params_are_left_as_they_are_only_where_aiohttp_sends_them_as_requests(
    params, built
):
    source = f"import requests\n\n\nasync def search(url, more):\n    requests.get(url, {params})\n"
    output = (_run(VF101, source, config_with(**AIOHTTP)).new_source or b"").decode()
    wanted = f"_http_params({params})" if built else params
    assert f"http_client.get(url, params={wanted})" in output
    assert ("def _http_params(" in output) == built


@pytest.mark.parametrize(
    ("binding", "name"),
    [("os = None", "os"), ("urllib = None", "urllib"), ("typing = None", "typing")],
)
def test_aiohttp_a_module_whose_name_the_added_definitions_need_is_left_alone(binding, name):
    # _HTTP_TRUST_ENV names os and urllib.request, _http_params typing.Any and
    # urllib.parse: the plan leaves the call rather than write code that cannot run.
    source = f"""\
        import requests

        {binding}


        async def ping(page=None):
            requests.get("http://rates/x", params={{"page": page}})
        """
    found = left_alone(source, Config(root=config_with().root, target_version=TARGET))
    assert any(f"the name `{name}` means something else here" in m for _, m in found), found
    # httpx2's code names none of them: rewritten.
    output = (_run(VF101, dedent(source), config_with()).new_source or b"").decode()
    assert 'await http_client.get("http://rates/x"' in output


def test_aiohttp_the_modules_it_needs_already_imported_are_used_as_they_are():
    source = dedent(
        """\
        import os
        import urllib.request

        import requests


        async def ping(page=None):
            return requests.get("http://rates/x", params={"page": page}).status_code, os
        """
    )
    output = (_run(VF101, source, config_with(**AIOHTTP)).new_source or b"").decode()
    assert "params=_http_params({" in output
    assert output.count("import os\n") == 1
    assert output.count("import urllib.request\n") == 1
    assert output.count("import urllib.parse\n") == 1
    # `import urllib.request` binds `urllib`: the module is still spelled in full.
    assert "bool(urllib.request.getproxies())" in output
    compile(output, "<after>", "exec", dont_inherit=True)


def test_aiohttp_both_urllib_submodules_imported_already_are_not_read_through_and_left():
    # The import planner cannot tell which of two `import urllib.x` binds the name for the
    # other: VF101 leaves the call rather than guess (a finding says why).
    found = left_alone(
        """\
        import urllib.parse
        import urllib.request

        import requests


        async def ping(page=None):
            return requests.get("http://rates/x", params={"page": page}).status_code, urllib
        """,
        Config(root=config_with().root, target_version=TARGET),
    )
    assert any("the name `urllib` means something else here" in m for _, m in found), found


def test_a_call_in_a_class_body_is_left_alone_with_its_response():
    # Found by bench/fuzz.py: the call was left (no `await` in a class body) but the
    # `.json()` of its response was rewritten with the function's other call, to
    # aiohttp's `json.loads(await response.text())`, and the file no longer compiled.
    source = dedent(
        """\
        import requests


        async def make(url):
            class Rates:
                response = requests.get(url)
                rates = response.json()

            requests.post(url)
            return Rates
        """
    )
    config = config_with(**AIOHTTP)
    result = _run(VF101, source, config)
    assert result.status is Status.CHANGED
    assert result.new_source is not None
    new = result.new_source.decode()
    compile(new, "new.py", "exec")
    assert "        rates = response.json()\n" in new
    assert "await _http_read(http_client.post(url))" in new
    assert (
        6,
        "`requests.get` blocks the event loop in `async def make`; VF101 leaves it:"
        " it sits in a class body, where `await` is not allowed",
    ) in findings_for(VF101, source, config)
