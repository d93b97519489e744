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
