"""VF300 (required-fields): optional fields of a request model that the API needs."""

from textwrap import dedent

import pytest
from vibefix.codemods.required_fields import RequiredFields

from tests.codemods.helpers import assert_transforms, assert_unchanged, findings_for

HEAD = """\
from typing import Optional

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import Column, Integer, String
from sqlalchemy.orm import declarative_base

Base = declarative_base()
app = FastAPI()


class Product(Base):
    __tablename__ = "products"
    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False)
    category = Column(String)
    stock = Column(Integer, nullable=False, default=0)


"""


def case(model: str, handler: str) -> str:
    return HEAD + dedent(model) + "\n\n" + dedent(handler)


CREATE = """\
@app.post("/products")
async def create(product: ProductCreate):
    return {"name": product.name, "category": product.category}
"""

# ---------------------------------------------------------------------------------------
# Rewrites
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "required"),
    [
        ("name: Optional[str] = None", "name: str"),
        ("name: str | None = None", "name: str"),
        ("name: None | str = None", "name: str"),
        ("name: 'Optional[str]' = None", None),
        ("name: Optional[str] = Field(None, max_length=100)", "name: str = Field(max_length=100)"),
        ("name: Optional[str] = Field(default=None)", "name: str"),
        (
            "name: Optional[str] = Field(description='shown', default=None)",
            "name: str = Field(description='shown')",
        ),
    ],
)
def test_a_field_whose_column_is_not_null_without_default_becomes_required(field, required):
    model = f"class ProductCreate(BaseModel):\n    {field}\n    category: Optional[str] = None\n"
    before = case(model, CREATE)
    if required is None:  # a string annotation: not read
        assert_unchanged(RequiredFields, before)
        return
    assert_transforms(RequiredFields, before, before.replace(field, required))


def test_typing_union_and_the_optional_import_that_is_no_longer_used():
    before = case(
        """\
        class ProductCreate(BaseModel):
            name: typing.Union[str, None] = None
            category: Optional[str] = None
        """,
        CREATE,
    ).replace("from typing import Optional\n", "import typing\nfrom typing import Optional\n")
    # ``typing`` is no longer used: its import goes too.
    after = before.replace("typing.Union[str, None] = None", "str").replace("import typing\n", "")
    assert_transforms(RequiredFields, before, after)

    before = case("class ProductCreate(BaseModel):\n    name: Optional[str] = None\n", CREATE)
    after = before.replace("name: Optional[str] = None", "name: str").replace(
        "from typing import Optional\n\n", ""
    )
    assert_transforms(RequiredFields, before, after)


def test_the_column_a_handler_copies_the_field_into_is_the_one_it_mirrors():
    model = """\
        class NewItem(BaseModel):
            title: Optional[str] = None
            tag: Optional[str] = None
        """
    handler = """\
        @app.post("/items")
        async def create(item: NewItem):
            return Product(name=item.title, category=item.tag)
        """
    before = case(model, handler)
    after = before.replace("title: Optional[str] = None", "title: str")
    assert_transforms(RequiredFields, before, after)


def test_a_field_the_handler_answers_with_an_error_when_missing():
    handler = """\
        @app.post("/login")
        async def login(body: Login):
            if not body.email or "@" not in body.email:
                raise HTTPException(400, "email?")
            if body.code is None:
                raise HTTPException(400, "code?")
            return {"ok": True}
        """
    model = """\
        class Login(BaseModel):
            email: Optional[str] = None
            code: Optional[int] = None
            remember: Optional[bool] = None
        """
    before = case(model, handler)
    after = before.replace("email: Optional[str] = None", "email: str").replace(
        "code: Optional[int] = None", "code: int"
    )
    assert_transforms(RequiredFields, before, after)


def test_a_field_the_handler_uses_as_a_value_that_cannot_be_none():
    handler = """\
        @app.post("/notes")
        async def note(body: Note):
            return {"text": body.text.strip(), "size": len(body.tags), "half": body.size / 2}
        """
    model = """\
        class Note(BaseModel):
            text: Optional[str] = None
            tags: Optional[list[str]] = None
            size: Optional[int] = None
        """
    before = case(model, handler)
    after = (
        before.replace("text: Optional[str] = None", "text: str")
        .replace("tags: Optional[list[str]] = None", "tags: list[str]")
        .replace("size: Optional[int] = None", "size: int")
        .replace("from typing import Optional\n\n", "")
    )
    assert_transforms(RequiredFields, before, after)


# ---------------------------------------------------------------------------------------
# Left alone
# ---------------------------------------------------------------------------------------


def test_a_class_called_base_model_that_is_not_pydantic():
    source = case(
        "class ProductCreate(BaseModel):\n    name: Optional[str] = None\n", CREATE
    ).replace("from pydantic import BaseModel, Field", "from shop.orm import BaseModel")
    assert_unchanged(RequiredFields, source)
    local = case(
        "class BaseModel:\n    pass\n\n\n"
        "class ProductCreate(BaseModel):\n    name: Optional[str] = None\n",
        CREATE,
    )
    assert_unchanged(RequiredFields, local)


