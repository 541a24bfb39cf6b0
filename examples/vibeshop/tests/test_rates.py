"""Endpoints that convert prices with the (fake) external exchange-rate API."""


def test_product_price_in_eur(client, make_product):
    product = make_product(price=100.0)
    resp = client.get(f"/products/{product['id']}/price", params={"currency": "eur"})
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["currency"] == "EUR"
    assert data["rate"] == 0.9
    assert data["price"] == 90.0
    assert data["original_price"] == 100.0


def test_product_price_retries_when_rate_limited(client, make_product):
    # The fake API answers every other CHF request with 429
    product = make_product(price=50.0)
    for _ in range(2):
        resp = client.get(f"/products/{product['id']}/price", params={"currency": "CHF"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["price"] == 44.0


def test_product_price_unknown_currency(client, make_product):
    product = make_product()
    resp = client.get(f"/products/{product['id']}/price", params={"currency": "XYZ"})
    assert resp.status_code == 400


def test_catalog_in_gbp(client, make_product):
    product = make_product(price=10.0, stock=0)
    resp = client.get("/products/catalog", params={"currency": "GBP"})
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["rate"] == 0.8
    entry = next(p for p in data["products"] if p["id"] == product["id"])
    assert entry == {
        "id": product["id"],
        "name": product["name"],
        "price": 8.0,
        "currency": "GBP",
        "in_stock": False,
    }


def test_order_total_in_other_currency(client, make_user, make_product):
    user = make_user()
    product = make_product(price=10.0, stock=5)
    order = client.post(
        "/orders/", json={"user_id": user["id"], "items": [{"product_id": product["id"], "quantity": 2}]}
    ).json()
    assert order["total"] == 21.6

    resp = client.get(f"/orders/{order['id']}/total", params={"currency": "JPY"})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"order_id": order["id"], "currency": "JPY", "rate": 150.0, "total": 3240.0}

    resp = client.get(f"/orders/{order['id']}/total", params={"currency": "CHF"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["total"] == 19.01
