import uuid


def unique_email():
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


def test_create_user(client):
    email = unique_email()
    resp = client.post("/users/", json={"email": email, "full_name": "Ada", "password": "hunter22"})
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["id"] > 0
    assert data["email"] == email
    assert data["full_name"] == "Ada"
    assert data["is_active"] is True


def test_create_user_rejects_bad_input(client, make_user):
    user = make_user()
    resp = client.post("/users/", json={"email": user["email"], "password": "another1"})
    assert resp.status_code == 400
    assert resp.json()["detail"] == "Email already registered"

    resp = client.post("/users/", json={"email": unique_email(), "password": "123"})
    assert resp.status_code == 400


def test_get_user(client, make_user):
    user = make_user(full_name="Grace Hopper")
    resp = client.get(f"/users/{user['id']}")
    assert resp.status_code == 200
    assert resp.json()["email"] == user["email"]
    assert resp.json()["full_name"] == "Grace Hopper"

    resp = client.get("/users/999999")
    assert resp.status_code == 404
    assert resp.json()["detail"] == "User not found"


def test_list_users_uses_shared_session(client, make_user):
    # GET /users/ is the endpoint served by the module-level db_session
    first = make_user()
    second = make_user()
    resp = client.get("/users/", params={"limit": 1000})
    assert resp.status_code == 200
    emails = {u["email"] for u in resp.json()}
    assert {first["email"], second["email"]} <= emails
    # and it keeps working on a second call
    resp = client.get("/users/", params={"limit": 1000})
    assert resp.status_code == 200
    assert first["email"] in {u["email"] for u in resp.json()}


def test_update_user(client, make_user):
    user = make_user()
    resp = client.put(f"/users/{user['id']}", json={"full_name": "New Name"})
    assert resp.status_code == 200
    assert resp.json()["full_name"] == "New Name"
    assert client.get(f"/users/{user['id']}").json()["full_name"] == "New Name"


def test_login(client, make_user):
    user = make_user(password="correct-horse")
    resp = client.post("/users/login", json={"email": user["email"], "password": "correct-horse"})
    assert resp.status_code == 200
    data = resp.json()
    assert data["token_type"] == "bearer"
    assert data["user_id"] == user["id"]
    assert data["access_token"]


def test_login_wrong_password(client, make_user):
    user = make_user(password="correct-horse")
    resp = client.post("/users/login", json={"email": user["email"], "password": "wrong"})
    assert resp.status_code == 401
