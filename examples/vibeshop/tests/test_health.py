def test_health(client):
    resp = client.get("/health")
    assert resp.status_code == 200
    assert resp.json()["status"] == "healthy"

    resp = client.get("/")
    assert resp.status_code == 200
    assert "VibeShop" in resp.json()["message"]
