"""The blocking-call table: its syntax, precedence, and the user's extensions."""

from __future__ import annotations

from pathlib import Path

import pytest

from vibefix.config import ConfigError, load_config
from vibefix.known.blocking import BlockingTable, Entry, Kind, TableError, shipped_table, table_for


def kind(table: BlockingTable, target: str) -> Kind | None:
    entry = table.lookup(target)
    return entry.kind if entry is not None else None


def test_exact_key_wins_over_one_level_wildcard_over_deep_wildcard():
    table = BlockingTable.from_mapping(
        {
            "db.Session().**": "blocking",
            "db.Session().*": "offload",
            "db.Session().add": "nonblocking",
        }
    )
    assert kind(table, "db.Session().add") is Kind.NONBLOCKING
    assert kind(table, "db.Session().query") is Kind.OFFLOAD
    assert kind(table, "db.Session().query().first") is Kind.BLOCKING
    assert table.lookup("db.Engine().connect") is None


def test_a_codemod_code_means_an_async_twin_that_codemod_rewrites():
    entry = shipped_table().lookup("time.sleep")
    assert entry is not None
    assert (entry.kind, entry.code) == (Kind.TWIN, "VF100")
    assert shipped_table().lookup("requests.Session().get") is not None


def test_user_entries_extend_and_override_the_shipped_table():
    table = table_for({"blocking": {"subprocess.run": "nonblocking", "stripe.**": "offload"}})
    assert kind(table, "subprocess.run") is Kind.NONBLOCKING
    assert kind(table, "stripe.Charge.create") is Kind.OFFLOAD
    assert kind(table, "shutil.rmtree") is Kind.OFFLOAD


def test_unknown_value_is_an_error_naming_the_entry():
    with pytest.raises(TableError, match=r"'stripe\.Charge\.create' = 'fast'"):
        BlockingTable.from_mapping({"stripe.Charge.create": "fast"})


def test_bad_entry_in_pyproject_is_a_configuration_error_naming_the_file(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.vibefix.blocking]\n"stripe.Charge.create" = "sometimes"\n'
    )
    with pytest.raises(ConfigError, match=r"pyproject\.toml: \[tool\.vibefix\.blocking\]"):
        load_config([tmp_path])


def test_a_table_entry_gives_back_its_kind_why_and_twin():
    table = BlockingTable.from_mapping(
        {
            "acme.Client().**": {
                "action": "offload",
                "kind": "http",
                "why": "a sync HTTPS call to Acme",
                "twin": "acme.AsyncClient",
            },
            "acme.version": {"action": "nonblocking", "why": "a constant"},
        }
    )
    assert table.lookup("acme.Client().orders.list") == Entry(
        Kind.OFFLOAD, category="http", why="a sync HTTPS call to Acme", twin="acme.AsyncClient"
    )
    assert table.lookup("acme.version") == Entry(Kind.NONBLOCKING, why="a constant")


def test_a_string_entry_has_no_kind_why_or_twin():
    entry = BlockingTable.from_mapping({"acme.get": "VF101"}).lookup("acme.get")
    assert entry == Entry(Kind.TWIN, "VF101")
    assert (entry.category, entry.why, entry.twin) == (None, "", "")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"kind": "http"}, r"'acme\.get': no `action`"),
        ({"action": "fast"}, r"'acme\.get': action = 'fast': expected 'offload'"),
        ({"action": "offload", "kind": "network"}, r"'acme\.get': kind = 'network': expected one"),
        ({"action": "nonblocking", "kind": "http"}, r"'acme\.get'.*non-blocking entry has no kind"),
        ({"action": "offload", "reason": "slow"}, r"'acme\.get': unknown field 'reason'"),
        ({"action": "offload", "why": 3}, r"'acme\.get': why = 3: expected a string"),
    ],
)
def test_a_bad_table_entry_is_an_error_naming_the_key_and_the_problem(value, problem):
    with pytest.raises(TableError, match=problem):
        BlockingTable.from_mapping({"acme.get": value})


