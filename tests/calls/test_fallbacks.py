"""Fallbacks on real calls (contract/conditions.md, "What a call does"): a SIPp caller
through Kamailio and renvoi, destinations that are busy, ring, fail or stay silent.

The trunk and the normal destination are ``tests/harness/phone.py``'s phones, which
record every request with the kernel's arrival time. Times are checked as lower bounds
only (a loaded machine may be late, never early), less Kamailio's timer tick (1/16 s:
a timer may fire up to one tick before its time).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from renvoi.store import numbers
from renvoi.store.database import Database
from renvoi.voice.sansio import sip
from tests.calls.test_forwarding import finished_calls
from tests.harness import Tenant, free_udp_port
from tests.harness.phone import Phone, Received
from tests.harness.platform import Platform, start_platform
from tests.harness.sipp import caller_scenario, cancelling_caller_scenario

pytestmark = pytest.mark.slow

A, D, F = "+33757000001", "+33612345678", "+33612000002"
EARLIER = "<sip:+33140000099@elsewhere.example>;reason=unconditional"
TICK = 0.1  # Kamailio's timer tick, 1/16 s, and some


@pytest.fixture
def trunk() -> Iterator[Phone]:
    """The carrier: every forwarded call, primary or fallback, goes out to it."""
    phone = Phone()
    yield phone
    phone.stop()


@pytest.fixture
def desk() -> Iterator[Phone]:
    """The number's normal destination (mode 0)."""
    phone = Phone()
    yield phone
    phone.stop()


@pytest.fixture
def platform(
    database_url: str, database: Database, tmp_path: Path, trunk: Phone
) -> Iterator[Platform]:
    started = start_platform(database_url, tmp_path / "platform", trunk_port=trunk.port)
    yield started
    started.stop()


def change(platform: Platform, tenant: Tenant, path: str = "/conditional", **fields: Any) -> None:
    response = httpx2.post(
        f"{platform.api}/v1/vn/callforward{path}",
        json={"apiKey": tenant.key, "number": A, **fields},
    )
    assert response.json()["success"] is True, response.text


def route_to(database: Database, desk: Phone) -> None:
    numbers.set_sip_destination(database, A, f"sip:{A}@127.0.0.1:{desk.port}", region="FR")


def call(
    platform: Platform, expect: int, *, headers: list[str] | None = None, scenario: str = ""
) -> None:
    caller = platform.sipp(
        "caller",
        scenario or caller_scenario(number=A, expect=expect, headers=headers),
        port=free_udp_port(),
        remote=True,
    )
    assert caller.wait(timeout=60) == 0, caller.errors() + platform.kamailio_log()


def diversions(request: Received) -> list[str]:
    return sip.parse(request.text.encode()).all("diversion")


def users(requests: list[Received]) -> list[str]:
    return [sip.user_of(request.uri) for request in requests]


def ours(platform: Platform, reason: str) -> str:
    return f"<sip:{A}@127.0.0.1:{platform.sip_port}>;reason={reason}"


def test_busy_goes_to_the_fallback_with_user_busy_first(
    platform: Platform, tenant: Tenant, database: Database, trunk: Phone
) -> None:
    trunk.behaviours = {D: "486 Busy Here"}
    change(platform, tenant, path="", type=1, param=D)
    change(platform, tenant, condition="busy", type=1, param=F)
    call(platform, 200, headers=[f"Diversion: {EARLIER}"])
    primary, fallback = trunk.invites()
    assert users([primary, fallback]) == [D, F]
    assert diversions(primary) == [ours(platform, "unconditional"), EARLIER]
    # Renvoi's own entry first, the call's earlier ones kept after it; the primary's
    # unconditional entry is not the fallback's.
    assert diversions(fallback) == [ours(platform, "user-busy"), EARLIER]
    assert 'From: "Alice" <sip:+33140000001@' in fallback.text
    [record] = finished_calls(database, A, 1)
    assert (record.action, record.status, record.diverted) == ("forward", 200, "busy")
    assert record.diverted_to == f"sip:{F}@127.0.0.1:{trunk.port}"


