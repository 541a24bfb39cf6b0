"""VF304 (field-constraints): a request model's fields take their columns' constraints."""

from pathlib import Path
from textwrap import dedent

import pytest
from vibefix.codemods.field_constraints import FieldConstraints, bounds
from vibefix.codemods.required_fields import RequiredFields
from vibefix.codemods.strict_models import StrictModels

from tests.codemods.helpers import assert_transforms, assert_unchanged, findings_for

HEAD = """\
from decimal import Decimal
from typing import Optional

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import CheckConstraint, Column, Integer, Numeric, String
from sqlalchemy.orm import declarative_base

Base = declarative_base()
app = FastAPI()


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (CheckConstraint("stock BETWEEN 0 AND 1000"),)
    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False)
    code = Column(String(8))
    price = Column(Numeric(10, 2), CheckConstraint("price > 0"))
    stock = Column(Integer)
    rank = Column(Integer, CheckConstraint("rank % 2 = 0"))


"""
HANDLER = """\


@app.post("/products")
async def create(product: ProductCreate):
    if not product.name:
        raise HTTPException(400, "name?")
    return {"ok": True}
"""


def case(model: str, handler: str = HANDLER) -> str:
    return HEAD + dedent(model) + dedent(handler)


# ---------------------------------------------------------------------------------------
# Rewrites
# ---------------------------------------------------------------------------------------


def test_lengths_bounds_and_an_empty_check_become_field_constraints():
    before = case(
        """\
        class ProductCreate(BaseModel):
            name: str
            code: Optional[str] = None
            price: Decimal
            stock: int = Field(0, description="on hand")
        """
    )
    after = case(
        """\
        class ProductCreate(BaseModel):
            name: str = Field(max_length=100, min_length=1)
            code: Optional[str] = Field(default=None, max_length=8)
            price: Decimal = Field(gt=0)
            stock: int = Field(0, description="on hand", ge=0, le=1000)
        """
    )
    assert_transforms(FieldConstraints, before, after)


@pytest.mark.parametrize(
    ("sql", "found"),
    [
        ("price > 0", [("price", "gt", "0")]),
        ("0 <= qty", [("qty", "ge", "0")]),
        ('"qty" <= 10.5', [("qty", "le", "10.5")]),
        ("qty BETWEEN 1 AND 100", [("qty", "ge", "1"), ("qty", "le", "100")]),
        ("qty >= 1 AND qty < 100", [("qty", "ge", "1"), ("qty", "lt", "100")]),
        ("qty > 0 OR qty IS NULL", None),
        ("rank % 2 = 0", None),
        ("price > cost", None),
    ],
)
def test_the_check_constraints_it_reads(sql, found):
    assert bounds(sql) == found


def test_with_vf300_and_vf301_the_field_is_required_strict_and_constrained():
    before = case("class ProductCreate(BaseModel):\n    name: Optional[str] = None\n")
    after = case(
        "class ProductCreate(BaseModel):\n"
        '    model_config = ConfigDict(extra="forbid")\n\n'
        "    name: StrictStr = Field(max_length=100, min_length=1)\n"
    ).replace(
        "from pydantic import BaseModel, Field",
        "from pydantic import BaseModel, ConfigDict, Field, StrictStr",
    )
    after = after.replace("from typing import Optional\n", "")
    assert_transforms([RequiredFields, StrictModels, FieldConstraints], before, after)


def test_an_email_field_becomes_email_str_when_the_project_declares_the_validator(
    tmp_path, monkeypatch
):
    (tmp_path / "requirements.txt").write_text("fastapi\npydantic[email]>=2\n")
    monkeypatch.chdir(tmp_path)
    model = "class Signup(BaseModel):\n    email: str\n    nick: str\n"
    handler = '\n\n@app.post("/s")\nasync def signup(body: Signup):\n    return {}\n'
    after = case(model.replace("email: str", "email: EmailStr"), handler).replace(
        "BaseModel, Field", "BaseModel, EmailStr, Field"
    )
    source = case(model, handler)
    assert_transforms(
        [StrictModels, FieldConstraints],
        source,
        after.replace(
            "class Signup(BaseModel):\n",
            'class Signup(BaseModel):\n    model_config = ConfigDict(extra="forbid")\n\n',
        )
        .replace("nick: str", "nick: StrictStr")
        .replace("BaseModel, EmailStr, Field", "BaseModel, ConfigDict, EmailStr, Field, StrictStr"),
    )


# ---------------------------------------------------------------------------------------
# Left alone
# ---------------------------------------------------------------------------------------


def test_an_email_field_without_the_validator_is_a_finding(tmp_path, monkeypatch):
    (tmp_path / "requirements.txt").write_text("fastapi\npydantic>=2\n")
    monkeypatch.chdir(tmp_path)
    source = case(
        "class Signup(BaseModel):\n    email: str\n",
        '\n\n@app.post("/s")\nasync def signup(body: Signup):\n    return {}\n',
    )
    assert_unchanged(FieldConstraints, source)
    assert findings_for(FieldConstraints, source) == [
        (
            25,
            "`email` holds an email address: `EmailStr` would check it, but it needs the"
            " `email-validator` package (`pydantic[email]`), which the project does not"
            " declare; add it, and VF304 makes the field `EmailStr`",
        )
    ]


