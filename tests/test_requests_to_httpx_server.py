"""VF101 keeps behaviour: the same functions, before and after ``vibefix apply``, against a
real local HTTP server, return the same results and take the same ``except`` branches.

The module below is written with ``requests``; the CLI rewrites a copy to httpx2. Both
run against one server: redirects, a ``head()`` that does not follow them, 3xx/4xx/5xx
statuses with ``ok``/``reason``/``raise_for_status``, form, text and JSON bodies, a body
that is not JSON, a refused connection and a read timeout.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from textwrap import dedent
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.conftest import VIBEFIX

CLIENT = dedent(
    """\
    import json
    import os

    import requests

    BASE = os.environ["VF101_TEST_BASE"]


    async def status(path):
        r = requests.get(BASE + path, timeout=5)
        return r.status_code, r.ok, r.reason, r.text, r.headers["X-Path"]


    async def head(path):
        r = requests.head(BASE + path, timeout=5)
        return r.status_code, r.is_redirect


    async def not_followed(path):
        r = requests.get(BASE + path, allow_redirects=False, timeout=5)
        return r.status_code, r.ok, r.is_redirect


    async def bodies():
        text = requests.post(BASE + "/echo", data="plain text", timeout=5).json()
        form = requests.put(BASE + "/echo", {"a": "1", "b": "two words"}, timeout=5).json()
        body = requests.patch(BASE + "/echo", json={"n": [1, 2]}, timeout=5).json()
        query = requests.delete(BASE + "/echo", params={"q": "x y"}, timeout=5).json()
        return text, form, body, query


    async def raises(path):
        try:
            r = requests.get(BASE + path, timeout=5)
            if not r.ok:
                r.raise_for_status()
            return "fine", r.status_code
        except requests.exceptions.HTTPError as error:
            return "http error", error.response.status_code


    async def bad_json():
        try:
            r = requests.get(BASE + "/status/200", timeout=5)
            return r.json()
        except requests.exceptions.RequestException:
            return "request exception"


    async def refused(port):
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=5)
            return "answered"
        except requests.exceptions.ConnectionError:
            return "connection error"


    async def sessions():
        with requests.Session() as s:
            a = s.get(BASE + "/redirect", timeout=5)
            b = s.post(BASE + "/echo", json={"x": [1]}, timeout=5)
            first = a.status_code, a.text, json.loads(b.json()["body"])
        session = requests.Session()
        c = session.delete(BASE + "/echo", params={"q": "1"}, timeout=5)
        session.close()
        return first, c.json()["method"], c.json()["path"]


    async def streamed(path):
        chunks = []
        with requests.get(BASE + path, stream=True, timeout=5) as r:
            if not r.ok:
                return r.status_code, []
            for chunk in r.iter_content(chunk_size=4):
                chunks.append(chunk)
        return r.status_code, chunks


    async def byte_lines():
        found = []
        with requests.get(BASE + "/lines", stream=True, timeout=5) as r:
            for line in r.iter_lines():
                found.append(line)
        return found


    async def text_lines():
        found = []
        with requests.get(BASE + "/lines", stream=True, timeout=5) as r:
            for line in r.iter_lines(decode_unicode=True):
                found.append(line)
        return found


    async def read_timeout():
        try:
            r = requests.get(BASE + "/slow", timeout=(5, 0.2))
            return r.status_code
        except requests.exceptions.Timeout:
            return "timeout"
    """
)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("X-Path", self.path)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/redirect"):
            self._answer(302, b"", {"Location": "/status/200"})
        elif self.path.startswith("/status/"):
            code = int(self.path.rsplit("/", 1)[1])
            self._answer(code, b"" if code in (204, 304) else f"status {code}".encode())
        elif self.path == "/lines":
            # Sent in pieces that split a `\r\n` and a UTF-8 character between reads.
            pieces = [b'{"a": 1}\r', b'\n\r\n{"b": 2}\rcaf', b"\xc3", b"\xa9\nlast"]
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(sum(map(len, pieces))))
            self.end_headers()
            for piece in pieces:
                self.wfile.write(piece)
                self.wfile.flush()
                time.sleep(0.02)
        elif self.path == "/json-error":
            body = json.dumps({"detail": "no"}).encode()
            self._answer(422, body, {"Content-Type": "application/json"})
        elif self.path == "/bad-utf8":
            self._answer(200, b"caf\xe9", {"Content-Type": "text/plain; charset=utf-8"})
        elif self.path == "/slow":
            time.sleep(1)
            self._answer(200, b"late")
        else:  # /echo: what was received
            echoed = {
                "method": self.command,
                "path": self.path,
                "type": self.headers.get("Content-Type"),
                "body": body.decode(),
            }
            self._answer(200, json.dumps(echoed).encode(), {"Content-Type": "application/json"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _route


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module", params=["httpx2", "httpx-aiohttp"])
def modules(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, server: str
) -> tuple[ModuleType, ...]:
    backend = request.param
    if backend == "httpx2":
        pytest.importorskip("httpx2", reason="httpx2 needs Python 3.11")
    if backend == "httpx-aiohttp":
        pytest.importorskip("httpx_aiohttp")
    folder = tmp_path_factory.mktemp("vf101")
    (folder / "pyproject.toml").write_text(
        '[tool.vibefix]\ntarget-version = "py311"\n'
        f'[tool.vibefix.requests-to-httpx]\nbackend = "{backend}"\n'
    )
    (folder / "before.py").write_text(CLIENT)
    (folder / "after.py").write_text(CLIENT)
    done = subprocess.run(
        [*VIBEFIX, "apply", "--select", "VF101", str(folder / "after.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rewritten = (folder / "after.py").read_text()
    assert "import requests" not in rewritten, rewritten  # every call was rewritten
    assert ("HttpxAiohttpClient(" in rewritten) == (backend == "httpx-aiohttp")
    os.environ["VF101_TEST_BASE"] = server
    return tuple(
        _load(folder / f"{name}.py", f"vf101_{name}_{backend}") for name in ("before", "after")
    )


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _both(modules: tuple[ModuleType, ...], function: str, *args: Any) -> list[Any]:
    return [asyncio.run(getattr(module, function)(*args)) for module in modules]


@pytest.mark.parametrize(
    "path", ["/status/200", "/status/204", "/status/304", "/status/404", "/status/503", "/redirect"]
)
def test_status_ok_reason_text_and_redirects_are_the_same(modules, path):
    before, after = _both(modules, "status", path)
    assert before == after
    if path == "/redirect":
        assert before[4] == "/status/200"  # followed, as requests does


@pytest.mark.parametrize("path", ["/redirect", "/status/200"])
def test_head_does_not_follow_redirects_as_in_requests(modules, path):
    before, after = _both(modules, "head", path)
    assert before == after


def test_allow_redirects_false_is_kept(modules):
    before, after = _both(modules, "not_followed", "/redirect")
    assert before == after
    assert before[0] == 302


def test_text_form_json_and_query_bodies_arrive_the_same(modules):
    before, after = _both(modules, "bodies")
    text, form, body, query = after
    assert text["body"] == "plain text"
    assert form["type"] == "application/x-www-form-urlencoded"
    assert body["type"] == "application/json"
    assert query["path"] == "/echo?q=x+y"
    for sent, received in zip(before, after, strict=True):
        assert (sent["method"], sent["path"]) == (received["method"], received["path"])
    # requests and httpx2 send no Content-Type with a string body; httpx-aiohttp sends
    # `application/octet-stream` (one of its differences, said in VF101's documentation).
    expected = [sent["type"] for sent in before]
    if modules[1].__name__.endswith("httpx-aiohttp"):
        expected[0] = "application/octet-stream"
    assert [received["type"] for received in after] == expected
    assert [before[0]["body"], before[1]["body"]] == [after[0]["body"], after[1]["body"]]
    # JSON: requests writes `{"n": [1, 2]}`, httpx2 the compact `{"n":[1,2]}`: same value.
    assert json.loads(before[2]["body"]) == json.loads(after[2]["body"])


@pytest.mark.parametrize("path", ["/status/200", "/status/304", "/status/404", "/status/500"])
def test_raise_for_status_raises_for_the_same_statuses(modules, path):
    before, after = _both(modules, "raises", path)
    assert before == after


def test_a_body_that_is_not_json_is_a_request_exception_in_both(modules):
    assert _both(modules, "bad_json") == ["request exception"] * 2


def test_a_refused_connection_is_a_connection_error_in_both(modules):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connections are refused
        assert _both(modules, "refused", port) == ["connection error"] * 2


def test_sessions_become_clients_that_do_the_same(modules):
    before, after = _both(modules, "sessions")
    assert before == after
    assert before[0][0] == 200  # the redirect was followed


@pytest.mark.parametrize("path", ["/status/200", "/status/404", "/redirect"])
def test_a_streamed_body_arrives_in_the_same_chunks(modules, path):
    before, after = _both(modules, "streamed", path)
    assert before == after
    assert before[0] != 200 or len(before[1]) > 1


def test_streamed_lines_are_the_same_as_bytes_and_as_text(modules):
    before, after = _both(modules, "byte_lines")
    assert before == after == [b'{"a": 1}', b"", b'{"b": 2}', "café".encode(), b"last"]
    before, after = _both(modules, "text_lines")
    assert before == after == ['{"a": 1}', "", '{"b": 2}', "café", "last"]


def test_a_read_timeout_is_a_timeout_in_both(modules):
    assert _both(modules, "read_timeout") == ["timeout"] * 2


# -- the aiohttp backend ----------------------------------------------------------------

AIOHTTP_CLIENT = dedent(
    """\
    import json
    import os

    import requests

    BASE = os.environ["VF101_TEST_BASE"]


    async def status(path):
        r = requests.get(BASE + path, timeout=5)
        return r.status_code, r.ok, not r.ok, r.reason, r.text, r.content, r.headers["X-Path"]


    async def head(path):
        r = requests.head(BASE + path, timeout=5)
        return r.status_code, r.headers["X-Path"]


    async def not_followed(path):
        r = requests.get(BASE + path, allow_redirects=False, timeout=5)
        return r.status_code, r.ok, r.headers["Location"]


    async def bodies():
        text = requests.post(BASE + "/echo", data="plain text", timeout=5).json()
        form = requests.put(BASE + "/echo", {"a": "1", "b": "two words"}, timeout=5).json()
        body = requests.patch(BASE + "/echo", json={"n": [1, 2]}, timeout=5).json()
        query = requests.delete(BASE + "/echo?a=1", params={"q": "x y"}, timeout=5).json()
        return text, form, body, query


    async def queries(page, exact, tags, query):
        found = requests.get(BASE + "/echo", params={"page": page, "exact": exact, "tag": tags})
        given = requests.get(BASE + "/echo", params=query, timeout=5)
        return found.json()["path"], given.json()["path"]


    async def raises(path):
        try:
            r = requests.get(BASE + path, timeout=5)
            r.raise_for_status()
            return "fine", r.status_code
        except requests.exceptions.HTTPError:
            return "http error"


    async def error_detail(path):
        r = requests.get(BASE + path, timeout=5)
        try:
            r.raise_for_status()
        except requests.HTTPError:
            return "error", r.json()
        return "fine", r.json()["method"]


    async def bad_json(path):
        try:
            return requests.get(BASE + path, timeout=5).json()
        except requests.exceptions.RequestException:
            return "request exception"


    async def refused(port):
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=5)
            return "answered"
        except requests.exceptions.ConnectionError:
            return "connection error"


    async def sessions():
        with requests.Session() as s:
            a = s.get(BASE + "/redirect", timeout=5)
            b = s.post(BASE + "/echo", json={"x": [1]}, timeout=5)
            first = a.status_code, a.text, json.loads(b.json()["body"])
        session = requests.Session()
        c = session.delete(BASE + "/echo", params={"q": "1"}, timeout=5)
        session.close()
        return first, c.json()["method"], c.json()["path"]


    async def read_timeout():
        try:
            return requests.get(BASE + "/slow", timeout=0.2).status_code
        except requests.exceptions.ConnectionError:
            return "connection error"
        except requests.exceptions.Timeout:
            return "timeout"


    async def read_timeout_pair():
        try:
            return requests.get(BASE + "/slow", timeout=(5, 0.2)).status_code
        except requests.exceptions.ConnectionError:
            return "connection error"
        except requests.exceptions.Timeout:
            return "timeout"
    """
)


@pytest.fixture(scope="module")
def aiohttp_modules(
    tmp_path_factory: pytest.TempPathFactory, server: str
) -> tuple[ModuleType, ...]:
    pytest.importorskip("aiohttp")
    folder = tmp_path_factory.mktemp("vf101-aiohttp")
    (folder / "pyproject.toml").write_text(
        '[tool.vibefix]\ntarget-version = "py311"\n'
        '[tool.vibefix.requests-to-httpx]\nbackend = "aiohttp"\n'
    )
    (folder / "before.py").write_text(AIOHTTP_CLIENT)
    (folder / "after.py").write_text(AIOHTTP_CLIENT)
    done = subprocess.run(
        [*VIBEFIX, "apply", "--select", "VF101", str(folder / "after.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rewritten = (folder / "after.py").read_text()
    assert "import requests" not in rewritten, rewritten  # every call was rewritten
    assert "aiohttp.ClientSession(" in rewritten
    os.environ["VF101_TEST_BASE"] = server
    names = ("before", "after")
    return tuple(_load(folder / f"{name}.py", f"vf101_{name}_aiohttp") for name in names)


@pytest.mark.parametrize(
    "path",
    [
        *("/status/200", "/status/204", "/status/304", "/status/404", "/status/503"),
        *("/redirect", "/bad-utf8"),
    ],
)
def test_aiohttp_status_ok_reason_text_content_and_redirects_are_the_same(aiohttp_modules, path):
    before, after = _both(aiohttp_modules, "status", path)
    assert before == after
    if path == "/redirect":
        assert before[-1] == "/status/200"  # followed, as requests does
    if path == "/bad-utf8":
        assert before[4] == "caf\ufffd"  # undecodable bytes replaced, not an error


@pytest.mark.parametrize("path", ["/redirect", "/status/200"])
def test_aiohttp_head_does_not_follow_redirects_as_in_requests(aiohttp_modules, path):
    before, after = _both(aiohttp_modules, "head", path)
    assert before == after


def test_aiohttp_allow_redirects_false_is_kept(aiohttp_modules):
    before, after = _both(aiohttp_modules, "not_followed", "/redirect")
    assert before == after
    assert before[0] == 302


def test_aiohttp_bodies_arrive_the_same_but_a_string_body_is_typed(aiohttp_modules):
    before, after = _both(aiohttp_modules, "bodies")
    for sent, received in zip(before, after, strict=True):
        assert (sent["method"], sent["path"], sent["body"]) == (
            received["method"],
            received["path"],
            received["body"],
        )
    assert after[3]["path"] == "/echo?a=1&q=x+y"  # the URL's query and params merged
    # requests sends no Content-Type with a string body; aiohttp says it is text (one of
    # the differences VF101's documentation gives).
    assert [sent["type"] for sent in before[1:]] == [got["type"] for got in after[1:]]
    assert (before[0]["type"], after[0]["type"]) == (None, "text/plain; charset=utf-8")


@pytest.mark.parametrize(
    ("page", "exact", "tags", "query"),
    [
        (None, True, ["a", "b c"], {"x": None, "n": 1.5}),
        (2, False, (), [("k", "v"), ("k", None), ("k", 3)]),
        (-1, None, "one", "raw=1&s=%20"),
        (0, b"bytes", [1, None, 2], {"b": b"caf\xc3\xa9", "e": ""}),
    ],
    ids=["none-true-list", "false-empty-pairs", "negative-string", "bytes-and-empty"],
)
def test_aiohttp_a_query_with_none_true_or_lists_arrives_as_requests_sends_it(
    aiohttp_modules, page, exact, tags, query
):
    before, after = _both(aiohttp_modules, "queries", page, exact, tags, query)
    assert before[0] == after[0]
    # A query string is sent as the same pairs; aiohttp writes a space as `+`.
    given = [
        parse_qsl(urlsplit(path).query, keep_blank_values=True) for path in (before[1], after[1])
    ]
    assert given[0] == given[1]
    if not isinstance(query, str):
        assert before[1] == after[1]


@pytest.mark.parametrize("path", ["/status/200", "/status/304", "/status/404", "/status/500"])
def test_aiohttp_raise_for_status_raises_for_the_same_statuses(aiohttp_modules, path):
    before, after = _both(aiohttp_modules, "raises", path)
    assert before == after


@pytest.mark.parametrize("path", ["/echo", "/json-error"])
def test_aiohttp_json_is_read_after_a_failed_raise_for_status_too(aiohttp_modules, path):
    before, after = _both(aiohttp_modules, "error_detail", path)
    assert before == after
    assert before[0] == ("error" if path == "/json-error" else "fine")


@pytest.mark.parametrize("path", ["/status/200", "/status/204"])
def test_aiohttp_a_body_that_is_not_json_or_empty_is_a_request_exception(aiohttp_modules, path):
    assert _both(aiohttp_modules, "bad_json", path) == ["request exception"] * 2


def test_aiohttp_a_refused_connection_is_a_connection_error(aiohttp_modules):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connections are refused
        assert _both(aiohttp_modules, "refused", port) == ["connection error"] * 2


def test_aiohttp_sessions_become_sessions_that_do_the_same(aiohttp_modules):
    before, after = _both(aiohttp_modules, "sessions")
    assert before == after
    assert before[0][0] == 200  # the redirect was followed


@pytest.mark.parametrize("function", ["read_timeout", "read_timeout_pair"])
def test_aiohttp_a_read_timeout_is_a_timeout_not_a_connection_error(aiohttp_modules, function):
    assert _both(aiohttp_modules, function) == ["timeout"] * 2


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy that answers every request with the URL it was asked for."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = f"proxied {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


PROXIED = """\
import requests


