"""``/admin/v1/``: the operator's operations over HTTP, behind the admin token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from renvoi.api.app import create_app
from renvoi.config import Settings
from renvoi.store.database import Database
from tests.harness import ADMIN_TOKEN, record_call

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_admin_api_is_off_without_a_token(database_url: str, database: Database) -> None:
    with TestClient(create_app(Settings(database_url=database_url), db=database)) as client:
        response = client.get("/admin/v1/accounts", headers=AUTH)
    assert (response.status_code, response.json()["code"]) == (404, 4)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="none"),
        pytest.param({"Authorization": "Bearer wrong"}, id="wrong"),
        pytest.param({"Authorization": f"Basic {ADMIN_TOKEN}"}, id="wrong-scheme"),
    ],
)
def test_admin_api_refuses_a_wrong_token(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/admin/v1/accounts", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_admin_tokens_lock_the_address_out(database_url: str, database: Database) -> None:
    """A guessed token counts like an unknown API key: past the burst, the address is
    refused (19), the right token included, until it cools down."""
    settings = Settings(database_url=database_url, admin_token=ADMIN_TOKEN, rate_bad_key_burst=3)
    with TestClient(create_app(settings, db=database)) as client:
        for _ in range(3):
            assert (
                client.get("/admin/v1/accounts", headers={"Authorization": "Bearer x"}).status_code
                == 401
            )
        refused = client.get("/admin/v1/accounts", headers=AUTH)
    assert (refused.status_code, refused.json()["code"]) == (429, 19)
    assert int(refused.headers["retry-after"]) >= 1


def test_the_admin_token_has_a_rate_limit(database_url: str, database: Database) -> None:
    settings = Settings(
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        rate_key_burst=2,
        rate_key_per_second=0.1,
    )
    with TestClient(create_app(settings, db=database)) as client:
        answers = [client.get("/admin/v1/accounts", headers=AUTH).status_code for _ in range(3)]
    assert answers == [200, 200, 429]


@pytest.mark.parametrize("token", ["", " ", "short-token"])
def test_an_empty_or_short_admin_token_is_refused(token: str) -> None:
    """``RENVOI_ADMIN_TOKEN=`` once turned the admin API on with an empty token, and
    ``Authorization: Bearer`` then listed every account."""
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(admin_token=token)


@pytest.fixture
def admin(client: TestClient) -> Iterator[TestClient]:
    client.headers.update(AUTH)
    yield client


def test_admin_lifecycle(admin: TestClient) -> None:
    created = admin.post("/admin/v1/accounts", json={"name": "acme"})
    assert created.status_code == 201
    account = created.json()
    assert set(account) == {"id", "name", "api_key"}
    assert [a["id"] for a in admin.get("/admin/v1/accounts").json()] == [account["id"]]

    number = admin.post(
        "/admin/v1/numbers", json={"number": "07 57 00 00 01", "account_id": account["id"]}
    )
    assert number.status_code == 201
    assert number.json()["number"] == "+33757000001"
    assert number.json()["status"] == "active" and number.json()["voice"] is True

    # The account's key works on the customer API at once.
    response = admin.post(
        "/v1/vn/callforward",
        json={
            "apiKey": account["api_key"],
            "number": "+33757000001",
            "type": 1,
            "param": "0612345678",
        },
    )
    assert response.json()["code"] == 1
    history = admin.get("/admin/v1/numbers/+33757000001/history").json()
    assert [(h["type"], h["param"]) for h in history] == [(1, "+33612345678")]

    # A fallback: the number's record shows it, its history row names the condition.
    response = admin.post(
        "/v1/vn/callforward/conditional",
        json={
            "apiKey": account["api_key"],
            "number": "+33757000001",
            "condition": "busy",
            "type": 2,
            "param": "ann@example.com",
        },
    )
    assert response.json()["code"] == 3
    shown = admin.get("/admin/v1/numbers/+33757000001").json()
    assert shown["conditions"] == {"busy": {"type": 2, "param": "ann@example.com"}}
    history = admin.get("/admin/v1/numbers/+33757000001/history").json()
    assert [(h["condition"], h["type"]) for h in history] == [("busy", 2), (None, 1)]

    assert admin.post("/admin/v1/numbers/+33757000001/suspend").json()["status"] == "suspended"
    response = admin.post(
        "/v1/vn/callforward",
        json={"apiKey": account["api_key"], "number": "+33757000001", "type": 0},
    )
    assert response.json()["code"] == 15
    assert admin.post("/admin/v1/numbers/+33757000001/resume").json()["status"] == "active"

    key = admin.post(f"/admin/v1/accounts/{account['id']}/keys").json()
    assert key["account_id"] == account["id"] and key["api_key"].startswith("rv_")
    revoked = admin.post(f"/admin/v1/keys/{key['id']}/revoke").json()
    assert revoked["revoked_at"] is not None
    keys = admin.get(f"/admin/v1/accounts/{account['id']}/keys").json()
    assert len(keys) == 2 and all("api_key" not in k and "key_hash" not in k for k in keys)

    listed = admin.get("/admin/v1/numbers", params={"account": account["id"]}).json()
    assert [n["number"] for n in listed] == ["+33757000001"]
    assert admin.delete("/admin/v1/numbers/+33757000001").json()["number"] == "+33757000001"
    assert admin.get("/admin/v1/numbers/+33757000001").status_code == 404


def test_admin_errors(admin: TestClient) -> None:
    account = admin.post("/admin/v1/accounts", json={"name": "acme"}).json()
    body = {"number": "+33757000001", "account_id": account["id"]}
    assert admin.post("/admin/v1/numbers", json=body).status_code == 201
    duplicate = admin.post("/admin/v1/numbers", json=body)
    assert duplicate.status_code == 409 and duplicate.json()["success"] is False
    bad = admin.post("/admin/v1/numbers", json={**body, "number": "NUMBET"})
    assert bad.status_code == 400
    missing = admin.post("/admin/v1/numbers", json={**body, "account_id": "acc_nope"})
    assert missing.status_code == 404
    assert admin.post("/admin/v1/keys/key_nope/revoke").status_code == 404
    assert admin.post("/admin/v1/accounts", json={"name": ""}).status_code == 400


def test_a_key_rotated_over_http(admin: TestClient) -> None:
    """integrations.md: the new key printed once as ``key create`` prints it, plus what
    it replaces and when the old one stops; both work in the grace period."""
    account = admin.post("/admin/v1/accounts", json={"name": "acme"}).json()
    [old] = admin.get(f"/admin/v1/accounts/{account['id']}/keys").json()
    response = admin.post(f"/admin/v1/keys/{old['id']}/rotate")
    assert response.status_code == 201
    rotated = response.json()
    assert set(rotated) == {"id", "account_id", "api_key", "replaces", "expires_at"}
    assert (rotated["account_id"], rotated["replaces"]) == (account["id"], old["id"])
    for key in (account["api_key"], rotated["api_key"]):
        read = admin.get("/v1/vn/callforward", params={"apiKey": key, "number": "+33757000001"})
        assert read.json()["code"] == 13  # past the key check: no such number
    listed = {k["id"]: k for k in admin.get(f"/admin/v1/accounts/{account['id']}/keys").json()}
    assert listed[old["id"]]["expires_at"] == rotated["expires_at"]
    assert listed[rotated["id"]]["replaces"] == old["id"]

    # No grace: the old key stops at once.
    again = admin.post(f"/admin/v1/keys/{rotated['id']}/rotate", json={"grace": 0}).json()
    read = admin.get(
        "/v1/vn/callforward", params={"apiKey": rotated["api_key"], "number": "+33757000001"}
    )
    assert read.json()["code"] == 10 and again["expires_at"] is not None

    refused = admin.post(f"/admin/v1/keys/{old['id']}/rotate")
    assert refused.status_code == 409 and "rotated already" in refused.json()["message"]
    assert admin.post("/admin/v1/keys/key_nope/rotate").status_code == 404
    for body in ({"grace": -1}, {"grace": "soon"}, {"grace": 60, "keep": True}):
        response = admin.post(f"/admin/v1/keys/{again['id']}/rotate", json=body)
        assert (response.status_code, response.json()["code"]) == (400, 4), body


def test_an_accounts_webhook_over_http(admin: TestClient) -> None:
    account = admin.post("/admin/v1/accounts", json={"name": "acme"}).json()
    url = f"/admin/v1/accounts/{account['id']}/webhook"
    made = admin.put(url, json={"url": "https://hooks.example/acme"})
    assert made.status_code == 200
    assert made.json()["webhook_url"] == "https://hooks.example/acme"
    assert made.json()["webhook_secret"].startswith("whsec_")
    assert admin.put(url, json={"url": "ftp://hooks.example"}).status_code == 400
    assert admin.put(url, json={}).status_code == 400
    cleared = admin.delete(url).json()
    assert (cleared["webhook_url"], cleared["webhook_secret"]) == (None, None)
    assert admin.delete("/admin/v1/accounts/acc_nope/webhook").status_code == 404


def test_an_accounts_audio_format_over_http(admin: TestClient) -> None:
    account = admin.post("/admin/v1/accounts", json={"name": "acme"}).json()
    url = f"/admin/v1/accounts/{account['id']}/audio"
    assert admin.put(url, json={"format": "mp3"}).json() == {
        "id": account["id"],
        "audio_format": "mp3",
    }
    assert admin.put(url, json={"format": "ogg"}).status_code == 400
    assert admin.delete(url).json()["audio_format"] is None
    assert admin.put("/admin/v1/accounts/acc_nope/audio", json={"format": "wav"}).status_code == 404


def test_a_numbers_route_and_calls_over_http(admin: TestClient, database: Database) -> None:
    """The admin API's twins of ``number route`` and ``number calls``."""
    account = admin.post("/admin/v1/accounts", json={"name": "acme"}).json()
    admin.post("/admin/v1/numbers", json={"number": "+33757000001", "account_id": account["id"]})
    url = "/admin/v1/numbers/+33757000001/route"
    uri = "sip:+33757000003@pbx.example:5060"
    assert admin.put(url, json={"sip": uri}).json()["sip_destination"] == uri
    assert admin.get("/admin/v1/numbers/0757000001").json()["sip_destination"] == uri
    assert admin.put(url, json={"sip": "http://nope"}).status_code == 400
    assert admin.delete(url).json()["sip_destination"] is None
    assert admin.put("/admin/v1/numbers/+33757999999/route", json={"sip": uri}).status_code == 404

    record_call(database, "+33757000001", "c1", "+33100000001")
    record_call(database, "+33757000001", "c2", None)
    listed = admin.get("/admin/v1/numbers/+33757000001/calls").json()
    assert [(c["call_id"], c["caller"], c["action"]) for c in listed] == [
        ("c2", None, "reject"),
        ("c1", "+33100000001", "reject"),
    ]
    assert set(listed[0]) >= {"started_at", "destination", "status", "duration", "diverted"}
    limited = admin.get("/admin/v1/numbers/+33757000001/calls", params={"limit": 1}).json()
    assert [c["call_id"] for c in limited] == ["c2"]
    for limit in (0, 1001):
        response = admin.get("/admin/v1/numbers/+33757000001/calls", params={"limit": limit})
        assert response.status_code == 400
    assert admin.get("/admin/v1/numbers/+33757999999/calls").status_code == 404