def test_a_user_table_entry_in_pyproject_is_read(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        "[tool.vibefix.blocking]\n"
        '"acme.Client().*" = { action = "offload", kind = "http", why = "sync HTTP" }\n'
    )
    config = load_config([tmp_path])
    entry = table_for(config.options).lookup("acme.Client().get")
    assert entry == Entry(Kind.OFFLOAD, category="http", why="sync HTTP")


def test_only_a_deep_key_on_an_instance_reaches_through_its_attributes():
    table = BlockingTable.from_mapping(
        {
            "acme.Client().**": "offload",
            "acme.Client().headers.**": "nonblocking",
            "acme.Pool().*": "blocking",
            "acme.**": "nonblocking",
        }
    )
    reached = table.reached_from_instance
    assert reached("acme.Client().orders.list") == Entry(Kind.OFFLOAD)
    assert reached("acme.Client().headers.update") == Entry(Kind.NONBLOCKING)
    assert reached("acme.Pool().stats.reset") is None
    assert reached("acme.make().stats.reset") is None


def test_every_shipped_blocking_entry_says_its_kind_and_why():
    table = shipped_table()
    missing = [
        key
        for entries in (table.exact, table.one, table.deep)
        for key, entry in entries.items()
        if entry.kind is not Kind.NONBLOCKING and (entry.category is None or not entry.why)
    ]
    assert missing == []


