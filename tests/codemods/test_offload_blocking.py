"""VF102 (offload-blocking): blocking calls with no async twin, in async code, run in a thread."""

from textwrap import dedent

import pytest
from vibefix.codemods.async_endpoints import AsyncEndpoints
from vibefix.codemods.offload_blocking import OffloadBlocking

from tests.codemods.helpers import (
    assert_transforms,
    assert_unchanged,
    config_with,
    findings_for,
    upto,
)

VF102 = upto(OffloadBlocking)
VF103 = upto(AsyncEndpoints)

# ---------------------------------------------------------------------------------------
# Rewrites
# ---------------------------------------------------------------------------------------


def test_subprocess_run_in_async_handler_runs_in_threadpool_with_its_arguments():
    before = dedent(
        """\
        import subprocess

        from fastapi import FastAPI

        app = FastAPI()


        @app.post("/sync")
        async def sync_disks():
            subprocess.run(["sync"], check=True)
            return {"ok": True}
        """
    )
    after = dedent(
        """\
        import subprocess

        from fastapi import FastAPI
        from fastapi.concurrency import run_in_threadpool

        app = FastAPI()


        @app.post("/sync")
        async def sync_disks():
            await run_in_threadpool(subprocess.run, ["sync"], check=True)
            return {"ok": True}
        """
    )
    assert_transforms(VF102, before, after)


def test_outside_fastapi_a_bound_method_runs_in_asyncio_to_thread():
    before = dedent(
        """\
        from pathlib import Path


        async def load(name):
            text = Path(name).read_text()
            return text
        """
    )
    after = dedent(
        """\
        import asyncio
        from pathlib import Path


        async def load(name):
            text = await asyncio.to_thread(Path(name).read_text)
            return text
        """
    )
    assert_transforms(VF102, before, after)


def test_aliased_module_and_existing_import_of_run_in_threadpool():
    before = dedent(
        """\
        import shutil as sh

        from fastapi.concurrency import run_in_threadpool


        async def backup(path):
            sh.copy(path, path + ".bak")
        """
    )
    after = dedent(
        """\
        import shutil as sh

        from fastapi.concurrency import run_in_threadpool


        async def backup(path):
            await run_in_threadpool(sh.copy, path, path + ".bak")
        """
    )
    assert_transforms(VF102, before, after)


def test_blocking_project_function_is_offloaded_where_an_async_function_calls_it():
    before = dedent(
        """\
        import subprocess

        from fastapi import APIRouter


        def compress(path):
            subprocess.run(["gzip", path], check=True)


        async def archive(path):
            compress(path)
        """
    )
    after = dedent(
        """\
        import subprocess

        from fastapi import APIRouter
        from fastapi.concurrency import run_in_threadpool


        def compress(path):
            subprocess.run(["gzip", path], check=True)


        async def archive(path):
            await run_in_threadpool(compress, path)
        """
    )
    assert_transforms(VF102, before, after)


def test_call_used_as_an_object_afterwards_is_awaited_in_parentheses():
    before = dedent(
        """\
        import subprocess

        from fastapi import APIRouter


        async def version():
            return subprocess.check_output(["git", "--version"]).decode()
        """
    )
    after = dedent(
        """\
        import subprocess

        from fastapi import APIRouter
        from fastapi.concurrency import run_in_threadpool


        async def version():
            return (await run_in_threadpool(subprocess.check_output, ["git", "--version"])).decode()
        """
    )
    assert_transforms(VF102, before, after)


def test_user_table_entry_makes_a_third_party_calloffloaded_in():
    before = dedent(
        """\
        import paylib

        from fastapi import APIRouter


        async def charge(amount):
            return paylib.Charge.create(amount=amount)
        """
    )
    after = dedent(
        """\
        import paylib

        from fastapi import APIRouter
        from fastapi.concurrency import run_in_threadpool


        async def charge(amount):
            return await run_in_threadpool(paylib.Charge.create, amount=amount)
        """
    )
    config = config_with(blocking={"paylib.Charge.create": "offload"})
    assert_transforms(VF102, before, after, config)


