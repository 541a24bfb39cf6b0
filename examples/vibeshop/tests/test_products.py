import uuid


def test_create_and_get_product(client, make_product):
    product = make_product(name="Mechanical Keyboard", price=89.99, stock=7)
    assert product["id"] > 0
    resp = client.get(f"/products/{product['id']}")
    assert resp.status_code == 200
    data = resp.json()
    assert data["name"] == "Mechanical Keyboard"
    assert data["price"] == 89.99
    assert data["stock"] == 7


def test_create_product_invalid_price(client):
    resp = client.post("/products/", json={"name": "Free lunch", "price": 0})
    assert resp.status_code == 400


def test_get_product_not_found(client):
    resp = client.get("/products/999999")
    assert resp.status_code == 404


def test_list_products(client, make_product):
    product = make_product(category="books")
    resp = client.get("/products/")
    assert resp.status_code == 200
    assert product["id"] in {p["id"] for p in resp.json()}

    resp = client.get("/products/", params={"category": "books"})
    assert resp.status_code == 200
    assert all(p["category"] == "books" for p in resp.json())
    assert product["id"] in {p["id"] for p in resp.json()}


def test_update_product(client, make_product):
    product = make_product(price=20.0)
    resp = client.put(f"/products/{product['id']}", json={"price": 25.5, "stock": 42})
    assert resp.status_code == 200
    assert resp.json()["price"] == 25.5
    assert resp.json()["stock"] == 42

    resp = client.put(f"/products/{product['id']}", json={"price": -1})
    assert resp.status_code == 400


def test_delete_product(client, make_product):
    product = make_product()
    resp = client.delete(f"/products/{product['id']}")
    assert resp.status_code == 200
    assert client.get(f"/products/{product['id']}").status_code == 404
    assert product["id"] not in {p["id"] for p in client.get("/products/").json()}


def test_restock_product(client, make_product):
    product = make_product(stock=2)
    resp = client.post(f"/products/{product['id']}/restock", json={"quantity": 3})
    assert resp.status_code == 200
    assert resp.json()["stock"] == 5

    resp = client.post(f"/products/{product['id']}/restock", json={"quantity": "lots"})
    assert resp.status_code == 400


def test_bulk_import_products(client):
    tag = uuid.uuid4().hex[:8]
    products = [
        {"name": f"Imported {tag} {i}", "price": 1.5 + i, "stock": i, "category": f"bulk-{tag}"}
        for i in range(12)  # more than one batch of 10
    ]
    resp = client.post("/products/bulk-import", json={"products": products})
    assert resp.status_code == 200
    assert resp.json() == {"imported": 12, "errors": []}

    resp = client.get("/products/", params={"category": f"bulk-{tag}"})
    assert sorted(p["name"] for p in resp.json()) == sorted(p["name"] for p in products)
