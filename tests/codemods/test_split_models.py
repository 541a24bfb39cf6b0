"""VF303 (split-models): one model for body and response -> `XCreate` and `XRead`."""

from textwrap import dedent

import pytest
from vibefix.codemods.required_fields import RequiredFields
from vibefix.codemods.split_models import SplitModels
from vibefix.codemods.strict_models import StrictModels

from tests.codemods.helpers import assert_transforms, assert_unchanged, config_with, findings_for

HEAD = """\
from typing import List, Optional

from fastapi import FastAPI
from pydantic import BaseModel, field_validator
from sqlalchemy import Column, Integer, String
from sqlalchemy.orm import declarative_base

Base = declarative_base()
app = FastAPI()


class Account(Base):
    __tablename__ = "accounts"
    id = Column(Integer, primary_key=True)
    email = Column(String, nullable=False)
    hashed_password = Column(String)


"""
USER = """\
class User(BaseModel):
    id: Optional[int] = None
    email: Optional[str] = None
    password: Optional[str] = None
    hashed_password: Optional[str] = None
"""
HANDLERS = """\


@app.post("/users", response_model=User)
async def create(user: User):
    return Account(email=user.email, hashed_password=user.password + "#")


@app.get("/users", response_model=List[User])
async def listing():
    return []


@app.get("/users/{uid}")
async def read(uid: int) -> User:
    return Account(id=uid)
"""
SPLIT = """\
class UserCreate(BaseModel):
    email: Optional[str] = None
    password: Optional[str] = None


class UserRead(BaseModel):
    id: Optional[int] = None
    email: Optional[str] = None
"""


def case(model: str = USER, handlers: str = HANDLERS) -> str:
    return HEAD + dedent(model) + dedent(handlers)


def split_handlers(handlers: str = HANDLERS) -> str:
    return (
        handlers.replace("response_model=User)", "response_model=UserRead)")
        .replace("List[User]", "List[UserRead]")
        .replace("(user: User)", "(user: UserCreate)")
        .replace("-> User:", "-> UserRead:")
    )


# ---------------------------------------------------------------------------------------
# Rewrites
# ---------------------------------------------------------------------------------------


def test_a_body_that_is_the_response_too_is_split_and_its_handlers_follow():
    assert_transforms(SplitModels, case(), case(SPLIT, split_handlers()))


def test_a_response_that_carries_a_hashed_password_column_is_reported():
    # Not rewritten: an endpoint may be meant to hand a secret out (a new API key).
    model = USER.replace("User(", "AccountOut(")
    handlers = """\


        @app.get("/users/{uid}", response_model=AccountOut)
        async def read(uid: int):
            return Account(id=uid)
        """
    source = case(model, handlers)
    assert_unchanged(SplitModels, source)
    assert findings_for(SplitModels, source) == [
        (
            19,
            "`AccountOut` is not split: its responses carry `hashed_password`: take it out"
            " of the model if no client needs it (an endpoint may be meant to hand one out,"
            " as an API key)",
        )
    ]


def test_names_and_secrets_come_from_the_configuration():
    config = config_with(
        **{"split-models": {"create": "{name}In", "read": "{name}Out", "secrets": ["email"]}}
    )
    after = case(
        """\
        class UserIn(BaseModel):
            email: Optional[str] = None
            password: Optional[str] = None


        class UserOut(BaseModel):
            id: Optional[int] = None
            password: Optional[str] = None
            hashed_password: Optional[str] = None
        """,
        split_handlers().replace("UserCreate", "UserIn").replace("UserRead", "UserOut"),
    )
    assert_transforms(SplitModels, case(), after, config)


def test_with_vf300_and_vf301_the_request_half_is_strict_and_the_response_half_as_it_was():
    after = with_strict = case(
        """\
        class UserCreate(BaseModel):
            model_config = ConfigDict(extra="forbid")

            email: StrictStr
            password: StrictStr


        class UserRead(BaseModel):
            id: Optional[int] = None
            email: Optional[str] = None
        """,
        split_handlers(),
    )
    after = with_strict.replace(
        "from pydantic import BaseModel, field_validator",
        "from pydantic import BaseModel, ConfigDict, StrictStr, field_validator",
    )
    assert_transforms([RequiredFields, StrictModels, SplitModels], case(), after)