# ---------------------------------------------------------------------------------------
# Left alone
# ---------------------------------------------------------------------------------------


def test_sync_function_keeps_its_blocking_call():
    assert_unchanged(
        VF102,
        dedent(
            """\
            import subprocess


            def sync_disks():
                subprocess.run(["sync"], check=True)
            """
        ),
    )


def test_with_open_is_reported_not_rewritten():
    source = dedent(
        """\
        async def read(path):
            with open(path) as handle:
                return handle.read()
        """
    )
    assert_unchanged(VF102, source)
    messages = findings_for(VF102, source)
    assert messages[0][0] == 2
    assert "`open` blocks the event loop, and its result blocks in turn" in messages[0][1]
    assert messages[1] == (
        3,
        "`open().read` blocks the event loop in `async def read`; vibefix has no rewrite for"
        " it: make the function a plain `def`, or move to an async library",
    )


def test_call_already_offloaded_is_left_alone():
    assert_unchanged(
        VF102,
        dedent(
            """\
            import subprocess

            from fastapi.concurrency import run_in_threadpool


            async def sync_disks():
                await run_in_threadpool(subprocess.run, ["sync"])
            """
        ),
    )


def test_blocking_call_in_a_lambda_is_reported_not_rewritten():
    source = dedent(
        """\
        import subprocess


        async def later(schedule):
            schedule(lambda: subprocess.run(["sync"]))
        """
    )
    assert_unchanged(VF102, source)
    assert "sits where `await` is not allowed (a lambda" in findings_for(VF102, source)[0][1]


def test_local_function_called_open_is_not_the_builtin():
    assert_unchanged(
        VF102,
        dedent(
            """\
            def open(name):
                return name.upper()


            async def shout(name):
                return open(name)
            """
        ),
    )


def test_taken_name_run_in_threadpool_is_reported():
    source = dedent(
        """\
        import subprocess

        from fastapi import APIRouter

        run_in_threadpool = None


        async def sync_disks():
            subprocess.run(["sync"])
        """
    )
    assert_unchanged(VF102, source)
    assert findings_for(VF102, source) == [
        (
            9,
            "`subprocess.run` blocks the event loop, but the name `run_in_threadpool` means"
            " something else here: offload it by hand",
        )
    ]


def test_user_table_can_declare_a_shipped_entry_nonblocking():
    assert_unchanged(
        VF102,
        dedent(
            """\
            import subprocess


            async def fast():
                subprocess.run(["true"])
            """
        ),
        config_with(blocking={"subprocess.run": "nonblocking"}),
    )


def test_async_handler_that_blocks_with_no_rewrite_is_reported_under_vf103():
    source = dedent(
        """\
        import sqlite3

        from fastapi import FastAPI

        app = FastAPI()


        @app.get("/count")
        async def count():
            connection = sqlite3.connect("shop.db")
            return connection.execute("select count(*) from users").fetchone()
        """
    )
    result = findings_for(VF102, source)
    assert result[0][0] == 10
    assert "`sqlite3.connect` blocks the event loop, and its result blocks in turn" in result[0][1]
    assert result[1:] == [
        (
            11,
            "`connect().execute().fetchone` blocks the event loop in `async def count`;"
            " vibefix has no rewrite for it: make the function a plain `def`, or move to an"
            " async library",
        )
    ]


def test_blocking_call_whose_rewrite_is_not_selected_is_reported():
    source = dedent(
        """\
        import subprocess


        async def sync_disks():
            subprocess.run(["sync"])
        """
    )
    only_sleep = VF102[:1]
    assert_unchanged(only_sleep, source)
    assert findings_for(only_sleep, source) == [
        (
            5,
            "`subprocess.run` blocks the event loop in `async def sync_disks`; VF102 runs it"
            " in a thread when it is selected",
        )
    ]