async def fetch(url):
    return requests.get(url, timeout=5).text
"""

RUN_FETCH = """\
import asyncio, importlib.util, json, sys

spec = importlib.util.spec_from_file_location("m", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
print(json.dumps([asyncio.run(m.fetch(sys.argv[2])), getattr(m, "_HTTP_TRUST_ENV", None)]))
"""


def _fetch(path: Path, url: str, env: dict[str, str]) -> list[Any]:
    done = subprocess.run(
        [sys.executable, "-c", RUN_FETCH, str(path), url],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: list[Any] = json.loads(done.stdout)
    return result


def test_aiohttp_proxies_and_netrc_of_the_environment_are_read_only_when_there_are_any(
    tmp_path: Path,
):
    pytest.importorskip("aiohttp")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.vibefix]\ntarget-version = "py311"\n'
        '[tool.vibefix.requests-to-httpx]\nbackend = "aiohttp"\n'
    )
    (tmp_path / "before.py").write_text(PROXIED)
    (tmp_path / "after.py").write_text(PROXIED)
    done = subprocess.run(
        [*VIBEFIX, "apply", "--select", "VF101", str(tmp_path / "after.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "trust_env=_HTTP_TRUST_ENV" in (tmp_path / "after.py").read_text()
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    home = tmp_path / "home"
    home.mkdir()
    clean = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "netrc")
    }
    clean["HOME"] = str(home)
    target = "http://vibefix-proxy-test.invalid/rate?c=EUR"
    try:
        # A proxy in the environment: both go through it, as requests does.
        proxied = {**clean, "HTTP_PROXY": f"http://127.0.0.1:{proxy.server_address[1]}"}
        before = _fetch(tmp_path / "before.py", target, proxied)
        after = _fetch(tmp_path / "after.py", target, proxied)
        assert before[0] == after[0] == f"proxied {target}"
        assert after[1] is True
        # Nothing in the environment: aiohttp is not asked to look (at every call).
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)  # stands for any server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        direct = f"http://127.0.0.1:{server.server_address[1]}/direct"
        assert _fetch(tmp_path / "after.py", direct, clean) == ["proxied /direct", False]
        # A ~/.netrc: requests would read it, so the session is told to.
        (home / ".netrc").write_text("machine example.org login u password p\n")
        assert _fetch(tmp_path / "after.py", direct, clean) == ["proxied /direct", True]
        server.shutdown()
        server.server_close()
    finally:
        proxy.shutdown()
        proxy.server_close()


# -- one client for the application -----------------------------------------------------

PROJECT = {
    "pyproject.toml": '[tool.vibefix]\ntarget-version = "py311"\n',
    "app/__init__.py": "",
    "app/main.py": """\
        from fastapi import FastAPI

        from app.routes import router

        app = FastAPI()
        app.include_router(router)
        """,
    "app/upstream.py": """\
        import os

        import requests


        async def whoami():
            try:
                r = requests.get(os.environ["VF101_TEST_BASE"] + "/whoami", timeout=5)
            except requests.RequestException:
                return None
            return r.json()
        """,
    "app/routes.py": """\
        from fastapi import APIRouter

        from app.upstream import whoami

        router = APIRouter()


        @router.get("/peer")
        async def peer():
            return await whoami()
        """,
}

CLIENT_SCRIPT = """\
import json

from fastapi.testclient import TestClient

from app.main import app

with TestClient(app) as client:
    served = [client.get("/peer").json() for _ in range(3)]
bare = TestClient(app)
unserved = [bare.get("/peer").json() for _ in range(3)]
print(json.dumps({
    "lifespan": [peer["port"] for peer in served],
    "no_lifespan": [peer["port"] for peer in unserved],
    "cookies": [peer["cookie"] for peer in served + unserved],
}))
"""


class _Peer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client that is reused keeps its port

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = json.dumps({"port": self.client_address[1], "cookie": self.headers["Cookie"]})
        self.send_response(200)
        # A cookie for whoever called: requests never sent it on another call.
        self.send_header("Set-Cookie", f"sid={self.client_address[1]}; Path=/")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body.encode())))
        self.end_headers()
        self.wfile.write(body.encode())


def _ports(project: Path, base: str) -> dict[str, list[Any]]:
    done = subprocess.run(
        [sys.executable, "-c", CLIENT_SCRIPT],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "VF101_TEST_BASE": base},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    ports: dict[str, list[Any]] = json.loads(done.stdout)
    return ports


@pytest.mark.parametrize("backend", ["httpx2", "aiohttp"])
def test_the_app_serves_every_request_with_the_client_its_lifespan_made(tmp_path, backend):
    if backend == "httpx2":
        pytest.importorskip("httpx2", reason="httpx2 needs Python 3.11")
    for name, text in PROJECT.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text))
    with (tmp_path / "pyproject.toml").open("a") as pyproject:
        pyproject.write(f'[tool.vibefix.requests-to-httpx]\nbackend = "{backend}"\n')
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Peer)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        before = _ports(tmp_path, base)
        assert len(set(before["lifespan"])) == 3  # requests: a connection per call

        done = subprocess.run(
            [*VIBEFIX, "apply", "."], cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "lifespan=_http_client_lifespan" in (tmp_path / "app/main.py").read_text()
        assert "http_client=http_client" in (tmp_path / "app/routes.py").read_text()
        assert f"import {backend}" in (tmp_path / "app/upstream.py").read_text()

        after = _ports(tmp_path, base)
        # One client, one kept-alive connection, for every request of the app's life...
        assert len(set(after["lifespan"])) == 1
        # ...and, where no lifespan ran, a client per request: it still works.
        assert len(set(after["no_lifespan"])) == 3
        # The shared client keeps no cookie from one call for the next (another user's).
        assert before["cookies"] == after["cookies"] == [None] * 6
    finally:
        httpd.shutdown()
        httpd.server_close()
