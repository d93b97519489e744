"""``POST /v1/vn/callforward``: every row of contract/callforward.md, through the app.

Runs on SQLite and PostgreSQL (the ``database`` fixture's parameters).
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

import pytest
from fastapi.testclient import TestClient

from renvoi.api import deps
from renvoi.store import accounts
from renvoi.store.database import Database
from tests.harness import Tenant

URL = "/v1/vn/callforward"
A, B, C = "+33757000001", "+33757000002", "+33757000003"
SMS_ONLY, SUSPENDED, OTHERS = "+33757000009", "+33757000010", "+33757000020"
DEST = "+33612345678"


def post(client: TestClient, headers: dict[str, str] | None = None, **fields: Any) -> Any:
    return client.post(URL, json=fields, headers=headers or {})


def answer(response: Any) -> tuple[int, int, str]:
    body = response.json()
    assert set(body) == {"success", "code", "message"}
    assert body["success"] is (response.status_code == 200)
    return response.status_code, body["code"], body["message"]


# --- success -----------------------------------------------------------------------------


def test_forward_succeeds_with_code_1(client: TestClient, tenant: Tenant) -> None:
    response = post(client, apiKey=tenant.key, number=A, type=1, param=DEST)
    assert response.json() == {"success": True, "code": 1, "message": "Callforward enabled"}
    assert response.status_code == 200


def test_voicemail_succeeds_with_code_3(client: TestClient, tenant: Tenant) -> None:
    response = post(client, apiKey=tenant.key, number=A, type=2, param="ann@example.com")
    assert response.json() == {"success": True, "code": 3, "message": "Voicemail enabled"}


def test_disable_succeeds_with_code_2_as_on_the_page(client: TestClient, tenant: Tenant) -> None:
    post(client, apiKey=tenant.key, number=A, type=1, param=DEST)
    response = post(client, apiKey=tenant.key, number=A, type=0, param="")
    assert response.json() == {"success": True, "code": 2, "message": "Callforward disabled"}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param((1, DEST), (1, "+33612345679"), id="change-destination"),
        pytest.param((2, "a@example.com"), (2, "b@example.com"), id="change-email"),
        pytest.param((1, DEST), (2, "a@example.com"), id="forward-to-voicemail"),
        pytest.param((2, "a@example.com"), (1, DEST), id="voicemail-to-forward"),
    ],
)
def test_changes_between_modes_succeed(
    client: TestClient, tenant: Tenant, first: tuple[int, str], second: tuple[int, str]
) -> None:
    assert (
        post(client, apiKey=tenant.key, number=A, type=first[0], param=first[1]).status_code == 200
    )
    response = post(client, apiKey=tenant.key, number=A, type=second[0], param=second[1])
    assert response.status_code == 200
    assert response.json()["success"] is True


# --- the checks, in order ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "status", "code", "message"),
    [
        pytest.param({}, 401, 10, "API key is required", id="1-no-key"),
        pytest.param({"apiKey": ""}, 401, 10, "API key is required", id="1-empty-key"),
        pytest.param({"apiKey": None}, 401, 10, "API key is required", id="1-null-key"),
        pytest.param({"apiKey": "rv_nope"}, 401, 10, "API key is invalid", id="2-unknown-key"),
        pytest.param({"apiKey": 42}, 401, 10, "API key is invalid", id="2-number-key"),
    ],
)
def test_key_checks(
    client: TestClient, tenant: Tenant, fields: dict[str, Any], status: int, code: int, message: str
) -> None:
    assert answer(post(client, **fields, number=A, type=1, param=DEST)) == (status, code, message)


def test_revoked_key_is_invalid_at_once(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    assert post(client, apiKey=tenant.key, number=A, type=1, param=DEST).status_code == 200
    accounts.revoke_key(database, tenant.key_id)
    assert answer(post(client, apiKey=tenant.key, number=A, type=0)) == (
        401,
        10,
        "API key is invalid",
    )


class _Later(datetime):
    """The clock ``admit`` reads, moved past a rotated key's grace."""

    moved = timedelta(0)

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> Any:
        return datetime.now(tz) + cls.moved


