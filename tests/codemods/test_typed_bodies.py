"""VF302 (typed-bodies): a handler's plain `dict` body -> a model of the keys it reads."""

from pathlib import Path
from textwrap import dedent

import pytest
from vibefix.codemods.strict_models import StrictModels
from vibefix.codemods.typed_bodies import TypedBodies

from tests.codemods.helpers import _run, assert_transforms, assert_unchanged, findings_for
from vibefix.config import Config

HEAD = """\
from typing import Any, Dict

from fastapi import FastAPI, HTTPException
from sqlalchemy import Column, Integer, String
from sqlalchemy.orm import declarative_base

Base = declarative_base()
app = FastAPI()


class Order(Base):
    __tablename__ = "orders"
    id = Column(Integer, primary_key=True)
    customer = Column(String(50))
    quantity = Column(Integer)


"""


def case(handler: str) -> str:
    return HEAD + dedent(handler)


HANDLER = """\
@app.post("/orders")
async def create_order(payload: dict):
    note = payload.get("note")
    currency = payload.get("currency", "USD")
    if "gift" in payload:
        print(f"gift order: {payload}")
    return Order(customer=payload["customer"], quantity=payload.get("quantity"))
"""
MODEL = '''\
class CreateOrderBody(BaseModel):
    """The body `create_order` takes (written by vibefix from the keys it reads)."""

    currency: str = "USD"
    customer: str
    gift: Any = None
    note: Any = None
    quantity: int | None = None


'''
TYPED = """\
@app.post("/orders")
async def create_order(payload: CreateOrderBody):
    note = payload.note
    currency = payload.currency
    if "gift" in payload.model_fields_set:
        print(f"gift order: {payload}")
    return Order(customer=payload.customer, quantity=payload.quantity)
"""


def typed(model: str = MODEL, handler: str = TYPED) -> str:
    return case(model + handler).replace(
        "from fastapi import FastAPI, HTTPException\n",
        "from fastapi import FastAPI, HTTPException\nfrom pydantic import BaseModel\n",
    )


# ---------------------------------------------------------------------------------------
# Rewrites
# ---------------------------------------------------------------------------------------


def test_a_dict_body_gets_a_model_of_the_keys_its_handler_reads():
    assert_transforms(TypedBodies, case(HANDLER), typed())
    findings = findings_for(TypedBodies, case(HANDLER))
    assert findings == [
        (19, "the body's `gift` is typed `Any`: nothing in the handler says its type"),
        (19, "the body's `note` is typed `Any`: nothing in the handler says its type"),
    ]


@pytest.mark.parametrize(
    ("annotation", "imports"),
    [
        # ``Dict`` is no longer used: its import goes (``Any`` is, by the model).
        ("Dict[str, Any]", "from typing import Any\n"),
        ("Dict", "from typing import Any\n"),
        ("dict[str, Any]", "from typing import Any, Dict\n"),
    ],
)
def test_every_spelling_of_a_dict(annotation, imports):
    before = case(HANDLER.replace("payload: dict", f"payload: {annotation}"))
    after = typed().replace("from typing import Any, Dict\n", imports)
    assert_transforms(TypedBodies, before, after)


def test_a_key_the_handler_demands_or_uses_unchecked_is_required():
    handler = """\
        @app.post("/pay")
        async def pay(body: dict):
            if not body.get("token"):
                raise HTTPException(400, "token?")
            return {"cents": body.get("amount", 0) * 100, "tip": body.get("tip", 0)}
        """
    model = '''\
        class PayBody(BaseModel):
            """The body `pay` takes (written by vibefix from the keys it reads)."""

            amount: int | float = 0
            tip: int | float = 0
            token: Any


        '''
    after = typed(
        dedent(model),
        dedent(handler)
        .replace("body: dict", "body: PayBody")
        .replace('body.get("token")', "body.token")
        .replace('body.get("amount", 0)', "body.amount")
        .replace('body.get("tip", 0)', "body.tip"),
    )
    assert_transforms(TypedBodies, case(handler), after)