def verdict(target: str) -> tuple[Kind, str | None] | None:
    entry = shipped_table().lookup(target)
    return (entry.kind, entry.category) if entry is not None else None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        # Sync SDK clients: their calls, through attributes (see the plan's own tests).
        ("openai.OpenAI().chat", (Kind.OFFLOAD, "http")),
        ("openai.OpenAI", (Kind.NONBLOCKING, None)),
        ("openai.ChatCompletion.create", (Kind.OFFLOAD, "http")),
        ("openai.ChatCompletion.acreate", (Kind.NONBLOCKING, None)),
        ("openai.chat.completions.create", (Kind.OFFLOAD, "http")),
        ("anthropic.Anthropic().messages", (Kind.OFFLOAD, "http")),
        ("google.genai.Client().models", (Kind.OFFLOAD, "http")),
        ("google.generativeai.GenerativeModel().generate_content", (Kind.OFFLOAD, "http")),
        ("google.generativeai.GenerativeModel().generate_content_async", (Kind.NONBLOCKING, None)),
        ("sendgrid.SendGridAPIClient().send", (Kind.OFFLOAD, "http")),
        ("sendgrid.helpers.mail.Mail", (Kind.NONBLOCKING, None)),
        ("stripe.Customer.create", (Kind.OFFLOAD, "http")),
        ("stripe.checkout.Session.create", (Kind.OFFLOAD, "http")),
        ("stripe.Customer.retrieve().save", (Kind.OFFLOAD, "http")),
        ("stripe.error.CardError", (Kind.NONBLOCKING, None)),
        ("stripe.CardError", (Kind.NONBLOCKING, None)),
        ("stripe.Webhook.construct_event", (Kind.NONBLOCKING, None)),
        ("twilio.rest.Client().messages", (Kind.OFFLOAD, "http")),
        ("pyairtable.Api().table().all", (Kind.OFFLOAD, "http")),
        ("pyairtable.Api().table", (Kind.NONBLOCKING, None)),
        ("pyairtable.Table().create", (Kind.OFFLOAD, "http")),
        ("airtable.Airtable().get_all", (Kind.OFFLOAD, "http")),
        (
            "google.cloud.storage.Client().bucket().blob().upload_from_filename",
            (Kind.OFFLOAD, "http"),
        ),
        ("google.cloud.storage.Client().bucket().blob", (Kind.NONBLOCKING, None)),
        ("boto3.Session().client().put_object", (Kind.OFFLOAD, "http")),
        ("boto3.client().get_paginator().paginate", (Kind.BLOCKING, "http")),
        # Files: pandas, PDF, spreadsheets.
        ("pandas.read_csv", (Kind.OFFLOAD, "file")),
        ("pandas.read_excel", (Kind.OFFLOAD, "file")),
        ("pandas.read_sql", (Kind.OFFLOAD, "db")),
        ("pandas.DataFrame().to_parquet", (Kind.OFFLOAD, "file")),
        ("pandas.DataFrame().head", None),
        ("pypdf.PdfReader", (Kind.OFFLOAD, "file")),
        ("PyPDF2.PdfWriter().write", (Kind.OFFLOAD, "file")),
        ("pdfplumber.open().pages", (Kind.BLOCKING, "file")),
        ("fitz.open", (Kind.OFFLOAD, "file")),
        ("openpyxl.load_workbook", (Kind.OFFLOAD, "file")),
        ("openpyxl.Workbook().save", (Kind.OFFLOAD, "file")),
        # Password hashing is CPU; a salt is not.
        ("passlib.context.CryptContext().hash", (Kind.OFFLOAD, "cpu")),
        ("passlib.context.CryptContext().verify", (Kind.OFFLOAD, "cpu")),
        ("bcrypt.hashpw", (Kind.OFFLOAD, "cpu")),
        ("bcrypt.checkpw", (Kind.OFFLOAD, "cpu")),
        ("bcrypt.gensalt", (Kind.NONBLOCKING, None)),
        ("pwdlib.PasswordHash.recommended().hash", (Kind.OFFLOAD, "cpu")),
        ("pwdlib.PasswordHash().verify", (Kind.OFFLOAD, "cpu")),
        ("pwdlib.PasswordHash.recommended", (Kind.NONBLOCKING, None)),
        # A time zone: read once, then cached.
        ("zoneinfo.ZoneInfo", (Kind.NONBLOCKING, None)),
        ("zoneinfo.ZoneInfo().utcoffset", (Kind.NONBLOCKING, None)),
        # Celery: waiting, not sending.
        ("celery.result.AsyncResult().get", (Kind.OFFLOAD, "other")),
        ("celery.Celery().control.inspect", (Kind.NONBLOCKING, None)),
        ("celery.Celery().send_task().get", (Kind.OFFLOAD, "other")),
        # Databases: a cursor is made without I/O; what it runs is not.
        ("sqlite3.connect().cursor", (Kind.NONBLOCKING, None)),
        ("sqlite3.connect().cursor().execute", (Kind.BLOCKING, "db")),
        ("sqlite3.connect().cursor().fetchall", (Kind.BLOCKING, "db")),
        ("sqlite3.connect().commit", (Kind.BLOCKING, "db")),
        ("sqlite3.Connection().cursor", (Kind.NONBLOCKING, None)),
        ("sqlite3.Connection().cursor().fetchone", (Kind.BLOCKING, "db")),
        ("psycopg2.connect().cursor", (Kind.NONBLOCKING, None)),
        ("psycopg2.connect().cursor().execute", (Kind.BLOCKING, "db")),
        ("psycopg2.extensions.connection().commit", (Kind.BLOCKING, "db")),
        # Choosing a database or a collection makes a local object; its queries block.
        ("pymongo.MongoClient().get_database", (Kind.NONBLOCKING, None)),
        ("pymongo.MongoClient().get_database().command", (Kind.OFFLOAD, "db")),
        ("pymongo.collection.Collection().find", (Kind.BLOCKING, "db")),
        ("pymongo.collection.Collection().insert_one", (Kind.OFFLOAD, "db")),
        # Other network clients.
        ("ftplib.FTP().retrbinary", (Kind.BLOCKING, "other")),
        ("requests_oauthlib.OAuth2Session().fetch_token", (Kind.OFFLOAD, "http")),
        ("requests_oauthlib.OAuth2Session().authorization_url", (Kind.NONBLOCKING, None)),
        # Found on the detection benchmark's apps (bench/detection).
        ("sqlalchemy.orm.declarative_base().metadata.create_all", (Kind.OFFLOAD, "db")),
        ("sqlmodel.SQLModel.metadata.create_all", (Kind.OFFLOAD, "db")),
        ("sqlalchemy.MetaData().drop_all", (Kind.OFFLOAD, "db")),
        ("neo4j.GraphDatabase.driver", (Kind.NONBLOCKING, None)),
        ("neo4j.GraphDatabase.driver().session", (Kind.NONBLOCKING, None)),
        ("neo4j.GraphDatabase.driver().session().run", (Kind.BLOCKING, "db")),
        ("ollama.Client().generate", (Kind.OFFLOAD, "http")),
        ("ollama.chat", (Kind.OFFLOAD, "http")),
        ("pytesseract.image_to_string", (Kind.OFFLOAD, "subprocess")),
        ("llama_cpp.Llama()", (Kind.OFFLOAD, "cpu")),
        ("llama_cpp.Llama().create_completion", (Kind.OFFLOAD, "cpu")),
        ("clickhouse_connect.get_client().query", (Kind.OFFLOAD, "db")),
        ("urllib.request.urlopen().read", (Kind.BLOCKING, "http")),
        ("urllib.request.urlopen().getcode", (Kind.NONBLOCKING, None)),
        ("sqlalchemy.orm.Session().query", (Kind.NONBLOCKING, None)),
        ("sqlalchemy.orm.Session().query().filter", (Kind.NONBLOCKING, None)),
        ("sqlalchemy.orm.Session().query().first", (Kind.BLOCKING, "db")),
        ("httpx.delete", (Kind.BLOCKING, "http")),
        ("httpx.delete().raise_for_status", (Kind.NONBLOCKING, None)),
        # Found by a field test on apps outside the benchmark, and their peers.
        ("cloudinary.uploader.upload", (Kind.OFFLOAD, "http")),
        ("yfinance.Ticker", (Kind.NONBLOCKING, None)),
        ("yfinance.Ticker().history", (Kind.OFFLOAD, "http")),
        ("transformers.AutoModelForSequenceClassification.from_pretrained", (Kind.OFFLOAD, "cpu")),
        ("transformers.pipeline()", (Kind.OFFLOAD, "cpu")),
        ("cryptography.hazmat.primitives.kdf.pbkdf2.PBKDF2HMAC().derive", (Kind.OFFLOAD, "cpu")),
        ("hashlib.pbkdf2_hmac", (Kind.OFFLOAD, "cpu")),
        ("hashlib.sha256", (Kind.NONBLOCKING, None)),
        ("google.generativeai.get_file", (Kind.OFFLOAD, "http")),
        ("elasticsearch.Elasticsearch().indices.create", (Kind.OFFLOAD, "db")),
        ("groq.Groq().chat.completions.create", (Kind.OFFLOAD, "http")),
        ("pika.BlockingConnection().channel().basic_publish", (Kind.BLOCKING, "other")),
        ("langchain_openai.ChatOpenAI().invoke", (Kind.OFFLOAD, "http")),
        ("langchain_openai.ChatOpenAI().ainvoke", None),
        ("botocore.client.BaseClient().initiate_auth", (Kind.OFFLOAD, "http")),
        ("botocore.client.BaseClient().generate_presigned_url", (Kind.NONBLOCKING, None)),
        ("boto3.client().generate_presigned_url", (Kind.NONBLOCKING, None)),
        ("boto3.client().put_object", (Kind.OFFLOAD, "http")),
        ("transformers.AutoTokenizer.from_pretrained", (Kind.OFFLOAD, "cpu")),
        ("transformers.AutoTokenizer.from_pretrained().encode", (Kind.NONBLOCKING, None)),
        ("resend.Emails.send", (Kind.OFFLOAD, "http")),
        ("OSMPythonTools.nominatim.Nominatim().query", (Kind.OFFLOAD, "http")),
        ("sqlalchemy.orm.DeclarativeBase.metadata.create_all", (Kind.OFFLOAD, "db")),
        ("stripe.checkout.Session.retrieve().get", (Kind.NONBLOCKING, None)),
        ("sqlmodel.Session().add", (Kind.NONBLOCKING, None)),
        ("pymongo.MongoClient().get_database().get_collection", (Kind.NONBLOCKING, None)),
        ("pymongo.MongoClient().get_database().get_collection().find_one", (Kind.OFFLOAD, "db")),
        ("gridfs.GridFS().put", (Kind.OFFLOAD, "db")),
        ("payos.PayOS().createPaymentLink", (Kind.OFFLOAD, "http")),
        ("payos.PayOS().verifyPaymentWebhookData", (Kind.NONBLOCKING, None)),
        ("weasyprint.HTML().write_pdf", (Kind.OFFLOAD, "cpu")),
        ("docker.from_env().containers.run", (Kind.OFFLOAD, "http")),
        ("docker.DockerClient", (Kind.NONBLOCKING, None)),
        ("tensorflow.keras.models.load_model().predict", (Kind.OFFLOAD, "cpu")),
        ("keras.models.load_model", (Kind.OFFLOAD, "file")),
        ("sqlmodel.Session().commit", (Kind.BLOCKING, "db")),
        ("stripe.checkout.Session.retrieve().save", (Kind.OFFLOAD, "http")),
        ("supabase.create_client().table", (Kind.NONBLOCKING, None)),
        ("supabase.create_client().table().select", (Kind.NONBLOCKING, None)),
        ("supabase.create_client().table().select().eq", (Kind.NONBLOCKING, None)),
        ("supabase.create_client().table().select().execute", (Kind.OFFLOAD, "http")),
        ("supabase.create_client().table().select().eq().execute", (Kind.OFFLOAD, "http")),
        ("supabase.create_client().storage.from_().upload", (Kind.OFFLOAD, "http")),
        ("supabase.create_client().auth.sign_in_with_password", (Kind.OFFLOAD, "http")),
    ],
)
def test_the_shipped_table_knows_the_library(target, expected):
    assert verdict(target) == expected


