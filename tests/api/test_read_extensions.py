"""The read extensions: GET the current forwarding, GET its history."""

from __future__ import annotations

from fastapi.testclient import TestClient

from renvoi.store import accounts
from renvoi.store.database import Database
from tests.harness import Tenant

URL = "/v1/vn/callforward"
A, OTHERS = "+33757000001", "+33757000020"


def test_get_current_state_with_query_key(client: TestClient, tenant: Tenant) -> None:
    client.post(URL, json={"apiKey": tenant.key, "number": A, "type": 1, "param": "0612345678"})
    body = client.get(URL, params={"apiKey": tenant.key, "number": "07.57.00.00.01"}).json()
    assert body["success"] is True and body["code"] == 200
    assert (body["number"], body["type"], body["param"], body["status"]) == (
        A,
        1,
        "+33612345678",
        "active",
    )
    assert body["updatedAt"].endswith("Z")


def test_get_with_header_key_and_never_configured_number(
    client: TestClient, tenant: Tenant
) -> None:
    body = client.get(URL, params={"number": A}, headers={"X-Api-Key": tenant.key}).json()
    assert (body["type"], body["param"]) == (0, None)


def test_get_checks(client: TestClient, tenant: Tenant, other_tenant: Tenant) -> None:
    assert client.get(URL, params={"number": A}).json()["code"] == 10
    assert client.get(URL, params={"number": A, "apiKey": "rv_bad"}).status_code == 401
    assert client.get(URL, params={"apiKey": "rv_bad"}).json()["code"] == 10  # before 5
    assert client.get(URL, params={"apiKey": tenant.key}).json()["code"] == 5
    for number in ("NUMBET", "+33757999999", OTHERS):
        response = client.get(URL, params={"apiKey": tenant.key, "number": number})
        assert (response.status_code, response.json()["code"]) == (404, 13)


def test_a_revoked_key_reads_nothing_at_once(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    """On PostgreSQL the key and the number are one read: a revoked key still answers
    10, in every spelling and for a number that is nowhere, never the number's state."""
    assert client.get(URL, params={"apiKey": tenant.key, "number": A}).status_code == 200
    accounts.revoke_key(database, tenant.key_id)
    for number in (A, "+330757000001", "07 57 00 00 01", "+33757999999", "NUMBET", ""):
        response = client.get(URL, params={"apiKey": tenant.key, "number": number})
        assert (response.status_code, response.json()["code"]) == (401, 10), number


def test_history_newest_first(client: TestClient, tenant: Tenant) -> None:
    for fields in (
        {"type": 1, "param": "0612345678"},
        {"type": 2, "param": "a@example.com"},
        {"type": 0},
    ):
        client.post(URL, json={"apiKey": tenant.key, "number": A, **fields})
    body = client.get(URL + "/history", params={"apiKey": tenant.key, "number": A}).json()
    assert body["number"] == A
    assert [(c["type"], c["param"], c["previousType"]) for c in body["changes"]] == [
        (0, None, 2),
        (2, "a@example.com", 1),
        (1, "+33612345678", 0),
    ]
    assert all(c["keyId"] == tenant.key_id for c in body["changes"])
    limited = client.get(URL + "/history", params={"apiKey": tenant.key, "number": A, "limit": 1})
    assert len(limited.json()["changes"]) == 1


def test_history_of_another_accounts_number_is_13(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    for number in (OTHERS, "+33757999999", "NUMBET"):
        response = client.get(URL + "/history", params={"apiKey": tenant.key, "number": number})
        assert (response.status_code, response.json()["code"]) == (404, 13)


def test_get_in_xml(client: TestClient, tenant: Tenant) -> None:
    response = client.get(URL, params={"apiKey": tenant.key, "number": A, "_format": "xml"})
    assert response.text.startswith(
        "<?xml version='1.0' encoding='UTF-8'?>\n<result>\n  <entry>true</entry>"
    )
    assert "<entry><![CDATA[+33757000001]]></entry>" in response.text


def test_bad_query_is_code_4(client: TestClient, tenant: Tenant) -> None:
    response = client.get(
        URL + "/history", params={"apiKey": tenant.key, "number": A, "limit": "x"}
    )
    assert (response.status_code, response.json()["code"]) == (400, 4)


def test_get_reads_a_number_in_any_spelling(client: TestClient, tenant: Tenant) -> None:
    """As stored or written internationally (looked up without parsing), or only looking
    so (``+33 0…``: parsed)."""
    for number in (A, A[1:], "+330757000001", "0033 7 57 00 00 01"):
        body = client.get(URL, params={"apiKey": tenant.key, "number": number}).json()
        assert (body["code"], body["number"]) == (200, A), number
    for number in ("+330757999999", "+3"):
        response = client.get(URL, params={"apiKey": tenant.key, "number": number})
        assert (response.status_code, response.json()["code"]) == (404, 13), number
    # A "+" not encoded in the query string arrives as a space.
    unencoded = client.get(f"{URL}?number={A}", headers={"X-Api-Key": tenant.key}).json()
    assert (unencoded["code"], unencoded["number"]) == (200, A)
    missing = client.get(f"{URL}?number=+33757999999", headers={"X-Api-Key": tenant.key})
    assert (missing.status_code, missing.json()["code"]) == (404, 13)