def test_with_vf301_the_model_is_written_strict():
    model = (
        MODEL.replace(
            '"""\n\n    currency: str',
            '"""\n\n    model_config = ConfigDict(extra="forbid")\n\n    currency: StrictStr',
        )
        .replace("customer: str", "customer: StrictStr")
        .replace("quantity: int | None", "quantity: StrictInt | None")
    )
    after = typed(model).replace(
        "from pydantic import BaseModel",
        "from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr",
    )
    assert_transforms([StrictModels, TypedBodies], case(HANDLER), after)


# ---------------------------------------------------------------------------------------
# Left alone
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (
            "for key, value in payload.items():\n        print(key, value)",
            "`payload` is a plain dict read in ways a model cannot take (`.items` at line 20):"
            " give it a model by hand",
        ),
        (
            "key = 'a'\n    return payload[key]",
            "`payload` is a plain dict read in ways a model cannot take (a key computed at run"
            " time at line 21): give it a model by hand",
        ),
        (
            "return Order(**payload)",
            "`payload` is a plain dict read in ways a model cannot take (unpacked with `**` at"
            " line 20): give it a model by hand",
        ),
        (
            "send(payload)\n    return {**payload}",
            "`payload` is a plain dict read in ways a model cannot take (unpacked with `**` at"
            " line 21): give it a model by hand",
        ),
        (
            "return payload['first-name']",
            "`payload` is a plain dict, but its key `first-name` cannot be a field's name",
        ),
        (
            "return payload.get('json')",
            "`payload` is a plain dict, but its key `json` cannot be a field's name",
        ),
        ("return {}", "`payload` is a plain dict, but the handler reads no key of it"),
    ],
    ids=[
        "items",
        "computed-key",
        "unpacked",
        "sent-and-unpacked",
        "not-a-name",
        "shadows",
        "no-key",
    ],
)
def test_dict_bodies_it_cannot_type_are_reported(body, why):
    source = case(f'@app.post("/x")\nasync def create_order(payload: dict):\n    {body}\n')
    assert_unchanged(TypedBodies, source)
    assert findings_for(TypedBodies, source) == [(19, why)]


@pytest.mark.parametrize(
    "body",
    [
        "return requests.post(URL, json=payload).json()",
        "forward(payload['kind'], payload)",
        "return payload",
        "for key in payload.items():\n        print(key)\n    store.append(payload)",
    ],
    ids=["json", "with-a-key-read", "returned", "items-and-sent"],
)
def test_a_dict_body_handed_on_whole_is_left_without_a_finding(body):
    # Its shape is that of the service it goes to: a model here would only guess.
    source = case(f'@app.post("/x")\nasync def relay(payload: dict):\n    {body}\n')
    assert_unchanged(TypedBodies, source)
    assert findings_for(TypedBodies, source) == []


@pytest.mark.parametrize(
    "source",
    [
        # Not a route handler: a plain function that takes a dict.
        case("def total(payload: dict) -> int:\n    return payload['n']\n"),
        # A bare Any is a query parameter to FastAPI; a model is a body already.
        case('@app.get("/x")\nasync def x(q: Any):\n    return q\n'),
        # A dict that is not the body: a dependency's result.
        case(
            "from fastapi import Depends\n\n\ndef settings() -> dict:\n    return {}\n\n\n"
            '@app.get("/s")\nasync def s(conf: dict = Depends(settings)):\n'
            "    return conf['n']\n"
        ),
    ],
    ids=["not-a-route", "any-query", "dependency"],
)
def test_what_is_no_dict_body(source):
    assert_unchanged(TypedBodies, source)


JSON_HANDLER = """\
@app.post("/import")
async def bulk_import(request: Request):
    \"\"\"Import products.\"\"\"
    # read the whole body
    data = await request.json()
    return {"n": len(data.get("products", []))}
"""


def test_a_body_read_with_request_json_becomes_a_parameter():
    before = case(JSON_HANDLER).replace(
        "from fastapi import FastAPI, HTTPException",
        "from fastapi import FastAPI, HTTPException, Request",
    )
    model = '''\
class BulkImportBody(BaseModel):
    """The body `bulk_import` takes (written by vibefix from the keys it reads)."""

    products: list = []


'''
    handler = """\
@app.post("/import")
async def bulk_import(data: BulkImportBody):
    \"\"\"Import products.\"\"\"
    # read the whole body
    return {"n": len(data.products)}
"""
    assert_transforms(TypedBodies, before, typed(model, handler))


