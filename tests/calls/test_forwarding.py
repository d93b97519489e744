"""Real SIP calls through Kamailio and renvoi, for every row of voice.md's call table."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from renvoi.store import calls, numbers
from renvoi.store.database import Database
from renvoi.store.migrate import upgrade
from renvoi.store.records import CallRecord
from tests.harness import Tenant, free_udp_port, make_tenant
from tests.harness.platform import Platform, start_platform
from tests.harness.sipp import callee_scenario, caller_scenario

pytestmark = pytest.mark.slow

A, DEST = "+33757000001", "+33612345678"


def set_forwarding(platform: Platform, tenant: Tenant, **fields: Any) -> None:
    response = httpx2.post(
        platform.api + "/v1/vn/callforward", json={"apiKey": tenant.key, "number": A, **fields}
    )
    assert response.json()["success"] is True, response.text


def call(platform: Platform, number: str, expect: int, headers: list[str] | None = None) -> None:
    caller = platform.sipp(
        "caller",
        caller_scenario(number=number, expect=expect, headers=headers),
        port=free_udp_port(),
        remote=True,
    )
    assert caller.wait() == 0, caller.errors() + platform.kamailio_log()


def finished_calls(database: Database, number: str, count: int) -> list[CallRecord]:
    """The number's call records once ``count`` have their final status and, if answered,
    their end: the records are written behind the calls (``store/calllog.py``)."""
    deadline = time.monotonic() + 10
    while True:
        records = calls.list_calls(database, number)
        done = [r for r in records if r.status and (r.status >= 300 or r.ended_at)]
        if len(done) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.02)


def answered_at(platform: Platform, port: int, checks: list[str], calls: int = 1) -> Any:
    return platform.sipp("callee", callee_scenario(checks=checks), port=port, calls=calls)


def test_forwarded_call_reaches_the_trunk_with_diversion(
    platform: Platform, tenant: Tenant, database: Database
) -> None:
    set_forwarding(platform, tenant, type=1, param="06 12 34 56 78")
    carrier = answered_at(
        platform,
        platform.trunk_port,
        [
            rf"^INVITE sip:\+33612345678@127\.0\.0\.1:{platform.trunk_port} SIP/2\.0",
            rf"Diversion: <sip:\+33757000001@127\.0\.0\.1:{platform.sip_port}>"
            r";reason=unconditional",
            r'From: "Alice" <sip:\+33140000001@',
        ],
        calls=2,
    )
    for number in (A, A.lstrip("+")):  # with or without '+' (voice.md)
        call(platform, number, 200)
    assert carrier.wait() == 0, carrier.errors()
    records = finished_calls(database, A, 2)
    assert [r.action for r in records] == ["forward", "forward"]
    assert all(r.status == 200 and r.duration is not None for r in records)


def test_voicemail_call_is_answered_by_the_voicemail_endpoint(
    platform: Platform, tenant: Tenant
) -> None:
    """Relayed to renvoi's own endpoint, which answers (tests/calls/test_voicemail.py)."""
    set_forwarding(platform, tenant, type=2, param="ann@example.com")
    call(platform, A, 200)


def test_mode_0_goes_to_the_normal_destination_without_diversion(
    platform: Platform, tenant: Tenant, database: Database
) -> None:
    pbx_port = free_udp_port()
    numbers.set_sip_destination(database, A, f"sip:+33757000001@127.0.0.1:{pbx_port}", region="FR")
    pbx = answered_at(
        platform,
        pbx_port,
        [
            rf"^INVITE sip:\+33757000001@127\.0\.0\.1:{pbx_port} SIP/2\.0",
            r"^([^D]|D[^i]|Di[^v])*\r\n\r\n",  # no Diversion header before the body
        ],
    )
    call(platform, A, 200)
    assert pbx.wait() == 0, pbx.errors()


@pytest.mark.parametrize(
    ("number", "status"),
    [
        pytest.param(A, 480, id="mode-0-without-destination"),
        pytest.param("+33757000010", 403, id="suspended"),
        pytest.param("+33757999999", 404, id="not-on-the-platform"),
        pytest.param("+33757000009", 404, id="sms-only"),
    ],
)
def test_refused_calls(platform: Platform, tenant: Tenant, number: str, status: int) -> None:
    call(platform, number, status)


def test_too_many_diversions_is_482(platform: Platform, tenant: Tenant) -> None:
    set_forwarding(platform, tenant, type=1, param=DEST)
    diversions = [
        f"Diversion: <sip:+3375700000{i}@elsewhere>;reason=unconditional" for i in range(5)
    ]
    call(platform, A, 482, headers=diversions)


def test_max_forwards_0_is_483(platform: Platform, tenant: Tenant) -> None:
    set_forwarding(platform, tenant, type=1, param=DEST)
    call(platform, A, 483, headers=["Max-Forwards: 0"])


def test_change_applies_to_the_next_call(platform: Platform, tenant: Tenant) -> None:
    """Route cache on: the second call follows the mode acknowledged in between."""
    set_forwarding(platform, tenant, type=1, param=DEST)
    carrier = answered_at(platform, platform.trunk_port, [r"^INVITE sip:\+33612345678@"])
    call(platform, A, 200)
    assert carrier.wait() == 0
    set_forwarding(platform, tenant, type=0)
    call(platform, A, 480)
    set_forwarding(platform, tenant, type=2, param="ann@example.com")
    call(platform, A, 200)  # answered by the voicemail endpoint


def test_customers_read_their_call_records(
    platform: Platform, tenant: Tenant, database: Database
) -> None:
    call(platform, A, 480)
    finished_calls(database, A, 1)
    body = httpx2.get(
        platform.api + "/v1/vn/calls", params={"apiKey": tenant.key, "number": A}
    ).json()
    assert body["success"] is True
    [record] = body["calls"]
    assert (record["action"], record["status"], record["caller"]) == ("reject", 480, "+33140000001")
    assert re.fullmatch(r".+Z", record["startedAt"])


def test_loop_between_two_platforms_is_refused(
    database_url: str, database: Database, tenant: Tenant, tmp_path: Path
) -> None:
    """A on this platform forwards to B on another, which forwards back to A: each pass
    adds a Diversion, and the fifth ends the call with 482 instead of ringing forever."""
    here_port, there_port = free_udp_port(), free_udp_port()
    there_url = f"sqlite:///{tmp_path / 'there.db'}"
    there_db = Database(there_url)
    upgrade(there_db)
    remote = make_tenant(there_db, "elsewhere", ["+33757000002"])
    here = start_platform(
        database_url, tmp_path / "here", sip_port=here_port, trunk_port=there_port
    )
    there = start_platform(there_url, tmp_path / "there", sip_port=there_port, trunk_port=here_port)
    try:
        set_forwarding(here, tenant, type=1, param="+33757000002")
        response = httpx2.post(
            there.api + "/v1/vn/callforward",
            json={"apiKey": remote.key, "number": "+33757000002", "type": 1, "param": A},
        )
        assert response.json()["code"] == 1
        call(here, A, 482)
        statuses = {r.status for r in finished_calls(database, A, 1)}
        assert statuses == {482}
    finally:
        here.stop()
        there.stop()
        there_db.dispose()
