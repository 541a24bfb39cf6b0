from datetime import datetime
from typing import List, Optional

from pydantic import BaseModel


# ---------- Users ----------

class User(BaseModel):
    """User schema - used for creating users and returning them."""
    id: Optional[int] = None
    email: Optional[str] = None
    full_name: Optional[str] = None
    password: Optional[str] = None
    hashed_password: Optional[str] = None
    is_active: Optional[bool] = None
    is_admin: Optional[bool] = None
    created_at: Optional[datetime] = None

    # orm_mode = True  (pydantic v1)
    model_config = {"from_attributes": True}


class LoginRequest(BaseModel):
    email: Optional[str] = None
    password: Optional[str] = None


class Token(BaseModel):
    access_token: Optional[str] = None
    token_type: Optional[str] = None
    user_id: Optional[int] = None


# ---------- Products ----------

class ProductCreate(BaseModel):
    name: Optional[str] = None
    description: Optional[str] = None
    price: Optional[float] = None
    stock: Optional[int] = None
    category: Optional[str] = None


class Product(BaseModel):
    id: Optional[int] = None
    name: Optional[str] = None
    description: Optional[str] = None
    price: Optional[float] = None
    stock: Optional[int] = None
    category: Optional[str] = None
    created_at: Optional[datetime] = None

    model_config = {"from_attributes": True}


class ProductPrice(BaseModel):
    product_id: Optional[int] = None
    name: Optional[str] = None
    price: Optional[float] = None
    currency: Optional[str] = None
    rate: Optional[float] = None
    original_price: Optional[float] = None


# ---------- Orders ----------

class OrderItem(BaseModel):
    id: Optional[int] = None
    product_id: Optional[int] = None
    quantity: Optional[int] = None
    unit_price: Optional[float] = None

    model_config = {"from_attributes": True}


class Order(BaseModel):
    id: Optional[int] = None
    order_number: Optional[str] = None
    user_id: Optional[int] = None
    status: Optional[str] = None
    subtotal: Optional[float] = None
    tax: Optional[float] = None
    total: Optional[float] = None
    currency: Optional[str] = None
    exchange_rate: Optional[float] = None
    payment_id: Optional[str] = None
    created_at: Optional[datetime] = None
    items: Optional[List[OrderItem]] = None

    model_config = {"from_attributes": True}
