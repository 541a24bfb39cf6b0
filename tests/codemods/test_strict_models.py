"""VF301 (strict-models): request models reject unknown keys and values of another type."""

from textwrap import dedent

import pytest
from vibefix.codemods.required_fields import RequiredFields
from vibefix.codemods.strict_models import StrictModels

from tests.codemods.helpers import assert_transforms, assert_unchanged, findings_for

HEAD = """\
from typing import Optional

from fastapi import FastAPI
from pydantic import BaseModel, Field

app = FastAPI()


"""
BODY = """\


@app.post("/orders")
async def create(order: OrderIn):
    return {"ok": True}
"""
FORBID = '    model_config = ConfigDict(extra="forbid")\n\n'


def case(model: str, handler: str = BODY) -> str:
    return HEAD + dedent(model) + dedent(handler)


def with_imports(source: str, *names: str) -> str:
    return source.replace(
        "from pydantic import BaseModel, Field",
        f"from pydantic import {', '.join(sorted(['BaseModel', 'Field', *names]))}",
    )


# ---------------------------------------------------------------------------------------
# Rewrites
# ---------------------------------------------------------------------------------------


def test_a_request_model_forbids_extra_keys_and_takes_json_types_strictly():
    before = case(
        """\
        class OrderIn(BaseModel):
            quantity: int
            note: Optional[str] = None
            express: bool | None = None
            weight: float = Field(1.0, gt=0)
        """
    )
    after = with_imports(
        case(
            """\
            class OrderIn(BaseModel):
                model_config = ConfigDict(extra="forbid")

                quantity: StrictInt
                note: Optional[StrictStr] = None
                express: StrictBool | None = None
                weight: StrictFloat = Field(1.0, gt=0)
            """
        ),
        "ConfigDict",
        "StrictBool",
        "StrictFloat",
        "StrictInt",
        "StrictStr",
    )
    assert_transforms(StrictModels, before, after)


def test_the_configuration_goes_after_the_docstring():
    before = case('class OrderIn(BaseModel):\n    """An order."""\n\n    when: date\n').replace(
        "from typing import Optional\n", "from datetime import date\nfrom typing import Optional\n"
    )
    after = with_imports(
        before.replace('"""An order."""\n', '"""An order."""\n\n' + FORBID.rstrip("\n") + "\n"),
        "ConfigDict",
    )
    assert_transforms(StrictModels, before, after)


@pytest.mark.parametrize(
    ("config", "configured"),
    [
        (
            'model_config = {"str_strip_whitespace": True}',
            'model_config = {"str_strip_whitespace": True, "extra": "forbid"}',
        ),
        (
            "model_config = ConfigDict(str_strip_whitespace=True)",
            'model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")',
        ),
    ],
)
def test_an_existing_model_config_gets_the_key(config, configured):
    model = f"class OrderIn(BaseModel):\n    {config}\n\n    tags: list[str]\n"
    before = case(model)
    if "ConfigDict(" in config:
        before = with_imports(before, "ConfigDict")
    after = before.replace(config, configured)
    assert_transforms(StrictModels, before, after)


def test_a_v1_class_config_becomes_a_config_dict_with_v2_names():
    before = case(
        """\
        class OrderIn(BaseModel):
            tags: list[str]

            # how the model is read
            class Config:
                orm_mode = True
                allow_population_by_field_name = True
                anystr_strip_whitespace = True
        """
    )
    after = with_imports(
        case(
            """\
            class OrderIn(BaseModel):
                tags: list[str]

                # how the model is read
                model_config = ConfigDict(
                    from_attributes=True,
                    populate_by_name=True,
                    str_strip_whitespace=True,
                    extra="forbid",
                )
            """
        ),
        "ConfigDict",
    )
    assert_transforms(StrictModels, before, after)


def test_a_v1_extra_setting_is_kept_and_its_enum_becomes_a_string():
    before = case(
        """\
        class OrderIn(BaseModel):
            tags: list[str]

            class Config:
                extra = Extra.ignore
        """
    ).replace("BaseModel, Field", "BaseModel, Extra, Field")
    after = with_imports(
        case(
            """\
            class OrderIn(BaseModel):
                tags: list[str]

                model_config = ConfigDict(extra="ignore")
            """
        ),
        "ConfigDict",
    )
    assert_transforms(StrictModels, before, after)