# ---------------------------------------------------------------------------------------
# Keys that reach through attributes
# ---------------------------------------------------------------------------------------

ACME_DEEP = config_with(blocking={"acme.Client().**": "offload", "acme.Client": "nonblocking"})
ACME_ONE = config_with(blocking={"acme.Client().*": "offload", "acme.Client": "nonblocking"})


def test_a_deep_key_reaches_a_method_through_the_instance_attributes():
    before = dedent(
        """\
        import acme


        async def orders():
            client = acme.Client()
            return client.orders.recent.list(limit=5)
        """
    )
    after = dedent(
        """\
        import asyncio

        import acme


        async def orders():
            client = acme.Client()
            return await asyncio.to_thread(client.orders.recent.list, limit=5)
        """
    )
    assert_transforms(VF102, before, after, ACME_DEEP)


def test_a_one_level_key_does_not_reach_through_an_attribute():
    source = dedent(
        """\
        import acme


        async def orders():
            client = acme.Client()
            client.ping()
            return client.orders.list(limit=5)
        """
    )
    after = dedent(
        """\
        import asyncio

        import acme


        async def orders():
            client = acme.Client()
            await asyncio.to_thread(client.ping)
            return client.orders.list(limit=5)
        """
    )
    assert_transforms(VF102, source, after, ACME_ONE)


def test_a_module_deep_key_does_not_reach_an_attribute_of_an_object_it_made():
    source = dedent(
        """\
        import acme


        async def orders():
            client = acme.Client()
            return client.orders.list(limit=5)
        """
    )
    modules = config_with(blocking={"acme.**": "offload", "acme.Client": "nonblocking"})
    assert_unchanged(VF102, source, modules)
    assert findings_for(VF102, source, modules) == []


# ---------------------------------------------------------------------------------------
# Libraries the shipped table knows (issue 15): sync SDKs, files, hashing, Celery
# ---------------------------------------------------------------------------------------

