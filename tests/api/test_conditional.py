"""``POST /v1/vn/callforward/conditional``: every row of contract/conditions.md's check
table in English and French, as JSON, as a form and answered in XML; its successes, dry
run, and what the reads show of the fallbacks.

Runs on SQLite and PostgreSQL (the ``database`` fixture's parameters).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from fastapi.testclient import TestClient

from renvoi.config import Settings
from renvoi.store import accounts, numbers
from renvoi.store.database import Database
from tests.harness import Tenant, internal_client

URL = "/v1/vn/callforward/conditional"
SEED = "/v1/vn/callforward"
A, B = "+33757000001", "+33757000002"
SMS_ONLY, SUSPENDED, OTHERS = "+33757000009", "+33757000010", "+33757000020"
DEST = "+33612345678"
KEY = object()  # stands for the tenant's key in the table
ROUTE_TOKEN = "route-secret-for-tests"

# What each row needs set first (seed-endpoint and conditional changes), by row id.
SETUP: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "16-loop": [(SEED, {"number": B, "type": 1, "param": A})],
    "17-same-forward": [(URL, {"number": A, "condition": "busy", "type": 1, "param": DEST})],
    "18-same-voicemail": [
        (
            URL,
            {
                "number": A,
                "condition": "noAnswer",
                "type": 2,
                "param": "ann@example.com",
                "ringSeconds": 25,
            },
        )
    ],
}

# (row, fields, HTTP status, code, English message, French message), in the table's order.
ROWS = [
    pytest.param(
        "1-no-key",
        {"number": A, "condition": "busy", "type": 0},
        401,
        10,
        "API key is required",
        "La Clé API est requise",
        id="1-no-key",
    ),
    pytest.param(
        "2-unknown-key",
        {"apiKey": "rv_unknown", "number": "", "condition": ""},
        401,
        10,
        "API key is invalid",
        "La Clé API n’est pas valide",
        id="2-unknown-key",
    ),
    pytest.param(
        "3-no-number",
        {"apiKey": KEY, "condition": "", "type": "x"},
        400,
        5,
        "Virtual number is required",
        "Le numéro virtuel est requis",
        id="3-no-number",
    ),
    pytest.param(
        "4-no-condition",
        {"apiKey": KEY, "number": A, "type": "x"},
        400,
        21,
        "Condition is required",
        "La condition est requise",
        id="4-no-condition",
    ),
    pytest.param(
        "5-condition-case",
        {"apiKey": KEY, "number": A, "condition": "Busy", "type": "x"},
        400,
        21,
        "Condition is not valid",
        "La condition n’est pas valide",
        id="5-condition-case",
    ),
    pytest.param(
        "6-no-type",
        {"apiKey": KEY, "number": A, "condition": "noAnswer"},
        400,
        6,
        "Type is required",
        "Le type est requis",
        id="6-no-type",
    ),
    pytest.param(
        "7-bad-type",
        {"apiKey": KEY, "number": A, "condition": "noAnswer", "type": 3},
        400,
        7,
        "Type is not valid",
        "Le type n’est pas valide",
        id="7-bad-type",
    ),
    pytest.param(
        "8-no-param",
        {"apiKey": KEY, "number": A, "condition": "busy", "type": 1, "ringSeconds": 1},
        400,
        8,
        "param is required",
        "param est requis",
        id="8-no-param",
    ),
    pytest.param(
        "9-ring-with-busy",
        {
            "apiKey": KEY,
            "number": A,
            "condition": "busy",
            "type": 2,
            "param": "x",
            "ringSeconds": 20,
        },
        400,
        22,
        "Ring time is not valid",
        "La durée de sonnerie n’est pas valide",
        id="9-ring-with-busy",
    ),
    pytest.param(
        "9-ring-too-long",
        {
            "apiKey": KEY,
            "number": A,
            "condition": "noAnswer",
            "type": 1,
            "param": "x",
            "ringSeconds": 121,
        },
        400,
        22,
        "Ring time is not valid",
        "La durée de sonnerie n’est pas valide",
        id="9-ring-too-long",
    ),
    pytest.param(
        "10-email",
        {"apiKey": KEY, "number": "+33757999999", "condition": "busy", "type": 2, "param": "x"},
        400,
        9,
        "Email is not valid",
        "L’email n’est pas valide",
        id="10-email",
    ),
    pytest.param(
        "11-forward-number",
        {
            "apiKey": KEY,
            "number": "+33757999999",
            "condition": "busy",
            "type": 1,
            "param": "0899123456",
        },
        400,
        12,
        "Forward number is not valid: premium-rate numbers are refused",
        "Le numéro de transfert n’est pas valide : les numéros surtaxés sont refusés",
        id="11-forward-number",
    ),
    pytest.param(
        "12-other-accounts",
        {"apiKey": KEY, "number": OTHERS, "condition": "busy", "type": 1, "param": DEST},
        404,
        13,
        "Virtual number does not exist",
        "Le numéro virtuel n’existe pas",
        id="12-other-accounts",
    ),
    pytest.param(
        "13-suspended",
        {"apiKey": KEY, "number": SUSPENDED, "condition": "busy", "type": 1, "param": DEST},
        403,
        15,
        "Number is disabled",
        "Le numéro est désactivé",
        id="13-suspended",
    ),
    pytest.param(
        "14-sms-only",
        {"apiKey": KEY, "number": SMS_ONLY, "condition": "busy", "type": 1, "param": DEST},
        403,
        14,
        "Call forwarding is not enabled for this number",
        "Le transfert d’appel n’est pas activé",
        id="14-sms-only",
    ),
    pytest.param(
        "16-loop",
        {"apiKey": KEY, "number": A, "condition": "unavailable", "type": 1, "param": B},
        400,
        12,
        f"Forward number is not valid: it would make a forwarding loop ({A} → {B} → {A})",
        f"Le numéro de transfert n’est pas valide : cela créerait une boucle ({A} → {B} → {A})",
        id="16-loop",
    ),
    pytest.param(
        "17-same-forward",
        {"apiKey": KEY, "number": A, "condition": "busy", "type": 1, "param": "06 12 34 56 78"},
        409,
        16,
        "Callforward already enabled",
        "Le transfert d’appel est déjà activé",
        id="17-same-forward",
    ),
    pytest.param(
        "18-same-voicemail",
        {
            "apiKey": KEY,
            "number": A,
            "condition": "noAnswer",
            "type": "2",
            "param": "ann@EXAMPLE.com",
        },
        409,
        17,
        "Voicemail already enabled",
        "La messagerie est déjà activée",
        id="18-same-voicemail",
    ),
    pytest.param(
        "19-none-to-remove",
        {"apiKey": KEY, "number": A, "condition": "unavailable", "type": 0},
        409,
        18,
        "Callforward already disabled",
        "Le transfert d’appel est déjà désactivé",
        id="19-none-to-remove",
    ),
]


def send(client: TestClient, fields: dict[str, Any], *, how: str, language: str) -> Any:
    headers = {"Accept-Language": language}
    if how == "json":
        return client.post(URL, json=fields, headers=headers)
    form = {name: str(value) for name, value in fields.items()}
    if how == "xml":
        form["_format"] = "xml"
    return client.post(URL, data=form, headers=headers)


def answer(response: Any, how: str) -> tuple[int, bool, int, str]:
    if how == "xml":
        assert response.headers["content-type"].startswith("application/xml")
        success, code, message = (e.text for e in ET.fromstring(response.content))
        return response.status_code, success == "true", int(code or 0), message or ""
    body = response.json()
    assert set(body) == {"success", "code", "message"}
    return response.status_code, body["success"], body["code"], body["message"]


@pytest.mark.parametrize("how", ["json", "form", "xml"])
@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize(("row", "fields", "status", "code", "english", "french"), ROWS)
def test_every_check_in_order(
    client: TestClient,
    tenant: Tenant,
    other_tenant: Tenant,
    row: str,
    fields: dict[str, Any],
    status: int,
    code: int,
    english: str,
    french: str,
    language: str,
    how: str,
) -> None:
    for path, setup in SETUP.get(row, []):
        assert client.post(path, json={"apiKey": tenant.key, **setup}).status_code == 200
    sent = {name: tenant.key if value is KEY else value for name, value in fields.items()}
    expected = (status, False, code, french if language == "fr" else english)
    assert answer(send(client, sent, how=how, language=language), how) == expected


def post(client: TestClient, tenant: Tenant, **fields: Any) -> tuple[int, dict[str, Any]]:
    response = client.post(URL, json={"apiKey": tenant.key, "number": A, **fields})
    return response.status_code, response.json()


def read(client: TestClient, tenant: Tenant, number: str = A) -> dict[str, Any]:
    body: dict[str, Any] = client.get(SEED, params={"apiKey": tenant.key, "number": number}).json()
    return body


def test_the_commonest_setting_and_how_the_reads_show_it(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    """Forward to a mobile; no answer in 20 s → voicemail."""
    seed = client.post(SEED, json={"apiKey": tenant.key, "number": A, "type": 1, "param": DEST})
    assert seed.json() == {"success": True, "code": 1, "message": "Callforward enabled"}
    assert read(client, tenant)["conditions"] == {}
    status, body = post(
        client, tenant, condition="noAnswer", type=2, param="ann@example.com", ringSeconds=20
    )
    assert (status, body) == (200, {"success": True, "code": 3, "message": "Voicemail enabled"})
    shown = read(client, tenant)
    assert (shown["type"], shown["param"]) == (1, DEST)  # the primary setting is untouched
    assert shown["conditions"] == {
        "noAnswer": {"type": 2, "param": "ann@example.com", "ringSeconds": 20}
    }
    assert post(client, tenant, condition="busy", type=1, param="0612000002")[0] == 200
    assert read(client, tenant)["conditions"] == {
        "busy": {"type": 1, "param": "+33612000002"},
        "noAnswer": {"type": 2, "param": "ann@example.com", "ringSeconds": 20},
    }
    history = client.get(SEED + "/history", params={"apiKey": tenant.key, "number": A}).json()[
        "changes"
    ]
    assert [(c["condition"], c["type"], c["previousType"]) for c in history] == [
        ("busy", 1, 0),
        ("noAnswer", 2, 0),
        (None, 1, 0),
    ]
    assert (history[1]["ringSeconds"], history[1]["previousRingSeconds"]) == (20, 20)
    assert history[0]["ringSeconds"] is None
    # The operator's view: the same form.
    record = numbers.get_number(database, A, region="FR")
    assert record.conditions == shown["conditions"] | {"busy": {"type": 1, "param": "+33612000002"}}


def test_the_ring_time_alone_is_a_change_and_absent_keeps_it(
    client: TestClient, tenant: Tenant
) -> None:
    assert post(client, tenant, condition="noAnswer", type=1, param=DEST)[0] == 200
    assert read(client, tenant)["conditions"]["noAnswer"]["ringSeconds"] == 20  # the default
    status, body = post(client, tenant, condition="noAnswer", type=1, param=DEST, ringSeconds="45")
    assert (status, body["code"]) == (200, 1)
    assert post(client, tenant, condition="noAnswer", type=1, param=DEST)[1]["code"] == 16
    assert read(client, tenant)["conditions"]["noAnswer"]["ringSeconds"] == 45
    # Removed and set again without a ring time: the one set last.
    assert post(client, tenant, condition="noAnswer", type=0)[1]["code"] == 2
    assert read(client, tenant)["conditions"] == {}
    assert post(client, tenant, condition="noAnswer", type=2, param="a@example.com")[0] == 200
    assert read(client, tenant)["conditions"]["noAnswer"]["ringSeconds"] == 45


def test_removing_a_fallback_is_code_2(client: TestClient, tenant: Tenant) -> None:
    assert post(client, tenant, condition="unavailable", type=1, param=DEST)[0] == 200
    status, body = post(client, tenant, condition="unavailable", type="0")
    assert (status, body) == (200, {"success": True, "code": 2, "message": "Callforward disabled"})
    assert read(client, tenant)["conditions"] == {}


def test_dry_run_answers_what_the_change_would_get_and_changes_nothing(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    status, body = post(client, tenant, condition="busy", type=1, param=DEST, dryRun=True)
    assert (status, body) == (
        200,
        {"success": True, "code": 1, "message": "Callforward enabled", "dryRun": True},
    )
    assert read(client, tenant)["conditions"] == {}
    assert numbers.history(database, A, region="FR") == []
    refused = post(client, tenant, condition="busy", type=0, dryRun="true")
    assert (refused[0], refused[1]["code"]) == (409, 18)


def test_a_country_outside_the_accounts_is_refused_as_on_the_seed_endpoint(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    accounts.set_countries(database, tenant.account_id, ["FR"])
    status, body = post(client, tenant, condition="busy", type=1, param="+32470123456")
    assert (status, body["code"]) == (400, 12)
    assert body["message"] == (
        "Forward number is not valid: calls to BE are not allowed for this account"
    )
    # Before the number's own checks, as on the seed endpoint.
    nowhere = post(
        client, tenant, number="+33757999999", condition="busy", type=1, param="+32470123456"
    )
    assert nowhere[1]["code"] == 12
    assert post(client, tenant, condition="busy", type=2, param="a@example.com")[1]["code"] == 3


def test_a_seed_forward_that_closes_a_loop_through_a_fallback_is_refused(
    client: TestClient, tenant: Tenant
) -> None:
    """A busy→B, then B→A on the seed endpoint: 12, whichever endpoint writes last."""
    assert post(client, tenant, condition="busy", type=1, param=B)[0] == 200
    seed = client.post(SEED, json={"apiKey": tenant.key, "number": B, "type": 1, "param": A})
    assert seed.status_code == 400
    assert seed.json()["message"] == (
        f"Forward number is not valid: it would make a forwarding loop ({B} → {A} → {B})"
    )
    # Through another fallback of B's: refused as well.
    status, body = post(client, tenant, number=B, condition="noAnswer", type=1, param=A)
    assert (status, body["code"]) == (400, 12)


def test_the_seed_endpoints_answers_do_not_change(client: TestClient, tenant: Tenant) -> None:
    """Fallbacks set: the seed endpoint answers byte for byte as before."""
    post(client, tenant, condition="busy", type=1, param=DEST)
    response = client.post(SEED, data={"apiKey": tenant.key, "number": A, "type": "0"})
    assert response.content == (
        b'{"success":false,"code":18,"message":"Callforward already disabled"}'
    )


def test_a_change_applies_to_the_next_call_at_once(
    database_url: str, database: Database, tenant: Tenant
) -> None:
    """The route cache forgets the number on a fallback's change, as on any change."""
    settings = Settings(database_url=database_url, route_token=ROUTE_TOKEN)
    route, auth = f"/internal/v1/route/{A}", {"Authorization": f"Bearer {ROUTE_TOKEN}"}
    numbers.set_sip_destination(database, A, "sip:pbx@127.0.0.1:5090", region="FR")
    with internal_client(settings, database) as client:
        assert client.get(route, headers=auth).json()["busy"] == ""
        assert post(client, tenant, condition="busy", type=1, param=DEST)[0] == 200
        answer = client.get(route, headers=auth).json()
        assert answer["busy"].startswith(f"sip:{DEST}@")
        assert answer["busy_diversion"].endswith(";reason=user-busy")
        assert (answer["no_answer"], answer["ring_seconds"]) == ("", 0)
