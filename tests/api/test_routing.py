"""``/internal/v1/route``: who may ask, and what it answers (calls themselves: tests/voice)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from renvoi.api.app import create_app
from renvoi.config import Settings
from renvoi.store.database import Database
from tests.conftest import Tenant

ROUTE = "/internal/v1/route/+33757000001"


def test_route_endpoint_hidden_from_non_loopback_clients(client: TestClient) -> None:
    """The test client's address is "testclient", not loopback: as if from outside."""
    assert client.get(ROUTE).status_code == 404


def test_route_endpoint_with_a_token(database_url: str, database: Database, tenant: Tenant) -> None:
    settings = Settings(database_url=database_url, route_token="route-secret")
    with TestClient(create_app(settings, db=database)) as client:
        assert client.get(ROUTE, headers={"Authorization": "Bearer wrong"}).status_code == 404
        answer = client.get(ROUTE, headers={"Authorization": "Bearer route-secret"}).json()
    assert (answer["action"], answer["status"]) == ("reject", 480)


def test_reports_need_a_call_id_and_a_status(
    database_url: str, database: Database, tenant: Tenant
) -> None:
    settings = Settings(database_url=database_url, route_token="route-secret")
    auth = {"Authorization": "Bearer route-secret"}
    with TestClient(create_app(settings, db=database)) as client:
        for url in (
            "/internal/v1/calls/outcome?status=200",
            "/internal/v1/calls/outcome?call_id=c1&status=99",
            "/internal/v1/calls/outcome?call_id=c1&status=abc",
            "/internal/v1/calls/end",
            "/internal/v1/calls/end?call_id=" + "x" * 256,
        ):
            assert client.post(url, headers=auth).status_code == 400, url
        assert client.post("/internal/v1/calls/end?call_id=c1", headers=auth).json() == {"ok": True}
        hidden = client.post("/internal/v1/calls/end?call_id=c1")
        assert hidden.status_code == 404
        assert hidden.headers["X-Content-Type-Options"] == "nosniff"
