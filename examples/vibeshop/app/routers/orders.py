import random
import time as t
from typing import List, Optional

import requests
from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy.orm import Session

from app import models, schemas
from app.config import RATES_API_TIMEOUT, RATES_API_URL, settings
from app.database import SessionLocal, get_db
from app.external.rates import get_exchange_rate_async

router = APIRouter(prefix="/orders", tags=["orders"])


def generate_order_number() -> str:
    # Order number based on the current timestamp + random suffix
    return f"ORD-{int(t.time() * 1000)}-{random.randint(1000, 9999)}"


def order_to_dict(order: models.Order) -> dict:
    return {
        "id": order.id,
        "order_number": order.order_number,
        "user_id": order.user_id,
        "status": order.status,
        "subtotal": order.subtotal,
        "tax": order.tax,
        "total": order.total,
        "currency": order.currency,
        "exchange_rate": order.exchange_rate,
        "payment_id": order.payment_id,
        "created_at": order.created_at.isoformat() if order.created_at else None,
        "items": [
            {
                "id": item.id,
                "product_id": item.product_id,
                "quantity": item.quantity,
                "unit_price": item.unit_price,
            }
            for item in order.items
        ],
    }


@router.post("/", status_code=201)
async def create_order(payload: dict):
    """Create a new order. Expects {"user_id": 1, "items": [{"product_id": 1, "quantity": 2}], "currency": "EUR"}"""
    print(f"Received order request: {payload}")

    # Validate the request
    user_id, items = payload.get("user_id"), payload.get("items")
    currency = (payload.get("currency") or "USD").upper()
    if not user_id:
        raise HTTPException(status_code=400, detail="user_id is required")
    if not items or not isinstance(items, list):
        raise HTTPException(status_code=400, detail="items must be a non-empty list")

    db = SessionLocal()

    # Make sure the user exists
    user = db.query(models.User).filter(models.User.id == user_id).first()
    if not user:
        raise HTTPException(status_code=404, detail="User not found")

    # Check all the products and the stock
    order_lines = []
    subtotal = 0.0
    for item in items:
        product_id, quantity = item.get("product_id"), item.get("quantity", 1)
        if not isinstance(quantity, int) or quantity <= 0:
            raise HTTPException(status_code=400, detail="quantity must be a positive integer")

        product = db.query(models.Product).filter(models.Product.id == product_id).first()
        if not product:
            raise HTTPException(status_code=404, detail=f"Product {product_id} not found")
        if product.stock < quantity:
            raise HTTPException(400, f"Insufficient stock for {product.name}: only {product.stock} left")
        subtotal += product.price * quantity
        order_lines.append((product, quantity))

    # Get the exchange rate if the customer wants to pay in another currency
    exchange_rate = 1.0
    if currency != settings.BASE_CURRENCY:
        exchange_rate = None
        for attempt in range(3):
            try:
                resp = requests.get(
                    f"{RATES_API_URL}/latest",
                    params={"base": settings.BASE_CURRENCY, "symbols": currency},
                    timeout=RATES_API_TIMEOUT,
                )
                if resp.status_code == 200:
                    exchange_rate = resp.json()["rates"][currency]
                    break
                print(f"Rates API returned {resp.status_code}")
            except Exception as e:
                print(f"Error getting exchange rate: {e}")
            # wait before retrying
            t.sleep(0.02)
        if exchange_rate is None:
            raise HTTPException(status_code=502, detail="Could not get exchange rate")

    # Wait for the inventory service to sync before reserving stock
    t.sleep(0.01)

    # Calculate the totals
    subtotal = round(subtotal * exchange_rate, 2)
    tax = round(subtotal * settings.TAX_RATE, 2)
    total = round(subtotal + tax, 2)

    # Save the order
    order = models.Order(
        order_number=generate_order_number(), user_id=user.id, status="pending",
        subtotal=subtotal, tax=tax, total=total, currency=currency, exchange_rate=exchange_rate,
    )
    db.add(order)
    db.flush()

    for product, quantity in order_lines:
        unit_price = round(product.price * exchange_rate, 2)
        db.add(models.OrderItem(order_id=order.id, product_id=product.id, quantity=quantity, unit_price=unit_price))
        # Reserve the stock
        product.stock = product.stock - quantity

    db.commit()
    db.refresh(order)

    response = order_to_dict(order)
    response["message"] = "Order created successfully"
    db.close()
    print(f"Order {order.order_number} created, total {total} {currency}")
    return response


