import pytest


@pytest.fixture
def customer(make_user):
    return make_user()


def create_order(client, user_id, items, **extra):
    return client.post("/orders/", json={"user_id": user_id, "items": items, **extra})


def test_create_order(client, customer, make_product):
    keyboard = make_product(price=10.0, stock=5)
    mouse = make_product(price=2.5, stock=3)
    resp = create_order(
        client,
        customer["id"],
        [{"product_id": keyboard["id"], "quantity": 2}, {"product_id": mouse["id"], "quantity": 1}],
    )
    assert resp.status_code == 201, resp.text
    order = resp.json()
    assert order["status"] == "pending"
    assert order["user_id"] == customer["id"]
    assert order["currency"] == "USD"
    assert order["subtotal"] == 22.5
    assert order["tax"] == 1.8
    assert order["total"] == 24.3
    assert order["order_number"].startswith("ORD-")
    assert sorted((i["product_id"], i["quantity"]) for i in order["items"]) == sorted(
        [(keyboard["id"], 2), (mouse["id"], 1)]
    )

    # stock was reserved
    assert client.get(f"/products/{keyboard['id']}").json()["stock"] == 3
    assert client.get(f"/products/{mouse['id']}").json()["stock"] == 2

    # and the order can be read back
    resp = client.get(f"/orders/{order['id']}")
    assert resp.status_code == 200
    assert resp.json()["total"] == 24.3


def test_create_order_in_eur(client, customer, make_product):
    product = make_product(price=10.0, stock=5)
    resp = create_order(client, customer["id"], [{"product_id": product["id"], "quantity": 2}], currency="EUR")
    assert resp.status_code == 201, resp.text
    order = resp.json()
    assert order["currency"] == "EUR"
    assert order["exchange_rate"] == 0.9
    assert order["subtotal"] == 18.0
    assert order["total"] == 19.44
    assert order["items"][0]["unit_price"] == 9.0


def test_create_order_insufficient_stock(client, customer, make_product):
    product = make_product(stock=1)
    resp = create_order(client, customer["id"], [{"product_id": product["id"], "quantity": 2}])
    assert resp.status_code == 400
    assert "Insufficient stock" in resp.json()["detail"]
    # nothing was reserved
    assert client.get(f"/products/{product['id']}").json()["stock"] == 1


def test_create_order_unknown_product(client, customer):
    resp = create_order(client, customer["id"], [{"product_id": 999999, "quantity": 1}])
    assert resp.status_code == 404
    assert resp.json()["detail"] == "Product 999999 not found"
    assert client.get("/orders/999999").status_code == 404


def test_create_order_validation(client, customer, make_product):
    product = make_product()
    assert create_order(client, customer["id"], []).status_code == 400
    assert client.post("/orders/", json={"items": [{"product_id": product["id"]}]}).status_code == 400
    assert create_order(client, 999999, [{"product_id": product["id"], "quantity": 1}]).status_code == 404


def test_list_orders_for_user(client, customer, make_product):
    product = make_product(stock=10)
    ids = [
        create_order(client, customer["id"], [{"product_id": product["id"], "quantity": 1}]).json()["id"]
        for _ in range(2)
    ]
    resp = client.get("/orders/", params={"user_id": customer["id"]})
    assert resp.status_code == 200
    assert [o["id"] for o in resp.json()] == sorted(ids, reverse=True)


def test_pay_order(client, customer, make_product):
    product = make_product(price=10.0, stock=5)
    order = create_order(client, customer["id"], [{"product_id": product["id"], "quantity": 1}]).json()
    resp = client.post(f"/orders/{order['id']}/pay")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "paid"
    assert resp.json()["payment_id"].startswith("pay_")

    # paying twice is refused
    assert client.post(f"/orders/{order['id']}/pay").status_code == 400


def test_pay_order_declined(client, customer, make_product):
    product = make_product(price=3000.0, stock=5)
    order = create_order(client, customer["id"], [{"product_id": product["id"], "quantity": 2}]).json()
    resp = client.post(f"/orders/{order['id']}/pay")
    assert resp.status_code == 402
    assert client.get(f"/orders/{order['id']}").json()["status"] == "payment_failed"


def test_cancel_order_restores_stock(client, customer, make_product):
    product = make_product(stock=4)
    order = create_order(client, customer["id"], [{"product_id": product["id"], "quantity": 3}]).json()
    assert client.get(f"/products/{product['id']}").json()["stock"] == 1

    resp = client.post(f"/orders/{order['id']}/cancel")
    assert resp.status_code == 200
    assert client.get(f"/products/{product['id']}").json()["stock"] == 4
    assert client.get(f"/orders/{order['id']}").json()["status"] == "cancelled"