def test_with_vf300_a_field_becomes_required_and_strict():
    before = case(
        "class OrderIn(BaseModel):\n    code: Optional[str] = None\n",
        """\


        @app.post("/orders")
        async def create(order: OrderIn):
            return {"code": order.code.upper()}
        """,
    )
    after = with_imports(
        before.replace("code: Optional[str] = None", "code: StrictStr").replace(
            "class OrderIn(BaseModel):\n", "class OrderIn(BaseModel):\n" + FORBID
        ),
        "ConfigDict",
        "StrictStr",
    ).replace("from typing import Optional\n\n", "")
    assert_transforms([RequiredFields, StrictModels], before, after)


# ---------------------------------------------------------------------------------------
# Left alone
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        # Strict already: its extra is its own choice, and the types are not JSON's own.
        'class OrderIn(BaseModel):\n    model_config = {"extra": "allow"}\n    when: date\n',
        "class OrderIn(BaseModel):\n    class Config:\n        extra = 'forbid'\n"
        "\n    model_config = {}\n",
        # Field(strict=...) says it already; Annotated and string annotations are not read.
        'class OrderIn(BaseModel):\n    model_config = {"extra": "forbid"}\n'
        "    n: int = Field(strict=False)\n    m: Annotated[int, Field(gt=0)]\n    k: 'int'\n",
    ],
    ids=["extra-set", "config-twice", "field-strict"],
)
def test_models_strict_already_or_out_of_reach(model):
    source = case(model).replace(
        "from typing import Optional\n",
        "from datetime import date\nfrom typing import Annotated, Optional\n",
    )
    assert_unchanged(StrictModels, source)


def test_a_base_that_sets_extra_is_followed():
    model = """\
        class Strict(BaseModel):
            model_config = {"extra": "forbid"}


        class OrderIn(Strict):
            when: date
        """
    source = case(model).replace("from typing", "from datetime import date\nfrom typing")
    assert_unchanged(StrictModels, source)


def test_models_that_are_no_request_body():
    model = "class OrderIn(BaseModel):\n    n: int\n"
    response = """\


        @app.get("/orders/{oid}", response_model=OrderIn)
        async def read(oid: int):
            return {"n": oid}
        """
    assert_unchanged(StrictModels, case(model, response))
    internal = "\n\ndef total(order: OrderIn) -> int:\n    return order.n\n"
    assert_unchanged(StrictModels, case(model, internal))


QUERY_HEAD = HEAD.replace("from typing import Optional", "from typing import Annotated, Optional")
QUERY_HEAD = QUERY_HEAD.replace(
    "from fastapi import FastAPI",
    "from fastapi import Cookie, Depends, FastAPI, Form, Header, Query",
)
FILTERS = """\
class Filters(BaseModel):
    min_price: Optional[float] = None
    in_stock: bool = False
"""


@pytest.mark.parametrize(
    "parameter",
    [
        "filters: Annotated[Filters, Query()]",
        "filters: Annotated[Filters, Form()]",
        "filters: Annotated[Filters, Header()]",
        "filters: Annotated[Filters, Cookie()]",
        "filters: Annotated[Filters, Depends()]",
        "filters: Filters = Depends()",
        "filters: FiltersQuery",
    ],
    ids=["query", "form", "header", "cookie", "annotated-depends", "depends", "alias"],
)
def test_models_filled_from_strings_are_no_json_body(parameter):
    # GET /products?min_price=2.5&in_stock=true: the values arrive as strings, which
    # StrictFloat and StrictBool would answer with 422.
    handler = f"""\


        FiltersQuery = Annotated[Filters, Query()]


        @app.post("/products")
        async def search(extra: str, {parameter}):
            return {{"ok": True}}
        """
    source = QUERY_HEAD + FILTERS + dedent(handler)
    assert_unchanged(StrictModels, source)
    assert findings_for(StrictModels, source) == []


def test_a_body_that_a_handler_also_takes_from_a_query_string_is_held_back():
    handlers = """\


        @app.post("/products")
        async def create(filters: Filters):
            return {"ok": True}


        @app.get("/products")
        async def search(filters: Annotated[Filters, Query()]):
            return {"ok": True}
        """
    source = QUERY_HEAD + FILTERS + dedent(handlers)
    assert_unchanged(StrictModels, source)
    assert findings_for(StrictModels, source) == [
        (
            9,
            "`Filters` is left as it is: `search` takes it from `Query()` too, where every"
            " value comes as a string: strict types would reject them",
        )
    ]