@router.get("/", response_model=List[schemas.Order])
def list_orders(user_id: Optional[int] = None, db: Session = Depends(get_db)):
    query = db.query(models.Order)
    if user_id:
        query = query.filter(models.Order.user_id == user_id)
    return query.order_by(models.Order.id.desc()).all()


@router.get("/{order_id}")
def get_order(order_id: int):
    db = SessionLocal()
    order = db.query(models.Order).filter(models.Order.id == order_id).first()
    if order is None:
        raise HTTPException(status_code=404, detail="Order not found")
    result = order_to_dict(order)
    db.close()
    return result


@router.get("/{order_id}/total")
async def get_order_total(order_id: int, currency: str = "USD"):
    """Show the order total converted to another currency."""
    db = SessionLocal()
    order = db.query(models.Order).filter(models.Order.id == order_id).first()
    if not order:
        raise HTTPException(status_code=404, detail="Order not found")

    try:
        # Convert back to USD first, then to the requested currency
        usd_total = order.total / (order.exchange_rate or 1.0)
        rate = await get_exchange_rate_async(currency)
    except ValueError as e:
        raise HTTPException(status_code=400, detail=str(e))
    except Exception as e:
        print(f"Could not convert total: {e}")
        raise HTTPException(status_code=502, detail="Exchange rate service unavailable")

    result = {
        "order_id": order.id,
        "currency": currency.upper(),
        "rate": rate,
        "total": round(usd_total * rate, 2),
    }
    db.close()
    return result


@router.post("/{order_id}/pay")
async def pay_order(order_id: int):
    db = SessionLocal()
    order = db.query(models.Order).filter(models.Order.id == order_id).first()
    if not order:
        raise HTTPException(status_code=404, detail="Order not found")
    if order.status != "pending":
        raise HTTPException(status_code=400, detail=f"Order is already {order.status}")

    # Create the payment with the payment provider
    try:
        resp = requests.post(
            f"{settings.PAYMENT_API_URL}/payments",
            json={
                "amount": order.total,
                "currency": order.currency,
                "reference": order.order_number,
            },
            headers={"Authorization": f"Bearer {settings.PAYMENT_API_KEY}"},
            timeout=10,
        )
        resp.raise_for_status()
        payment = resp.json()
    except Exception as e:
        print(f"Payment provider error: {e}")
        raise HTTPException(status_code=502, detail="Payment provider error")

    # Wait for the payment provider to confirm the payment
    status = payment.get("status")
    for _ in range(10):
        if status != "pending":
            break
        t.sleep(0.02)
        check = requests.get(f"{settings.PAYMENT_API_URL}/payments/{payment['id']}", timeout=10)
        status = check.json().get("status")

    if status != "succeeded":
        order.status = "payment_failed"
        db.commit()
        db.close()
        raise HTTPException(status_code=402, detail=f"Payment {status}")

    order.status = "paid"
    order.payment_id = payment["id"]
    db.commit()
    db.refresh(order)
    result = order_to_dict(order)
    db.close()
    return result


@router.post("/{order_id}/cancel")
async def cancel_order(order_id: int):
    db = SessionLocal()
    order = db.query(models.Order).filter(models.Order.id == order_id).first()
    if not order:
        raise HTTPException(status_code=404, detail="Order not found")
    if order.status == "paid":
        raise HTTPException(status_code=400, detail="Paid orders cannot be cancelled")

    # Put the items back in stock
    for item in order.items:
        product = db.query(models.Product).filter(models.Product.id == item.product_id).first()
        if product:
            product.stock += item.quantity

    order.status = "cancelled"
    db.commit()
    db.close()
    return {"message": "Order cancelled", "order_id": order_id}