def test_the_twin_of_a_sync_sdk_client_is_named():
    for target, twin in [
        ("openai.OpenAI().chat", "openai.AsyncOpenAI"),
        ("anthropic.Anthropic().messages", "anthropic.AsyncAnthropic"),
        ("google.genai.Client().models", "google.genai.Client().aio"),
        ("pymongo.MongoClient().admin", "pymongo.AsyncMongoClient, or motor"),
        ("sqlite3.connect().execute", "aiosqlite"),
        ("time.sleep", "asyncio.sleep"),
    ]:
        entry = shipped_table().lookup(target)
        assert entry is not None
        assert entry.twin == twin, target


def test_the_readme_example_of_user_entries_is_a_valid_configuration(tmp_path):
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("```toml\n[tool.vibefix.blocking]\n", 1)[1].split("```", 1)[0]
    (tmp_path / "pyproject.toml").write_text("[tool.vibefix.blocking]\n" + block)
    table = table_for(load_config([tmp_path]).options)
    assert table.lookup("acme.Client().orders") == Entry(
        Kind.OFFLOAD, category="http", why="a sync HTTPS call to Acme", twin="acme.AsyncClient"
    )


@pytest.mark.parametrize(
    "target",
    [
        "httpx.Client().headers.update",
        "sqlalchemy.orm.Session().info.get",
        "sqlalchemy.create_engine().url.render_as_string",
    ],
)
def test_what_a_sync_client_holds_besides_its_calls_is_nonblocking(target):
    assert shipped_table().reached_from_instance(target) == Entry(Kind.NONBLOCKING)