@pytest.mark.parametrize(
    "handler",
    [
        """\
        @app.patch("/products/{pid}")
        async def edit(pid: int, product: ProductCreate):
            return {"ok": True}
        """,
        """\
        @app.put("/products/{pid}")
        async def edit(pid: int, product: ProductCreate):
            return product.model_dump(exclude_unset=True)
        """,
    ],
    ids=["patch", "exclude_unset"],
)
def test_partial_update_models(handler):
    model = "class ProductCreate(BaseModel):\n    name: Optional[str] = None\n"
    assert_unchanged(RequiredFields, case(model, handler))
    assert findings_for(RequiredFields, case(model, handler)) == []


def test_a_model_named_for_updates():
    model = "class ProductUpdate(BaseModel):\n    name: Optional[str] = None\n"
    handler = CREATE.replace("ProductCreate", "ProductUpdate")
    assert_unchanged(RequiredFields, case(model, handler))


def test_models_no_handler_takes_as_a_body():
    model = "class ProductCreate(BaseModel):\n    name: Optional[str] = None\n"
    internal = "def build() -> ProductCreate:\n    return ProductCreate(name='x')\n"
    assert_unchanged(RequiredFields, case(model, internal))
    response = """\
        @app.get("/products/{pid}", response_model=ProductCreate)
        async def read(pid: int):
            return {"name": "x"}
        """
    assert_unchanged(RequiredFields, case(model, response))


def test_a_decorator_that_is_not_a_route():
    model = "class ProductCreate(BaseModel):\n    name: Optional[str] = None\n"
    handler = """\
        class Cache:
            def post(self, path):
                return lambda f: f


        cache = Cache()


        @cache.post("/products")
        async def create(product: ProductCreate):
            return {"ok": True}
        """
    assert_unchanged(RequiredFields, case(model, handler))


@pytest.mark.parametrize(
    "field",
    [
        "category: Optional[str] = None",  # a nullable column
        "stock: Optional[int] = None",  # NOT NULL with a default
        "id: Optional[int] = None",  # the primary key
        "name: Optional[str] = 'unnamed'",  # a default of its own
        "name: str = ''",
        "name: Optional[str]",  # required already (but nullable)
    ],
)
def test_fields_that_are_optional_on_purpose_or_not_optional(field):
    model = f"class ProductCreate(BaseModel):\n    {field}\n"
    assert_unchanged(RequiredFields, case(model, CREATE))


def test_a_field_the_handler_checks_before_using_it():
    handler = """\
        @app.post("/notes")
        async def note(body: Note):
            if body.text is not None:
                return {"text": body.text.strip()}
            return {"tag": (body.tag or "").upper(), "n": body.n + 1 if body.n else 0}
        """
    model = """\
        class Note(BaseModel):
            text: Optional[str] = None
            tag: Optional[str] = None
            n: Optional[int] = None
        """
    assert_unchanged(RequiredFields, case(model, handler))


def test_a_model_that_is_a_response_too_keeps_what_only_a_check_asks_for():
    model = "class Login(BaseModel):\n    email: Optional[str] = None\n"
    handler = """\
        @app.post("/login", response_model=Login)
        async def login(body: Login):
            if not body.email:
                raise HTTPException(400, "email?")
            return body
        """
    source = case(model, handler)
    assert_unchanged(RequiredFields, source)
    assert findings_for(RequiredFields, source) == [
        (
            21,
            "`email` stays optional: `login` answers a request without it with an error, but"
            " the model is a response too (split it: VF303)",
        )
    ]


def test_a_model_the_code_also_builds_from_data():
    model = "class ProductCreate(BaseModel):\n    name: Optional[str] = None\n"
    handler = (
        CREATE + "\n\ndef load(row: dict) -> ProductCreate:\n    return ProductCreate(**row)\n"
    )

    source = case(model, handler)
    assert_unchanged(RequiredFields, source)
    assert findings_for(RequiredFields, source) == [
        (
            21,
            "`name` stays optional: the column `Product.name` is NOT NULL and has no default,"
            " but the code also makes the model from data of its own",
        )
    ]


def test_a_model_filled_by_a_dependency_is_no_body():
    model = "class ProductCreate(BaseModel):\n    name: Optional[str] = None\n"
    handler = """\
        from fastapi import Depends


        @app.post("/products")
        async def create(product: ProductCreate = Depends()):
            return {"n": product.name.upper()}
        """
    assert_unchanged(RequiredFields, case(model, handler))


def test_a_model_a_handler_also_takes_from_a_query_string_stays_optional():
    model = "class ProductCreate(BaseModel):\n    name: Optional[str] = None\n"
    handler = CREATE + dedent(
        """

        from typing import Annotated

        from fastapi import Query


        @app.get("/products")
        async def search(product: Annotated[ProductCreate, Query()]):
            return {"n": product.name}
        """
    )
    source = case(model, handler)
    assert_unchanged(RequiredFields, source)
    assert findings_for(RequiredFields, source) == [
        (
            21,
            "`name` stays optional: the column `Product.name` is NOT NULL and has no default,"
            " but `search` takes the model from `Query()` too, where a request may leave it out",
        )
    ]


def test_a_not_null_column_no_handler_reads_from_the_body_stays_optional():
    # The handler fills it from elsewhere: requiring it would make clients send a value
    # that is thrown away.
    handler = """\
        @app.post("/products")
        async def create(product: ProductCreate):
            return Product(name="from the catalogue", category=product.category)
        """
    model = (
        "class ProductCreate(BaseModel):\n"
        "    name: Optional[str] = None\n    category: Optional[str] = None\n"
    )
    assert_unchanged(RequiredFields, case(model, handler))