def test_no_answer_cancels_the_ringing_destination_after_the_ring_time(
    platform: Platform, tenant: Tenant, database: Database, trunk: Phone, desk: Phone
) -> None:
    desk.default = "ring"
    route_to(database, desk)
    change(platform, tenant, condition="noAnswer", type=1, param=F, ringSeconds=5)
    call(platform, 200)
    [rung] = desk.invites()
    [cancel] = desk.wait_for("CANCEL")
    [fallback] = trunk.invites()
    assert users([fallback]) == [F]
    assert diversions(fallback) == [ours(platform, "no-answer")]
    # Neither before the ring time (the CANCEL and the fallback's INVITE leave at once,
    # in either order).
    assert min(cancel.at, fallback.at) - rung.at >= 5 - TICK
    [record] = finished_calls(database, A, 1)
    assert (record.action, record.status, record.diverted) == ("normal", 200, "noAnswer")


def test_a_destination_that_never_answers_is_unavailable(
    platform: Platform, tenant: Tenant, database: Database, trunk: Phone, desk: Phone
) -> None:
    desk.default = "silent"
    route_to(database, desk)
    change(platform, tenant, condition="noAnswer", type=1, param="+33612000009", ringSeconds=5)
    change(platform, tenant, condition="unavailable", type=1, param=F)
    call(platform, 200)
    [tried] = desk.invites()
    [fallback] = trunk.invites()
    assert users([fallback]) == [F]
    assert diversions(fallback) == [ours(platform, "unavailable")]
    assert fallback.at - tried.at >= 8 - TICK  # no answer at all within 8 s
    assert "CANCEL" not in desk.methods()  # nothing to cancel: it never answered
    [record] = finished_calls(database, A, 1)
    assert (record.status, record.diverted) == (200, "unavailable")


@pytest.mark.parametrize("status", ["503 Service Unavailable", "480 Temporarily Unavailable"])
def test_a_destination_that_fails_is_unavailable(
    platform: Platform, tenant: Tenant, database: Database, trunk: Phone, status: str
) -> None:
    trunk.behaviours = {D: status}
    change(platform, tenant, path="", type=1, param=D)
    change(platform, tenant, condition="unavailable", type=1, param=F)
    change(platform, tenant, condition="busy", type=1, param="+33612000009")
    call(platform, 200)
    assert users(trunk.invites()) == [D, F]
    assert diversions(trunk.invites()[1]) == [ours(platform, "unavailable")]


def test_without_a_fallback_for_its_condition_the_caller_gets_the_answer(
    platform: Platform, tenant: Tenant, database: Database, trunk: Phone, desk: Phone
) -> None:
    desk.default = "486 Busy Here"
    route_to(database, desk)
    change(platform, tenant, condition="noAnswer", type=1, param=F)
    call(platform, 486)
    assert trunk.received == []
    [record] = finished_calls(database, A, 1)
    assert (record.status, record.diverted) == (486, None)


def test_one_level_the_fallbacks_own_failure_goes_to_the_caller(
    platform: Platform, tenant: Tenant, trunk: Phone
) -> None:
    trunk.behaviours = {D: "486 Busy Here", F: "486 Busy Here"}
    change(platform, tenant, path="", type=1, param=D)
    change(platform, tenant, condition="busy", type=1, param=F)
    change(platform, tenant, condition="unavailable", type=1, param="+33612000009")
    call(platform, 486)
    assert users(trunk.invites()) == [D, F]


def test_a_caller_who_hangs_up_while_it_rings_ends_the_call(
    platform: Platform, tenant: Tenant, database: Database, trunk: Phone, desk: Phone
) -> None:
    desk.default = "ring"
    route_to(database, desk)
    change(platform, tenant, condition="noAnswer", type=1, param=F, ringSeconds=5)
    change(platform, tenant, condition="unavailable", type=1, param=F)
    call(platform, 487, scenario=cancelling_caller_scenario(number=A))
    assert desk.wait_for("CANCEL")
    [record] = finished_calls(database, A, 1)
    assert (record.status, record.diverted) == (487, None)
    time.sleep(6)  # past the ring time: still nothing tried
    assert trunk.received == []


def test_mode_0_without_a_destination_takes_the_unavailable_fallback_at_once(
    platform: Platform, tenant: Tenant, database: Database, trunk: Phone
) -> None:
    change(platform, tenant, condition="unavailable", type=1, param=F)
    change(platform, tenant, condition="busy", type=1, param="+33612000009")
    call(platform, 200)
    [fallback] = trunk.invites()
    assert users([fallback]) == [F]
    assert diversions(fallback) == [ours(platform, "unavailable")]
    [record] = finished_calls(database, A, 1)
    assert (record.action, record.status, record.diverted) == ("forward", 200, "unavailable")