# ---------------------------------------------------------------------------------------
# Left alone
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "why"),
    [
        (
            case(handlers=HANDLERS + "\n\ndef audit(user: User) -> None:\n    print(user.id)\n"),
            "it is used elsewhere too (example.py:41)",
        ),
        (
            case(
                USER + "\n    @field_validator('email')\n    @classmethod\n"
                "    def lower(cls, v):\n        return v.lower()\n"
            ),
            "its body holds more than fields (validators, methods): split it by hand",
        ),
        (
            case(handlers=HANDLERS.replace("return Account(email=", "return user or Account(")),
            "`create` uses the whole body, so which fields a request needs is not known",
        ),
        (
            case(handlers=HANDLERS + "\n\ndef load(row):\n    return User(**row)\n"),
            "the code also makes it from data of its own",
        ),
        (
            case(USER + "\n\nclass UserRead(BaseModel):\n    id: int\n"),
            "`UserCreate` or `UserRead` exists already",
        ),
        (
            case(handlers=HANDLERS.replace("@app.post(", "@app.patch(")),
            "it is a partial-update model (`create` is a PATCH handler)",
        ),
    ],
    ids=["mentioned", "validator", "whole-body", "built", "name-taken", "patch"],
)
def test_models_it_cannot_split_are_reported(source, why):
    assert_unchanged(SplitModels, source)
    assert findings_for(SplitModels, source) == [
        (19, f"`User` is not split: it is both a request body and a response, but {why}")
    ]


@pytest.mark.parametrize(
    "source",
    [
        # A response that carries no secret, and a token meant for the client.
        case(
            "class UserOut(BaseModel):\n    id: int\n\n\nclass Token(BaseModel):\n"
            "    access_token: str\n",
            '\n\n@app.get("/u", response_model=UserOut)\nasync def u():\n    return {"id": 1}\n'
            '\n\n@app.post("/login", response_model=Token)\nasync def login():\n'
            '    return {"access_token": "x"}\n',
        ),
        # A body only.
        case(
            handlers=HANDLERS.replace("response_model=User", "status_code=201")
            .replace("-> User:", "-> dict:")
            .replace("List[User]", "List[dict]")
        ),
        # Not Pydantic.
        case().replace(
            "from pydantic import BaseModel, field_validator",
            "from odmantic import Model as BaseModel",
        ),
    ],
    ids=["responses-without-secrets", "body-only", "not-pydantic"],
)
def test_models_with_nothing_to_split(source):
    assert_unchanged(SplitModels, source)
    assert findings_for(SplitModels, source) == []


@pytest.mark.parametrize(
    ("source", "why"),
    [
        (
            case(handlers=HANDLERS.replace("user.password + ", 'user.model_dump()["password"] + ')),
            "`create` uses the whole body, so which fields a request needs is not known",
        ),
        (
            case(handlers=HANDLERS.replace("-> User:", '-> "User":')),
            "it is used elsewhere too (example.py:37)",
        ),
        (
            case(
                handlers=HANDLERS
                + '\n\n@app.get("/me")\nasync def me(q: User = Depends()):\n    return q.id\n'
            ).replace("from fastapi import FastAPI", "from fastapi import Depends, FastAPI"),
            "it is used elsewhere too (example.py:42)",
        ),
        (
            case(
                handlers=HANDLERS
                + '\n\n@app.get("/all", response_model=Dict[str, User])\nasync def all_():\n'
                "    return {}\n"
            ).replace("from typing import List", "from typing import Dict, List"),
            "it is used elsewhere too (example.py:41)",
        ),
    ],
    ids=["dumped", "string-annotation", "dependency", "in-a-dict"],
)
def test_uses_a_split_would_break_hold_it_back(source, why):
    assert_unchanged(SplitModels, source)
    assert findings_for(SplitModels, source) == [
        (19, f"`User` is not split: it is both a request body and a response, but {why}")
    ]
