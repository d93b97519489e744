"""Errors outside the page's table: 19 (rate limits) and 20 (the database, faults)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from renvoi.api.app import create_app
from renvoi.config import Settings
from renvoi.store.database import Database
from tests.harness import Tenant

URL = "/v1/vn/callforward"
A = "+33757000001"


@pytest.fixture
def strict_client(database_url: str, database: Database) -> Iterator[TestClient]:
    """Tiny limits and rates so slow that no token comes back during a test."""
    settings = Settings(
        database_url=database_url,
        rate_key_burst=3,
        rate_key_per_second=0.001,
        rate_bad_key_burst=4,
        rate_bad_key_per_second=0.001,
    )
    with TestClient(create_app(settings, db=database)) as client:
        yield client


def test_per_key_limit_answers_19_with_retry_after(
    strict_client: TestClient, tenant: Tenant
) -> None:
    codes = [
        strict_client.post(URL, json={"apiKey": tenant.key, "number": A, "type": 0}).json()["code"]
        for _ in range(4)
    ]
    assert codes == [18, 18, 18, 19]
    response = strict_client.post(URL, json={"apiKey": tenant.key, "number": A, "type": 0})
    assert response.status_code == 429
    assert response.json() == {"success": False, "code": 19, "message": "Too many requests"}
    assert int(response.headers["retry-after"]) >= 1


def test_unknown_keys_block_the_address_whatever_its_key(
    strict_client: TestClient, tenant: Tenant
) -> None:
    statuses = [
        strict_client.post(URL, json={"apiKey": f"rv_guess{i}", "number": A, "type": 0}).status_code
        for i in range(4)
    ]
    assert statuses == [401, 401, 401, 401]
    # The bucket is empty: every request from this address is refused, even a good key's.
    response = strict_client.post(URL, json={"apiKey": tenant.key, "number": A, "type": 0})
    assert (response.status_code, response.json()["code"]) == (429, 19)
    assert "retry-after" in response.headers
    # ...and before its body is even read.
    response = strict_client.post(URL, content=b"{", headers={"Content-Type": "application/json"})
    assert response.status_code == 429


def test_good_keys_do_not_count_against_the_address(
    strict_client: TestClient, tenant: Tenant
) -> None:
    for _ in range(3):
        assert (
            strict_client.post(URL, json={"apiKey": tenant.key, "number": A, "type": 0}).status_code
            == 409
        )


def test_unreachable_database_is_503_code_20(database_url: str, tmp_path: Any) -> None:
    if database_url.startswith("sqlite"):
        url = "sqlite:////dev/null/renvoi.db"  # a file below a non-directory: cannot open
    else:
        url = "postgresql://postgres@127.0.0.1:1/renvoi"  # nothing listens on port 1
    settings = Settings(database_url=url, database_timeout=1)
    with TestClient(create_app(settings)) as client:
        response = client.post(URL, json={"apiKey": "rv_anything", "number": A, "type": 0})
        assert response.status_code == 503
        assert response.json() == {
            "success": False,
            "code": 20,
            "message": "Service temporarily unavailable",
        }
        assert client.get("/health/ready").status_code == 503
        assert client.get("/health").status_code == 200


def test_unexpected_fault_is_500_code_20_without_details(
    settings: Settings, database: Database
) -> None:
    app = create_app(settings, db=database)

    async def boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"Accept-Language": "fr"})
    assert response.status_code == 500
    assert response.json() == {"success": False, "code": 20, "message": "Erreur interne du serveur"}