LIBRARY_CALLS = [
    # (imports and module-level setup, the call in the handler, what is offloaded)
    (
        "from openai import OpenAI\n\nclient = OpenAI()\n",
        'client.chat.completions.create(model="gpt-4o", messages=messages)',
        'client.chat.completions.create, model="gpt-4o", messages=messages',
    ),
    (
        "import openai\n",
        'openai.ChatCompletion.create(model="gpt-4", messages=messages)',
        'openai.ChatCompletion.create, model="gpt-4", messages=messages',
    ),
    (
        "import anthropic\n\nclaude = anthropic.Anthropic()\n",
        'claude.messages.create(model="claude", messages=messages)',
        'claude.messages.create, model="claude", messages=messages',
    ),
    (
        "from google import genai\n\ngemini = genai.Client()\n",
        'gemini.models.generate_content(model="gemini", contents=messages)',
        'gemini.models.generate_content, model="gemini", contents=messages',
    ),
    (
        "import google.generativeai as palm\n\nmodel = palm.GenerativeModel('gemini')\n",
        "model.generate_content(messages)",
        "model.generate_content, messages",
    ),
    (
        "from sendgrid import SendGridAPIClient\n\nmailer = SendGridAPIClient('key')\n",
        "mailer.send(messages)",
        "mailer.send, messages",
    ),
    (
        "import stripe\n",
        "stripe.checkout.Session.create(line_items=messages)",
        "stripe.checkout.Session.create, line_items=messages",
    ),
    (
        "from twilio.rest import Client\n\ntwilio = Client('sid', 'token')\n",
        "twilio.messages.create(body=messages)",
        "twilio.messages.create, body=messages",
    ),
    (
        "from pyairtable import Api\n\napi = Api('key')\n",
        "api.table('base', 'table').all(formula=messages)",
        "api.table('base', 'table').all, formula=messages",
    ),
    (
        "from google.cloud import storage\n\ngcs = storage.Client()\n",
        "gcs.bucket('b').blob('k').upload_from_string(messages)",
        "gcs.bucket('b').blob('k').upload_from_string, messages",
    ),
    (
        "import boto3\n\nsession = boto3.Session()\n",
        "session.client('s3').put_object(Body=messages)",
        "(await run_in_threadpool(session.client, 's3')).put_object, Body=messages",
    ),
    (
        "import pandas as pd\n",
        "pd.read_csv(messages)",
        "pd.read_csv, messages",
    ),
    (
        "from pypdf import PdfReader\n",
        "PdfReader(messages)",
        "PdfReader, messages",
    ),
    (
        "from openpyxl import load_workbook\n",
        "load_workbook(messages, read_only=True)",
        "load_workbook, messages, read_only=True",
    ),
    (
        "from passlib.context import CryptContext\n\npwd = CryptContext(schemes=['bcrypt'])\n",
        "pwd.verify(messages, 'hash')",
        "pwd.verify, messages, 'hash'",
    ),
    (
        "import bcrypt\n",
        "bcrypt.hashpw(messages, bcrypt.gensalt())",
        "bcrypt.hashpw, messages, bcrypt.gensalt()",
    ),
    (
        "from celery.result import AsyncResult\n",
        "AsyncResult(messages).get(timeout=10)",
        "AsyncResult(messages).get, timeout=10",
    ),
    (
        "from celery import Celery\n\nworkers = Celery('app')\n",
        "workers.control.inspect().active()",
        "workers.control.inspect().active",
    ),
    (
        "from pymongo import MongoClient\n\nmongo = MongoClient()\n",
        "mongo.shop.orders.insert_one(messages)",
        "mongo.shop.orders.insert_one, messages",
    ),
]


def handler_with(setup: str, line: str) -> str:
    """An async FastAPI handler that returns ``line``, after ``setup`` (imports first,
    then module-level objects)."""
    lines = setup.splitlines()
    imports = [line for line in lines if line.startswith(("import ", "from "))]
    objects = [line for line in lines if line and line not in imports]
    return (
        "\n".join(["from fastapi import FastAPI", *imports])
        + "\n\n"
        + "".join(f"{line}\n" for line in objects)
        + "app = FastAPI()\n\n\n"
        '@app.post("/work")\n'
        "async def work(messages: list):\n"
        f"    return {line}\n"
    )


def offloaded_in(setup: str, line: str) -> str:
    return handler_with(setup, line).replace(
        "from fastapi import FastAPI\n",
        "from fastapi import FastAPI\nfrom fastapi.concurrency import run_in_threadpool\n",
    )


@pytest.mark.parametrize(("setup", "call", "offloaded"), LIBRARY_CALLS)
def test_a_sync_library_call_in_an_async_handler_runs_in_threadpool(setup, call, offloaded):
    before = handler_with(setup, call)
    after = offloaded_in(setup, f"await run_in_threadpool({offloaded})")
    assert_transforms(VF102, before, after)


@pytest.mark.parametrize(("setup", "call", "offloaded"), LIBRARY_CALLS)
def test_a_sync_library_call_in_a_sync_handler_is_left_alone(setup, call, offloaded):
    source = handler_with(setup, call).replace("async def work", "def work")
    assert_unchanged(VF103, source)
    assert findings_for(VF103, source) == []