def test_a_body_next_to_a_model_a_dependency_returns_is_made_strict():
    # ``Depends(current)`` gives what ``current`` returns, no request data: the body of
    # the same class stays a JSON body.
    handlers = """\


        def current() -> Filters:
            return Filters()


        @app.post("/products")
        async def create(
            filters: Filters, saved: Annotated[Filters, Depends(current)]
        ):
            return {"ok": True}
        """
    source = QUERY_HEAD + FILTERS + dedent(handlers)
    after = (
        source.replace(
            "class Filters(BaseModel):\n",
            "class Filters(BaseModel):\n" + FORBID,
        )
        .replace("Optional[float]", "Optional[StrictFloat]")
        .replace("in_stock: bool", "in_stock: StrictBool")
    )
    after = with_imports(after, "ConfigDict", "StrictBool", "StrictFloat")
    assert_transforms(StrictModels, source, after)


def test_a_class_called_base_model_that_is_not_pydantic():
    source = case("class OrderIn(BaseModel):\n    n: int\n").replace(
        "from pydantic import BaseModel, Field", "from odmantic import Field, Model as BaseModel"
    )
    assert_unchanged(StrictModels, source)


@pytest.mark.parametrize(
    ("handler", "why"),
    [
        (
            BODY.replace('@app.post("/orders")', '@app.post("/orders", response_model=OrderIn)'),
            "it is a response model too: `extra='forbid'` and strict types would reject what a"
            " handler returns (split it: VF303)",
        ),
        (
            BODY + "\n\ndef load(row: dict) -> OrderIn:\n    return OrderIn.model_validate(row)\n",
            "the code also makes it from data of its own, which may hold other keys",
        ),
        (
            BODY + "\n\nclass OrderOut(OrderIn):\n    id: int\n",
            "other models derive from it: `extra='forbid'` would reach them too",
        ),
    ],
    ids=["response", "built", "subclassed"],
)
def test_request_models_held_back_with_a_finding(handler, why):
    source = case("class OrderIn(BaseModel):\n    n: int\n", handler)
    assert_unchanged(StrictModels, source)
    assert findings_for(StrictModels, source) == [(9, f"`OrderIn` is left as it is: {why}")]


def test_a_v1_config_with_keys_pydantic_2_removed():
    model = """\
        class OrderIn(BaseModel):
            n: int

            class Config:
                allow_mutation = False
        """
    source = case(model)
    assert_unchanged(StrictModels, source)
    assert findings_for(StrictModels, source) == [
        (
            9,
            "`OrderIn` is left as it is: its v1 `class Config` sets allow_mutation, which"
            " Pydantic 2 removed",
        )
    ]


def test_a_patch_model_is_made_strict_and_its_fields_stay_optional():
    # Unknown keys and wrong types are as wrong in a partial update; only VF300 leaves
    # PATCH models alone (their fields are optional on purpose).
    handler = """\


        @app.patch("/orders/{oid}")
        async def edit(oid: int, order: OrderIn):
            return order.model_dump(exclude_unset=True)
        """
    before = case("class OrderIn(BaseModel):\n    note: Optional[str] = None\n", handler)
    after = with_imports(
        case(
            "class OrderIn(BaseModel):\n" + FORBID + "    note: Optional[StrictStr] = None\n",
            handler,
        ),
        "ConfigDict",
        "StrictStr",
    )
    assert_transforms([RequiredFields, StrictModels], before, after)


def test_a_body_nested_in_a_response_and_class_keywords_are_left():
    nested = """\


        class Basket(BaseModel):
            lines: list[OrderIn]


        @app.get("/basket", response_model=Basket)
        async def basket():
            return {"lines": [{"n": "7", "extra": 1}]}
        """
    source = case("class OrderIn(BaseModel):\n    n: int\n", BODY + dedent(nested))
    assert_unchanged(StrictModels, source)
    assert findings_for(StrictModels, source)[0][1].startswith(
        "`OrderIn` is left as it is: it is a response model too"
    )
    keyword = case('class OrderIn(BaseModel, extra="allow"):\n    n: int\n')
    assert_unchanged(StrictModels, keyword)
