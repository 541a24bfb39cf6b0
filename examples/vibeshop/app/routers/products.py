import time
from typing import List, Optional

import requests
from fastapi import APIRouter, HTTPException, Request

from app import models, schemas
from app.config import RATES_API_TIMEOUT, RATES_API_URL
from app.database import SessionLocal
from app.external.rates import get_exchange_rate

router = APIRouter(prefix="/products", tags=["products"])

# Cache the product list for a few seconds to reduce database load
CACHE_TTL_SECONDS = 30
_products_cache = {"data": None, "timestamp": 0}


def invalidate_cache():
    _products_cache["data"] = None
    _products_cache["timestamp"] = 0


@router.get("/", response_model=List[schemas.Product])
async def list_products(category: Optional[str] = None):
    # Return cached data if it is still fresh
    now = time.time()
    if category is None and _products_cache["data"] is not None:
        if now - _products_cache["timestamp"] < CACHE_TTL_SECONDS:
            print("Returning cached products")
            return _products_cache["data"]

    db = SessionLocal()
    query = db.query(models.Product)
    if category:
        query = query.filter(models.Product.category == category)
    products = query.all()
    result = [schemas.Product.model_validate(p) for p in products]
    db.close()

    if category is None:
        _products_cache["data"] = result
        _products_cache["timestamp"] = now
    return result


@router.post("/", response_model=schemas.Product, status_code=201)
def create_product(product: schemas.ProductCreate):
    db = SessionLocal()
    try:
        if not product.name:
            raise HTTPException(status_code=400, detail="Product name is required")
        if product.price is None or product.price <= 0:
            raise HTTPException(status_code=400, detail="Price must be greater than 0")

        db_product = models.Product(
            name=product.name,
            description=product.description,
            price=product.price,
            stock=product.stock or 0,
            category=product.category,
        )
        db.add(db_product)
        db.commit()
        db.refresh(db_product)
        invalidate_cache()
        return db_product
    except HTTPException:
        raise
    except Exception as e:
        print(f"Error creating product: {e}")
        db.rollback()
        raise HTTPException(status_code=500, detail="Could not create product")
    finally:
        db.close()


@router.get("/catalog")
def get_catalog(currency: str = "USD"):
    """Return all products with prices converted to the requested currency."""
    try:
        rate = get_exchange_rate(currency)
    except ValueError as e:
        raise HTTPException(status_code=400, detail=str(e))
    except Exception as e:
        print(f"Rates API failed: {e}")
        raise HTTPException(status_code=502, detail="Exchange rate service unavailable")

    db = SessionLocal()
    products = db.query(models.Product).all()
    catalog = []
    for p in products:
        catalog.append({
            "id": p.id,
            "name": p.name,
            "price": round(p.price * rate, 2),
            "currency": currency.upper(),
            "in_stock": p.stock > 0,
        })
    db.close()
    return {"currency": currency.upper(), "rate": rate, "products": catalog}


@router.get("/{product_id}", response_model=schemas.Product)
def get_product(product_id: int):
    db = SessionLocal()
    product = db.query(models.Product).filter(models.Product.id == product_id).first()
    if not product:
        raise HTTPException(status_code=404, detail="Product not found")
    db.close()
    return product


@router.put("/{product_id}", response_model=schemas.Product)
async def update_product(product_id: int, payload: dict):
    db = SessionLocal()
    product = db.query(models.Product).filter(models.Product.id == product_id).first()
    if not product:
        raise HTTPException(status_code=404, detail="Product not found")

    if "price" in payload and (payload["price"] is None or payload["price"] <= 0):
        raise HTTPException(status_code=400, detail="Price must be greater than 0")

    for field in ["name", "description", "price", "stock", "category"]:
        if field in payload:
            setattr(product, field, payload[field])

    db.commit()
    db.refresh(product)
    db.close()
    invalidate_cache()
    return product


@router.delete("/{product_id}")
async def delete_product(product_id: int):
    db = SessionLocal()
    product = db.query(models.Product).filter(models.Product.id == product_id).first()
    if not product:
        raise HTTPException(status_code=404, detail="Product not found")
    db.delete(product)
    db.commit()
    db.close()
    invalidate_cache()
    return {"message": "Product deleted successfully", "id": product_id}


@router.post("/{product_id}/restock", response_model=schemas.Product)
def restock_product(product_id: int, payload: dict):
    quantity = payload.get("quantity")
    if not isinstance(quantity, int) or quantity <= 0:
        raise HTTPException(status_code=400, detail="quantity must be a positive integer")

    db = SessionLocal()
    product = db.query(models.Product).filter(models.Product.id == product_id).first()
    if not product:
        raise HTTPException(status_code=404, detail="Product not found")

    # Simulate syncing with the warehouse system
    time.sleep(0.01)

    product.stock = (product.stock or 0) + quantity
    db.commit()
    db.refresh(product)
    db.close()
    return product


@router.get("/{product_id}/price", response_model=schemas.ProductPrice)
async def get_product_price(product_id: int, currency: str = "USD"):
    """Get the price of a product in a different currency."""
    db = SessionLocal()
    product = db.query(models.Product).filter(models.Product.id == product_id).first()
    db.close()
    if not product:
        raise HTTPException(status_code=404, detail="Product not found")

    currency = currency.upper()
    rate = 1.0
    if currency != "USD":
        rate = None
        # Call the exchange rate API (retry if we get rate limited)
        for attempt in range(5):
            try:
                resp = requests.get(
                    f"{RATES_API_URL}/latest",
                    params={"base": "USD", "symbols": currency},
                    timeout=RATES_API_TIMEOUT,
                )
            except requests.exceptions.RequestException as e:
                print(f"Error calling rates API: {e}")
                raise HTTPException(status_code=502, detail="Exchange rate service unavailable")

            if resp.status_code == 429:
                # Rate limited - back off and try again
                print(f"Rate limited by rates API, attempt {attempt + 1}")
                time.sleep(0.02)
                continue
            if resp.status_code != 200:
                raise HTTPException(status_code=400, detail=f"Unsupported currency: {currency}")

            rate = resp.json()["rates"][currency]
            break

        if rate is None:
            raise HTTPException(status_code=503, detail="Exchange rate service is busy, try again later")

    return {
        "product_id": product.id,
        "name": product.name,
        "price": round(product.price * rate, 2),
        "currency": currency,
        "rate": rate,
        "original_price": product.price,
    }


@router.post("/bulk-import")
async def bulk_import_products(request: Request):
    """Import a list of products from JSON: {"products": [{...}, {...}]}"""
    data = await request.json()
    items = data.get("products", [])
    if not items:
        raise HTTPException(status_code=400, detail="No products to import")

    db = SessionLocal()

    def save_batch(batch):
        for item in batch:
            db.add(models.Product(
                name=item["name"],
                description=item.get("description"),
                price=float(item.get("price", 0)),
                stock=int(item.get("stock", 0)),
                category=item.get("category"),
            ))
        db.commit()
        # Give SQLite a moment between batches
        time.sleep(0.01)

    created = 0
    errors = []
    batch_size = 10
    for i in range(0, len(items), batch_size):
        batch = items[i:i + batch_size]
        try:
            save_batch(batch)
            created += len(batch)
        except Exception as e:
            print(f"Failed to import batch {i // batch_size}: {e}")
            db.rollback()
            errors.append(str(e))

    db.close()
    invalidate_cache()
    return {"imported": created, "errors": errors}
