"""
Test setup for vibeshop.

* The app reads its settings (DATABASE_URL, RATES_API_URL, ...) from the
  environment when it is imported, so nothing in the test modules imports
  ``app`` at module level: the ``app`` fixture sets the environment first and
  imports it afterwards.
* The database is an SQLite file in a pytest temp directory, or the empty database
  that VIBESHOP_DATABASE_URL names (PostgreSQL, say).
* The external exchange-rate API and the payment provider are replaced by a
  real HTTP server on 127.0.0.1 (see ``FakeServicesHandler``), so the app's
  ``requests`` calls go over the network as they would in production.
"""
import gc
import itertools
import json
import os
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url

# Rates served by the fake exchange-rate API (base USD)
FAKE_RATES = {"USD": 1.0, "EUR": 0.9, "GBP": 0.8, "JPY": 150.0, "CHF": 0.88}
# The fake API answers every other CHF request with 429, so callers must retry
RATE_LIMITED_CURRENCY = "CHF"
# Payments above this amount are declined by the fake payment provider
DECLINE_ABOVE = 5000


class FakeServicesState:
    def __init__(self):
        self.lock = threading.Lock()
        self.rate_requests = {}  # currency -> number of requests
        self.payments = {}  # payment id -> {"amount": ..., "polls": ...}
        self.payment_ids = itertools.count(1)


class FakeServicesHandler(BaseHTTPRequestHandler):
    """Stand-in for the exchange-rate API and the payment provider."""

    state = None  # set per server, see fake_services()

    def log_message(self, format, *args):  # keep the test output quiet
        pass

    def _send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/latest":
            self._latest(parse_qs(url.query))
        elif url.path.startswith("/payments/"):
            self._get_payment(url.path[len("/payments/"):])
        else:
            self._send_json(404, {"error": "not found"})

    def do_POST(self):
        if urlparse(self.path).path != "/payments":
            self._send_json(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send_json(400, {"error": "invalid json"})
            return
        amount = body.get("amount")
        if not isinstance(amount, (int, float)) or amount <= 0:
            self._send_json(400, {"error": "invalid amount"})
            return
        with self.state.lock:
            payment_id = f"pay_{next(self.state.payment_ids)}"
            self.state.payments[payment_id] = {"amount": amount, "polls": 0}
        self._send_json(201, {"id": payment_id, "status": "pending", "amount": amount})

    def _latest(self, query):
        base = query.get("base", ["USD"])[0].upper()
        if base != "USD":
            self._send_json(400, {"error": f"unsupported base {base}"})
            return
        symbols = query.get("symbols", [",".join(FAKE_RATES)])[0].upper().split(",")
        unknown = [s for s in symbols if s not in FAKE_RATES]
        if unknown:
            self._send_json(400, {"error": f"unsupported currency {','.join(unknown)}"})
            return
        if RATE_LIMITED_CURRENCY in symbols:
            with self.state.lock:
                count = self.state.rate_requests.get(RATE_LIMITED_CURRENCY, 0) + 1
                self.state.rate_requests[RATE_LIMITED_CURRENCY] = count
            if count % 2 == 1:
                self._send_json(429, {"error": "rate limit exceeded"})
                return
        rates = {s: FAKE_RATES[s] for s in symbols}
        self._send_json(200, {"base": base, "date": "2024-05-01", "rates": rates})

    def _get_payment(self, payment_id):
        with self.state.lock:
            payment = self.state.payments.get(payment_id)
            if payment is not None:
                payment["polls"] += 1
                polls, amount = payment["polls"], payment["amount"]
        if payment is None:
            self._send_json(404, {"error": "payment not found"})
            return
        # First poll: still pending; after that the payment is settled
        if polls < 2:
            status = "pending"
        elif amount > DECLINE_ABOVE:
            status = "declined"
        else:
            status = "succeeded"
        self._send_json(200, {"id": payment_id, "status": status, "amount": amount})


class FakeServices:
    def __init__(self, url, state):
        self.url = url
        self.state = state


@pytest.fixture(scope="session")
def fake_services():
    state = FakeServicesState()
    handler = type("BoundFakeServicesHandler", (FakeServicesHandler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="fake-services", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield FakeServices(f"http://{host}:{port}", state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def shop_app(tmp_path_factory, fake_services):
    already_imported = [m for m in sys.modules if m == "app" or m.startswith("app.")]
    if already_imported:
        pytest.fail(
            "the app was imported before its settings were set up: "
            f"{sorted(already_imported)}; import it inside tests/fixtures only"
        )

    db_path = tmp_path_factory.mktemp("vibeshop-db") / "vibeshop-test.db"
    # VIBESHOP_DATABASE_URL: another (empty) database to run against, such as PostgreSQL.
    database_url = os.environ.get("VIBESHOP_DATABASE_URL") or f"sqlite:///{db_path}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", database_url)
        mp.setenv("RATES_API_URL", fake_services.url)
        mp.setenv("PAYMENT_API_URL", fake_services.url)
        mp.setenv("RATES_API_TIMEOUT", "5")

        from app import database
        from app.main import app as fastapi_app

        # The app must really be using the test database, not ./vibeshop.db
        assert database.engine.url.database == make_url(database_url).database

        yield fastapi_app

        # Close what the app leaves open: the shared module-level session,
        # sessions dropped on error paths (returned to the pool once garbage
        # collected), then the pooled connections themselves.
        shared_session = getattr(database, "db_session", None)
        if shared_session is not None:
            shared_session.close()
        gc.collect()
        database.engine.dispose()


@pytest.fixture(autouse=True)
def blocking_calls_fail():
    """With VIBESHOP_BLOCKBUSTER=1, a blocking call the app makes on the event loop
    raises (``blockbuster.BlockingError``), and the request fails. The blocking
    functions named in VIBESHOP_BLOCKBUSTER_ALLOW (comma-separated prefixes, such as
    ``sqlite3.``) are let through."""
    if os.environ.get("VIBESHOP_BLOCKBUSTER") != "1":
        yield
        return
    from blockbuster import blockbuster_ctx

    allowed = [p for p in os.environ.get("VIBESHOP_BLOCKBUSTER_ALLOW", "").split(",") if p]
    with blockbuster_ctx(["app"]) as blockbuster:
        for name, function in blockbuster.functions.items():
            if any(name.startswith(prefix) for prefix in allowed):
                function.deactivate()
        yield


@pytest.fixture(scope="session")
def client(shop_app):
    with TestClient(shop_app) as test_client:
        yield test_client


@pytest.fixture
def make_user(client):
    """Create a user through the API and return the JSON response."""

    def _make_user(password="secret123", **fields):
        body = {"email": f"user-{uuid.uuid4().hex[:12]}@example.com", "full_name": "Test User", "password": password}
        body.update(fields)
        resp = client.post("/users/", json=body)
        assert resp.status_code == 200, resp.text
        return resp.json()

    return _make_user


@pytest.fixture
def make_product(client):
    """Create a product through the API and return the JSON response."""

    def _make_product(**fields):
        body = {
            "name": f"Product {uuid.uuid4().hex[:8]}",
            "description": "A test product",
            "price": 10.0,
            "stock": 5,
            "category": "test",
        }
        body.update(fields)
        resp = client.post("/products/", json=body)
        assert resp.status_code == 201, resp.text
        return resp.json()

    return _make_product