@pytest.mark.parametrize(
    "field",
    [
        "name: str = Field(max_length=50, min_length=2)",  # stated already
        "code: int",  # a length on an int would be a TypeError at run time
        "price: str",  # bounds on a string: no
        "stock: Annotated[int, Field(ge=0)] = 0",  # not read
        "description: Optional[str] = None",  # no such column
    ],
)
def test_fields_that_get_nothing(field):
    source = case(f"class ProductCreate(BaseModel):\n    {field}\n").replace(
        "from typing import Optional", "from typing import Annotated, Optional"
    )
    assert_unchanged(FieldConstraints, source.replace("if not product.name", "if not product"))


def test_a_check_it_cannot_read_is_a_finding():
    source = case("class ProductCreate(BaseModel):\n    rank: int\n")
    assert_unchanged(FieldConstraints, source)
    assert findings_for(FieldConstraints, source) == [
        (
            25,
            "the check `rank % 2 = 0` on `Product.rank` is not one vibefix can read: give the"
            " field `ge`/`le` by hand",
        )
    ]


def test_models_that_are_no_request_body_or_a_response_too():
    model = "class ProductCreate(BaseModel):\n    name: str\n"
    response = '\n\n@app.get("/p", response_model=ProductCreate)\nasync def p():\n    return {}\n'
    assert_unchanged(FieldConstraints, case(model, response))
    both = HANDLER.replace(
        '@app.post("/products")', '@app.post("/products", response_model=ProductCreate)'
    )
    assert_unchanged(FieldConstraints, case(model, both))
    internal = "\n\ndef make() -> ProductCreate:\n    return ProductCreate(name='x')\n"
    assert_unchanged(FieldConstraints, case(model, internal))


def test_a_class_called_base_model_that_is_not_pydantic():
    source = case("class ProductCreate(BaseModel):\n    name: str\n").replace(
        "from pydantic import BaseModel, Field",
        "from pydantic import Field\nfrom beanie import Document as BaseModel",
    )
    assert_unchanged(FieldConstraints, source)


def test_the_dependency_is_looked_for_in_the_nearest_project(tmp_path):
    from vibefix.codemods.field_constraints import declares_email_validator as declares

    from vibefix.known.packaging import Declarations

    def declares_email_validator(folder: Path) -> bool:
        return declares(Declarations.read([folder], None), folder)

    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["email-validator>=2"]\n')
    (tmp_path / "app" / "schemas").mkdir(parents=True)
    assert declares_email_validator(tmp_path / "app" / "schemas")
    other = tmp_path / "other"
    other.mkdir()
    (other / "requirements.txt").write_text("pydantic\n")
    assert not declares_email_validator(other)
    assert not declares_email_validator(Path("/"))
    # A requirements file saved as UTF-16 (Windows' `pip freeze > requirements.txt`).
    (other / "requirements.txt").write_text("pydantic\nemail-validator==2.1\n", encoding="utf-16")
    assert declares_email_validator(other)


def test_a_table_check_on_two_columns_gives_each_its_own_bound():
    source = case("class ProductCreate(BaseModel):\n    stock: int\n    price: Decimal\n").replace(
        'CheckConstraint("stock BETWEEN 0 AND 1000")',
        'CheckConstraint("stock >= 0 AND price >= 1")',
    )
    after = source.replace(
        "    stock: int\n    price: Decimal\n",
        "    stock: int = Field(ge=0)\n    price: Decimal = Field(gt=0, ge=1)\n",
    )
    assert_transforms(FieldConstraints, source, after)


def test_a_length_written_in_hex_is_read():
    source = case("class ProductCreate(BaseModel):\n    code: str\n").replace(
        "String(8)", "String(0x10)"
    )
    after = source.replace("    code: str\n", "    code: str = Field(max_length=16)\n")
    assert_transforms(FieldConstraints, source, after)


def test_the_plan_reads_what_the_project_declares_from_the_engine(tmp_path, monkeypatch):
    """Planning reads no dependency file: the engine reads them (``Declarations.read``)
    and hands the plan what they say."""
    from vibefix.known.packaging import Declarations

    def read(folders, python):
        return Declarations(
            python, {f: {"requirements.txt": b"pydantic[email]\n"} for f in folders}
        )

    monkeypatch.chdir(tmp_path)  # which declares nothing
    monkeypatch.setattr(Declarations, "read", staticmethod(read))
    model = "class Signup(BaseModel):\n    email: str\n"
    handler = '\n\n@app.post("/s")\nasync def signup(body: Signup):\n    return {}\n'
    after = case(model.replace("email: str", "email: EmailStr"), handler).replace(
        "BaseModel, Field", "BaseModel, EmailStr, Field"
    )
    assert_transforms(FieldConstraints, case(model, handler), after)


def test_declarations_are_those_of_the_nearest_project_with_any(tmp_path):
    from vibefix.known.packaging import Declarations

    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["email-validator"]\n')
    inner = tmp_path / "app" / "schemas"
    inner.mkdir(parents=True)
    other = tmp_path / "other"
    other.mkdir()
    (other / "setup.cfg").write_text("[options]\ninstall_requires = pydantic\n")
    declared = Declarations.read([inner, other], (3, 9))
    assert set(declared.projects[inner]) == {"pyproject.toml"}
    assert set(declared.projects[other]) == {"setup.cfg"}
    assert declared.target == (3, 9)
    assert Declarations().python is None