def test_a_handler_whose_name_in_pascal_case_starts_with_a_digit_gets_a_valid_model_name():
    before = case(JSON_HANDLER.replace("bulk_import", "_1_import")).replace(
        "from fastapi import FastAPI, HTTPException",
        "from fastapi import FastAPI, HTTPException, Request",
    )
    model = '''\
class Body1Import(BaseModel):
    """The body `_1_import` takes (written by vibefix from the keys it reads)."""

    products: list = []


'''
    handler = """\
@app.post("/import")
async def _1_import(data: Body1Import):
    \"\"\"Import products.\"\"\"
    # read the whole body
    return {"n": len(data.products)}
"""
    assert_transforms(TypedBodies, before, typed(model, handler))


@pytest.mark.parametrize(
    "use",
    [
        "print(request.headers)",  # the request is needed for more
        "data = {}",  # the name is bound again
    ],
)
def test_a_request_used_for_more_than_its_json_is_left(use):
    source = case(JSON_HANDLER.replace('    return {"n"', f'    {use}\n    return {{"n"')).replace(
        "from fastapi import FastAPI, HTTPException",
        "from fastapi import FastAPI, HTTPException, Request",
    )
    assert_unchanged(TypedBodies, source)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (
            "return payload.get('currency', DEFAULT)",
            "the default of `currency` (`DEFAULT`) is computed at run time",
        ),
        (
            "a = payload.get('discount')\n    return a, payload.get('discount', 0)",
            "its key `discount` is read with two defaults",
        ),
        ("payload['seen'] = True\n    return payload['n']", None),
        ("try:\n        return payload['ref']\n    except KeyError:\n        return None", None),
    ],
    ids=["computed-default", "two-defaults", "written", "key-error"],
)
def test_dict_bodies_a_model_would_change_are_reported(body, why):
    handler = f'@app.post("/x")\nasync def create_order(payload: dict):\n    {body}\n'
    source = case(f'DEFAULT = "USD"\n\n\n{handler}')
    assert_unchanged(TypedBodies, source)
    [(_, message)] = findings_for(TypedBodies, source)
    assert message.startswith("`payload` is a plain dict")
    if why:
        assert message.endswith(why)


def test_a_dict_body_with_a_default_is_left():
    source = case(
        '@app.post("/x")\nasync def create_order(payload: dict = {}):\n'
        '    return payload.get("n")\n'
    )
    assert_unchanged(TypedBodies, source)
    assert findings_for(TypedBodies, source) == [
        (
            19,
            "`payload` is a plain dict, but it has a default, so a request may have no body at all",
        )
    ]


def test_before_python_3_10_unions_are_spelled_with_typing():
    config = Config(root=Path.cwd(), options={}, target_version=(3, 9))
    before = case('@app.post("/x")\nasync def pay(body: dict):\n    return body.get("amount")\n')
    result = findings_for(TypedBodies, before, config)
    out = _run(TypedBodies, before, config).new_source.decode()
    assert "    amount: Any = None\n" in out
    before = case(
        '@app.post("/x")\nasync def pay(body: dict):\n'
        '    return body.get("amount", 1) + (body.get("n") or 0)\n'
    )
    out = _run(TypedBodies, before, config).new_source.decode()
    assert "    amount: Union[int, float] = 1\n" in out
    assert "from typing import Any, Dict, Union\n" in out
    assert result


def test_the_comment_on_the_line_that_read_the_json_stays():
    before = case(
        JSON_HANDLER.replace(
            "data = await request.json()", "data = await request.json()  # trusted"
        )
    ).replace(
        "from fastapi import FastAPI, HTTPException",
        "from fastapi import FastAPI, HTTPException, Request",
    )
    out = _run(TypedBodies, before).new_source.decode()
    assert '    # read the whole body\n    # trusted\n    return {"n": len(data.products)}\n' in out