@pytest.mark.parametrize(
    ("setup", "line"),
    [
        (
            "from openai import AsyncOpenAI\n\nclient = AsyncOpenAI()\n",
            'await client.chat.completions.create(model="gpt-4o", messages=messages)',
        ),
        (
            "import anthropic\n\nclaude = anthropic.AsyncAnthropic()\n",
            'await claude.messages.create(model="claude", messages=messages)',
        ),
        (
            "from google import genai\n\ngemini = genai.Client()\n",
            'await gemini.aio.models.generate_content(model="gemini", contents=messages)',
        ),
        ("import bcrypt\n", "bcrypt.gensalt()"),
        ("import stripe\n", "stripe.Webhook.construct_event(messages, 'sig', 'secret')"),
        ("import stripe\n", "stripe.error.CardError('declined', None, 'card_declined')"),
        ("import stripe\n", "await stripe.Customer.create_async(email=messages)"),
        ("from celery import Celery\n\nworkers = Celery('app')\n", "workers.control.inspect()"),
        ("from pyairtable import Api\n\napi = Api('key')\n", "api.table('base', 'table')"),
        ("from sendgrid.helpers.mail import Mail\n", "Mail(to_emails=messages)"),
    ],
)
def test_an_async_or_cheap_library_call_is_left_alone(setup, line):
    source = handler_with(setup, line)
    assert_unchanged(VF102, source)
    assert findings_for(VF102, source) == []


def test_a_stripe_exception_caught_in_an_async_handler_is_not_a_blocking_call():
    source = dedent(
        """\
        import stripe


        async def pay(amount):
            try:
                return await stripe.Charge.create_async(amount=amount)
            except stripe.error.CardError as error:
                raise stripe.error.InvalidRequestError(str(error), "amount") from error
        """
    )
    assert_unchanged(VF102, source)
    assert findings_for(VF102, source) == []


def test_a_sqlite_cursor_is_not_reported_but_what_it_runs_is():
    source = dedent(
        """\
        import sqlite3


        async def count(conn: sqlite3.Connection):
            cursor = conn.cursor()
            cursor.execute("select count(*) from users")
            return cursor.fetchone()
        """
    )
    assert_unchanged(VF102, source)
    remedy = (
        "vibefix has no rewrite for it: make the function a plain `def`, or move to an"
        " async library"
    )
    stuck = "blocks the event loop in `async def count`"
    assert findings_for(VF102, source) == [
        (6, f"`Connection().cursor().execute` {stuck}; {remedy}"),
        (7, f"`Connection().cursor().fetchone` {stuck}; {remedy}"),
    ]


def test_a_psycopg2_cursor_alone_is_left_alone():
    source = dedent(
        """\
        import psycopg2.extensions


        async def describe(conn: psycopg2.extensions.connection):
            return conn.cursor(name="server_side")
        """
    )
    assert_unchanged(VF102, source)
    assert findings_for(VF102, source) == []


def test_a_psycopg2_cursor_execute_from_a_connection_is_reported():
    source = dedent(
        """\
        import psycopg2.extensions


        async def rows(conn: psycopg2.extensions.connection):
            with conn.cursor() as cursor:
                cursor.execute("select 1")
                return cursor.fetchall()
        """
    )
    assert_unchanged(VF102, source)
    (first, *_) = findings_for(VF102, source)
    assert first[0] == 6
    assert "`connection().cursor().execute` blocks the event loop" in first[1]


def test_a_pdf_opened_by_pdfplumber_is_reported_since_its_pages_read_the_file():
    source = dedent(
        """\
        import pdfplumber


        async def first_page(path):
            with pdfplumber.open(path) as pdf:
                return pdf.pages[0].extract_text()
        """
    )
    assert_unchanged(VF102, source)
    (finding,) = findings_for(VF102, source)
    assert "`pdfplumber.open` blocks the event loop, and its result blocks in turn" in finding[1]


def test_a_mongo_find_cursor_is_reported_notoffloaded_in():
    source = dedent(
        """\
        from pymongo.collection import Collection


        async def orders(orders: Collection):
            return list(orders.find({"paid": True}))
        """
    )
    assert_unchanged(VF102, source)
    (finding,) = findings_for(VF102, source)
    assert "`Collection().find` blocks the event loop in `async def orders`" in finding[1]