def test_openapi_documents_the_endpoint_and_its_codes(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/v1/vn/callforward"]["post"]
    assert set(operation["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
    }
    assert "13: Virtual number does not exist" in operation["responses"]["404"]["description"]
    assert "19: Too many requests" in operation["responses"]["429"]["description"]
    conditional = schema["paths"]["/v1/vn/callforward/conditional"]["post"]
    assert "21: Condition is not valid" in conditional["responses"]["400"]["description"]
    assert "22: Ring time is not valid" in conditional["responses"]["400"]["description"]
    schema_of = conditional["requestBody"]["content"]["application/json"]["schema"]
    assert schema_of["properties"]["condition"]["enum"] == ["busy", "noAnswer", "unavailable"]
    assert "/admin/v1/numbers" in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_account_countries_over_http(admin: TestClient) -> None:
    account = admin.post("/admin/v1/accounts", json={"name": "acme"}).json()
    url = f"/admin/v1/accounts/{account['id']}/countries"
    assert admin.get(url).json() == {"id": account["id"], "countries": None}
    assert admin.put(url, json={"countries": ["be", "FR"]}).json()["countries"] == ["BE", "FR"]
    assert admin.get(url).json()["countries"] == ["BE", "FR"]
    assert admin.put(url, json={"countries": None}).json()["countries"] is None
    unknown = admin.put(url, json={"countries": ["XX"]})
    assert (unknown.status_code, unknown.json()["code"]) == (400, 4)
    assert "XX" in unknown.json()["message"]
    missing = admin.get("/admin/v1/accounts/acc_nope/countries")
    assert missing.status_code == 404


def test_unknown_query_parameters_and_fields_are_refused_naming_them(admin: TestClient) -> None:
    """``?account_id=`` (for ``?account=``) once listed every account's numbers, and
    ``{"voice": false}`` was ignored."""
    account = admin.post("/admin/v1/accounts", json={"name": "acme"}).json()
    widened = admin.get("/admin/v1/numbers", params={"account_id": "acc_nope"})
    assert (widened.status_code, widened.json()["code"]) == (400, 4)
    assert "account_id" in widened.json()["message"]
    ignored = admin.post(
        "/admin/v1/numbers",
        json={"number": "+33757000001", "account_id": account["id"], "voice": False},
    )
    assert (ignored.status_code, ignored.json()["code"]) == (400, 4)
    assert ignored.json()["message"] == "Invalid body: unknown field: voice"
    short = admin.post("/admin/v1/accounts", json={"name": ""})
    assert short.json()["message"].startswith("Invalid body: name: ")
    blank = admin.post("/admin/v1/accounts", json={"name": "   "})
    assert (blank.status_code, blank.json()["code"]) == (400, 4)