def test_a_rotated_key_works_until_its_grace_is_over_then_never(
    client: TestClient, tenant: Tenant, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """integrations.md: both keys work during the grace period, only the new one after
    it, on the change and on the read (on PostgreSQL the key is read with the number),
    however the old key was cached when the grace began."""
    assert post(client, apiKey=tenant.key, number=A, type=1, param=DEST).status_code == 200
    rotated = accounts.rotate_key(database, tenant.key_id, grace=60)
    monkeypatch.setattr(deps, "datetime", _Later)

    def codes(key: str, type_: int) -> tuple[int, int]:
        change = post(client, apiKey=key, number=A, type=type_, param=DEST)
        read = client.get(URL, params={"apiKey": key, "number": A})
        return change.json()["code"], read.json()["code"]

    assert codes(tenant.key, 0) == (2, 200)  # the old key, cached before the rotation
    assert codes(rotated.api_key, 1) == (1, 200)
    _Later.moved = timedelta(seconds=61)
    try:
        assert codes(tenant.key, 0) == (10, 10)
        assert codes(rotated.api_key, 0) == (2, 200)
    finally:
        _Later.moved = timedelta(0)


def test_key_check_comes_first(client: TestClient, tenant: Tenant) -> None:
    assert answer(post(client, apiKey="bad", type="x"))[1] == 10


# Each fails one check after the key's (3 to 14), the first it reaches.
LATER_CHECKS = [
    pytest.param(
        {"type": 1, "param": DEST}, 400, 5, "Virtual number is required", id="3-no-number"
    ),
    pytest.param({"number": "", "type": 1}, 400, 5, "Virtual number is required", id="3-empty"),
    pytest.param({"number": A}, 400, 6, "Type is required", id="4-no-type"),
    pytest.param({"number": A, "type": 3}, 400, 7, "Type is not valid", id="5-three"),
    pytest.param({"number": A, "type": -1}, 400, 7, "Type is not valid", id="5-minus"),
    pytest.param({"number": A, "type": 1.5}, 400, 7, "Type is not valid", id="5-float"),
    pytest.param({"number": A, "type": "abc"}, 400, 7, "Type is not valid", id="5-abc"),
    pytest.param({"number": A, "type": "12"}, 400, 7, "Type is not valid", id="5-12"),
    pytest.param({"number": A, "type": True}, 400, 7, "Type is not valid", id="5-true"),
    pytest.param({"number": A, "type": None}, 400, 7, "Type is not valid", id="5-null"),
    pytest.param({"number": A, "type": [1]}, 400, 7, "Type is not valid", id="5-list"),
    pytest.param({"number": A, "type": 1}, 400, 8, "param is required", id="6-forward"),
    pytest.param({"number": A, "type": 2, "param": ""}, 400, 8, "param is required", id="6-vm"),
    pytest.param(
        {"number": A, "type": 2, "param": "nope"}, 400, 9, "Email is not valid", id="7-email"
    ),
    pytest.param(
        {"number": A, "type": 1, "param": "0899123456"},
        400,
        12,
        "Forward number is not valid: premium-rate numbers are refused",
        id="8-premium",
    ),
    pytest.param(
        {"number": A, "type": 1, "param": "0810123456"},
        400,
        12,
        "Forward number is not valid: shared-cost numbers are refused",
        id="8-shared-cost",
    ),
    pytest.param(
        {"number": A, "type": 1, "param": "123"},
        400,
        12,
        "Forward number is not valid: not a valid phone number",
        id="8-invalid",
    ),
    pytest.param(
        {"number": A, "type": 1, "param": "07 57 00 00 01"},
        400,
        12,
        "Forward number is not valid: a number cannot forward to itself",
        id="8-itself",
    ),
    pytest.param(
        {"number": "NUMBET", "type": 0},
        404,
        13,
        "Virtual number does not exist",
        id="9-seed-placeholder",
    ),
    pytest.param(
        {"number": "+33757999999", "type": 0},
        404,
        13,
        "Virtual number does not exist",
        id="9-nowhere",
    ),
    pytest.param(
        {"number": OTHERS, "type": 0},
        404,
        13,
        "Virtual number does not exist",
        id="9-other-account",
    ),
    pytest.param(
        {"number": SUSPENDED, "type": 1, "param": DEST},
        403,
        15,
        "Number is disabled",
        id="10-suspended",
    ),
    pytest.param(
        {"number": SMS_ONLY, "type": 1, "param": DEST},
        403,
        14,
        "Call forwarding is not enabled for this number",
        id="11-sms-only",
    ),
    pytest.param(
        {"number": A, "type": 0}, 409, 18, "Callforward already disabled", id="14-already-off"
    ),
]


@pytest.mark.parametrize(("fields", "status", "code", "message"), LATER_CHECKS)
def test_checks_answer_in_order(
    client: TestClient,
    tenant: Tenant,
    other_tenant: Tenant,
    fields: dict[str, Any],
    status: int,
    code: int,
    message: str,
) -> None:
    assert answer(post(client, apiKey=tenant.key, **fields)) == (status, code, message)


@pytest.mark.parametrize("fields", [pytest.param(p.values[0], id=p.id) for p in LATER_CHECKS])
def test_an_unknown_or_revoked_key_answers_before_every_later_check(
    client: TestClient,
    tenant: Tenant,
    other_tenant: Tenant,
    database: Database,
    fields: dict[str, Any],
) -> None:
    """On PostgreSQL the key is read with the number's state, after checks 3 to 8 are
    computed: their answers still wait for the key's."""
    assert answer(post(client, apiKey="rv_nope", **fields)) == (401, 10, "API key is invalid")
    accounts.revoke_key(database, tenant.key_id)
    assert answer(post(client, apiKey=tenant.key, **fields)) == (401, 10, "API key is invalid")


def test_other_accounts_number_answers_exactly_as_nowhere(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    """Tenant isolation: same status, body and headers but the request id."""
    mine = post(client, apiKey=tenant.key, number=OTHERS, type=1, param=DEST)
    nowhere = post(client, apiKey=tenant.key, number="+33757999999", type=1, param=DEST)
    assert (mine.status_code, mine.content) == (nowhere.status_code, nowhere.content)
    # ...even when the other number forwards back to ours (the loop check must not run).
    post(client, apiKey=other_tenant.key, number=OTHERS, type=1, param=A)
    looped = post(client, apiKey=tenant.key, number=OTHERS, type=1, param=A)
    assert (looped.status_code, looped.content) == (nowhere.status_code, nowhere.content)


def test_same_destination_is_16_in_any_spelling(client: TestClient, tenant: Tenant) -> None:
    post(client, apiKey=tenant.key, number=A, type=1, param=DEST)
    assert answer(
        post(client, apiKey=tenant.key, number="0757000001", type="1", param="06 12 34 56 78")
    ) == (
        409,
        16,
        "Callforward already enabled",
    )


def test_same_email_is_17_after_normalization(client: TestClient, tenant: Tenant) -> None:
    post(client, apiKey=tenant.key, number=A, type=2, param="ann@example.com")
    assert answer(post(client, apiKey=tenant.key, number=A, type=2, param="ann@EXAMPLE.com")) == (
        409,
        17,
        "Voicemail already enabled",
    )


def test_two_number_loop_is_refused(client: TestClient, tenant: Tenant) -> None:
    assert post(client, apiKey=tenant.key, number=A, type=1, param=B).status_code == 200
    status, code, message = answer(post(client, apiKey=tenant.key, number=B, type=1, param=A))
    assert (status, code) == (400, 12)
    # The caller's own numbers: the whole chain is named.
    assert (
        message == f"Forward number is not valid: it would make a forwarding loop ({B} → {A} → {B})"
    )


def test_three_number_loop_is_refused_across_accounts(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    assert post(client, apiKey=tenant.key, number=A, type=1, param=B).status_code == 200
    assert post(client, apiKey=tenant.key, number=B, type=1, param=OTHERS).status_code == 200
    status, code, message = answer(
        post(client, apiKey=other_tenant.key, number=OTHERS, type=1, param=A)
    )
    assert (status, code) == (400, 12)
    # Through another account's numbers: refused, naming none of them.
    assert message == "Forward number is not valid: it would make a forwarding loop"


def test_chain_without_loop_is_accepted(client: TestClient, tenant: Tenant) -> None:
    assert post(client, apiKey=tenant.key, number=A, type=1, param=B).status_code == 200
    assert post(client, apiKey=tenant.key, number=B, type=1, param=C).status_code == 200


def test_breaking_a_chain_allows_the_reverse(client: TestClient, tenant: Tenant) -> None:
    post(client, apiKey=tenant.key, number=A, type=1, param=B)
    post(client, apiKey=tenant.key, number=A, type=0)
    assert post(client, apiKey=tenant.key, number=B, type=1, param=A).status_code == 200


def test_french_messages(client: TestClient, tenant: Tenant) -> None:
    fr = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.8"}
    assert answer(post(client, fr, apiKey=tenant.key, number=A, type=0)) == (
        409,
        18,
        "Le transfert d’appel est déjà désactivé",
    )
    assert answer(post(client, fr, number=A))[2] == "La Clé API est requise"
    en_first = {"Accept-Language": "en,fr;q=0.9"}
    assert answer(post(client, en_first, apiKey=tenant.key, number=A, type=0))[2] == (
        "Callforward already disabled"
    )
    # Success bodies are the contract's, whatever the language.
    assert post(client, fr, apiKey=tenant.key, number=A, type=1, param=DEST).json()["message"] == (
        "Callforward enabled"
    )


def test_seed_page_curl_example(client: TestClient, tenant: Tenant) -> None:
    """The page's own example, pasted as it is with a real key: 13 for NUMBET, then 18."""
    body = '{\n    "apiKey": "%s",\n    "number": "NUMBET",\n    "type": 0, \n    "param": ""\n}'
    headers = {"Content-Type": "application/json"}
    response = client.post(URL, content=body % tenant.key, headers=headers)
    assert answer(response) == (404, 13, "Virtual number does not exist")
    response = client.post(URL, content=(body % tenant.key).replace("NUMBET", A), headers=headers)
    assert answer(response) == (409, 18, "Callforward already disabled")


def test_history_is_written_only_for_successes(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    from renvoi.store.numbers import history

    post(client, apiKey=tenant.key, number=A, type=1, param=DEST)
    post(client, apiKey=tenant.key, number=A, type=1, param=DEST)  # 16: no row
    post(client, apiKey=tenant.key, number=A, type=2, param="a@example.com")
    changes = history(database, A, region="FR")
    assert [(c.type, c.param, c.previous_type, c.key_id) for c in changes] == [
        (2, "a@example.com", 1, tenant.key_id),
        (1, DEST, 0, tenant.key_id),
    ]


# --- dryRun (renvoi extension) ----------------------------------------------------------


def test_dry_run_answers_what_the_change_would_get_and_changes_nothing(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    from renvoi.store.numbers import get_number, history

    response = post(client, apiKey=tenant.key, number=A, type=1, param=DEST, dryRun=True)
    assert response.json() == {
        "success": True,
        "code": 1,
        "message": "Callforward enabled",
        "dryRun": True,
    }
    assert get_number(database, A, region="FR").type == 0
    assert history(database, A, region="FR") == []
    # ... and the real change still succeeds afterwards: nothing half-done in between.
    assert answer(post(client, apiKey=tenant.key, number=A, type=1, param=DEST))[1] == 1


@pytest.mark.parametrize("flag", [True, "true", "1"])
def test_dry_run_refuses_as_the_change_would(
    client: TestClient, tenant: Tenant, flag: object
) -> None:
    """Every check runs: here the loop refusal (12), which reads other numbers."""
    assert post(client, apiKey=tenant.key, number=A, type=1, param=B).status_code == 200
    response = post(client, apiKey=tenant.key, number=B, type=1, param=A, dryRun=flag)
    assert (response.status_code, response.json()["code"]) == (400, 12)
    assert response.json()["dryRun"] is True  # a refused dry run says so too


def test_a_request_that_is_no_dry_run_carries_no_flag(client: TestClient, tenant: Tenant) -> None:
    post(client, apiKey=tenant.key, number=A, type=1, param=B)
    assert "dryRun" not in post(client, apiKey=tenant.key, number=B, type=1, param=A).json()


def test_dry_run_false_is_a_real_change(client: TestClient, tenant: Tenant) -> None:
    assert (
        answer(post(client, apiKey=tenant.key, number=A, type=1, param=DEST, dryRun=False))[1] == 1
    )
    assert answer(post(client, apiKey=tenant.key, number=A, type=1, param=DEST))[1] == 16


def test_dry_run_in_a_form(client: TestClient, tenant: Tenant) -> None:
    form = {"apiKey": tenant.key, "number": A, "type": "1", "param": DEST, "dryRun": "true"}
    assert client.post(URL, data=form).json()["dryRun"] is True


@pytest.mark.parametrize("flag", ["yes", 1, ["true"]])
def test_dry_run_must_be_a_boolean(client: TestClient, tenant: Tenant, flag: object) -> None:
    status, code, message = answer(
        post(client, apiKey=tenant.key, number=A, type=1, param=DEST, dryRun=flag)
    )
    assert (status, code, message) == (400, 4, "dryRun must be true or false")


# --- a per-account country allowlist (renvoi extension) ----------------------------------


def test_a_destination_outside_the_accounts_countries_is_12_naming_it(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    accounts.set_countries(database, tenant.account_id, ["FR"])
    status, code, message = answer(
        post(client, apiKey=tenant.key, number=A, type=1, param="+32470123456")
    )
    assert (status, code) == (400, 12)
    assert message == ("Forward number is not valid: calls to BE are not allowed for this account")
    assert answer(post(client, apiKey=tenant.key, number=A, type=1, param=DEST))[1] == 1
    # Voicemail has no destination country; lifting the limit lets Belgium through.
    assert answer(post(client, apiKey=tenant.key, number=B, type=2, param="a@example.com"))[1] == 3
    accounts.set_countries(database, tenant.account_id, None)
    assert answer(post(client, apiKey=tenant.key, number=A, type=1, param="+32470123456"))[1] == 1


def test_the_country_check_comes_after_the_keys_and_before_the_numbers(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    """Check 8's account part needs the key's account: it answers after check 2 and
    before check 9, whichever way the key and the number were read."""
    accounts.set_countries(database, tenant.account_id, ["FR"])
    belgian = {"type": 1, "param": "+32470123456"}
    for number in ("+33757999999", "NUMBET"):
        assert answer(post(client, apiKey=tenant.key, number=number, **belgian))[1] == 12
    accounts.revoke_key(database, tenant.key_id)
    assert answer(post(client, apiKey=tenant.key, number=A, **belgian))[1] == 10
