"""Calls routed from Kamailio's memory: every acknowledged change applies to the very
next call, on any node; calls go on while renvoi is down; a push that never arrived is
caught up; a restarted Kamailio is right from its first call (docs/guarantees.md)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from renvoi.domain.routing import MAX_DIVERSIONS, count_diversions
from renvoi.store import calls
from renvoi.store.database import Database
from tests.harness import (
    ADMIN_TOKEN,
    Tenant,
    add_numbers,
    free_port,
    free_udp_port,
    start_server,
)
from tests.harness.caller import Caller
from tests.harness.phone import Phone
from tests.harness.platform import Platform, start_kamailio, start_platform, stop_kamailio

pytestmark = pytest.mark.slow

A, B = "+33757000001", "+33757000002"
D1, D2 = "+33612345678", "+33698765432"
# What each state makes of a call: the status the caller gets, and the number the trunk
# was asked for (the trunk refuses every call with 603: nothing stays up).
STATES = [
    ({"type": 1, "param": D1}, 603, D1),
    ({"type": 1, "param": D2}, 603, D2),
    ({"type": 0}, 480, None),
]
SWITCHES = 200
ENTRY = "<sip:+33757000009@elsewhere.example>;reason=unconditional"


@pytest.fixture
def trunk(platform: Platform) -> Iterator[Phone]:
    phone = Phone(default="603 Decline", port=platform.trunk_port)
    yield phone
    phone.stop()


def change(api: str, tenant: Tenant, number: str, fields: dict[str, object]) -> None:
    body = {"apiKey": tenant.key, "number": number, **fields}
    answer = httpx2.post(api + "/v1/vn/callforward", json=body, timeout=10)
    assert answer.json()["success"] is True, answer.text


def outcome(caller: Caller, trunk: Phone, number: str) -> tuple[int, str | None]:
    """A call's final status, and the number the trunk was asked for (None: none)."""
    before = len(trunk.invites())
    status = caller.dial(number)
    invites = trunk.invites()
    asked = invites[-1].uri.split(":", 1)[1].split("@")[0] if len(invites) > before else None
    return status, asked


def test_every_acknowledged_change_applies_to_the_very_next_call(
    platform: Platform, tenant: Tenant, trunk: Phone
) -> None:
    caller = Caller(platform.sip_port)
    stale = []
    for i in range(SWITCHES):
        fields, status, asked = STATES[i % len(STATES)]
        change(platform.api, tenant, A, fields)
        got = outcome(caller, trunk, A)
        if got != (status, asked):
            stale.append((i, fields, got))
    caller.close()
    assert stale == []


# Diversion headers and what each call gets: the loop guard's count, the one per-call
# rule Kamailio applies itself (482 at five entries).
DIVERSIONS = {
    "four entries": (",".join([ENTRY] * 4), 603),
    "five entries": (",".join([ENTRY] * 5), 482),
    "an empty entry does not count": (",".join([ENTRY] * 4 + [""]), 603),
    "quoted commas": (",".join(['"a,b,c" <sip:x,y@z>;reason=unconditional'] * 2), 603),
    "past 4,096 characters": (ENTRY + ";x=" + "a" * 4100 + ",,,,", 482),
}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no database in it
def test_kamailio_counts_diversions_as_renvoi_does(
    platform: Platform, tenant: Tenant, trunk: Phone
) -> None:
    change(platform.api, tenant, A, {"type": 1, "param": D1})
    caller = Caller(platform.sip_port)
    for case, (diversion, status) in DIVERSIONS.items():
        assert (count_diversions(diversion) >= MAX_DIVERSIONS) is (status == 482), case
        assert caller.dial(A, extra=[("Diversion", diversion)]) == status, case
    caller.close()


def test_calls_are_routed_while_renvoi_is_down_and_recorded_after(
    platform: Platform, tenant: Tenant, trunk: Phone, database: Database
) -> None:
    change(platform.api, tenant, A, {"type": 1, "param": D1})
    platform.server.stop(signal.SIGKILL)
    caller = Caller(platform.sip_port)
    during = [outcome(caller, trunk, A) for _ in range(20)]
    assert during == [(603, D1)] * 20
    platform.server = start_server(
        platform.server.env["RENVOI_DATABASE_URL"],
        platform.workdir,
        port=int(platform.server.url.rsplit(":", 1)[1]),
        extra_env=platform.server.env,
    )
    # The reports Kamailio kept while renvoi was down reach the call records.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        records = [r for r in calls.list_calls(database, A) if r.status == 603]
        if len(records) == 20:
            break
        time.sleep(0.1)
    assert [(r.action, r.status) for r in records] == [("forward", 603)] * 20
    caller.close()


@pytest.mark.parametrize("dead_pushes", [True], ids=["pushes-dropped"])
def test_a_kamailio_that_missed_a_push_catches_up_and_knows_it(
    database_url: str, database: Database, tenant: Tenant, tmp_path: Path, dead_pushes: bool
) -> None:
    """Every push goes to a port where nothing listens: the API still answers, and
    Kamailio finds the change in the database at its next catch-up."""
    nowhere = f"http://127.0.0.1:{free_port()}"
    platform = start_platform(
        database_url, tmp_path / "platform", extra_env={"RENVOI_KAMAILIO_RPC": nowhere}
    )
    trunk = Phone(default="603 Decline", port=platform.trunk_port)
    caller = Caller(platform.sip_port)
    try:
        platform.synced()
        behind = _behind(platform)
        for fields, status, asked in STATES:
            change(platform.api, tenant, A, fields)
            deadline = time.monotonic() + 10
            while (got := outcome(caller, trunk, A)) != (status, asked):
                assert time.monotonic() < deadline, (fields, got)
                time.sleep(0.02)
        assert _behind(platform) >= behind + len(STATES)
        failed = httpx2.get(platform.api + "/metrics").text
        assert f'renvoi_kamailio_pushes_total{{node="{nowhere}",result="failed"}}' in failed
    finally:
        caller.close()
        trunk.stop()
        platform.stop()


def _behind(platform: Platform) -> float:
    """How many times Kamailio found itself behind the database (its own counter)."""
    text = httpx2.get(f"http://{platform.env['RENVOI_KAMAILIO_METRICS_LISTEN']}/metrics").text
    for line in text.splitlines():
        if line.startswith("kamailio_routes_behind"):
            return float(line.split()[1])
    return 0.0


def test_a_restarted_kamailio_routes_right_from_its_first_call(
    platform: Platform, tenant: Tenant, trunk: Phone
) -> None:
    """Changes keep coming while Kamailio is down (their pushes fail): the first call
    after its start follows the last of them, and so does the first once its plans are
    loaded."""
    stop = threading.Event()
    changes = 0

    def keep_changing() -> None:
        nonlocal changes
        while not stop.is_set():
            change(platform.api, tenant, B, STATES[changes % 2][0])
            changes += 1

    busy = threading.Thread(target=keep_changing)
    busy.start()
    try:
        change(platform.api, tenant, A, {"type": 1, "param": D1})
        stop_kamailio(platform.kamailio)
        change(platform.api, tenant, A, {"type": 1, "param": D2})
        # Called at once: before its plans are loaded, it asks the route endpoint.
        platform.kamailio = start_kamailio(
            {**platform.server.env, **platform.env},
            platform.workdir,
            platform.sip_port,
            loaded=False,
        )
        caller = Caller(platform.sip_port)
        assert outcome(caller, trunk, A) == (603, D2)
        platform.synced()
        assert outcome(caller, trunk, A) == (603, D2)
        caller.close()
    finally:
        stop.set()
        busy.join()
    assert changes > 0


def test_two_api_nodes_and_two_kamailios_agree_after_every_change(
    database_url: str, database: Database, tenant: Tenant, tmp_path: Path
) -> None:
    """Each change through one API node or the other, each call through one Kamailio or
    the other: every call follows the change acknowledged just before it."""
    second_sip, second_metrics = free_udp_port(), f"127.0.0.1:{free_port()}"
    first_metrics = f"127.0.0.1:{free_port()}"
    nodes = f"http://{first_metrics},http://{second_metrics}"
    platform = start_platform(
        database_url,
        tmp_path / "one",
        extra_env={"RENVOI_KAMAILIO_METRICS_LISTEN": first_metrics, "RENVOI_KAMAILIO_RPC": nodes},
    )
    second_env = {
        **platform.server.env,
        **platform.env,
        "RENVOI_SIP_LISTEN": f"udp:127.0.0.1:{second_sip}",
        "RENVOI_KAMAILIO_METRICS_LISTEN": second_metrics,
        "RENVOI_KAMAILIO_RUNDIR": str(tmp_path / "two" / "kamailio"),
    }
    (tmp_path / "two").mkdir()
    second_kamailio = start_kamailio(second_env, tmp_path / "two", second_sip)
    own = ("RENVOI_INTERNAL_LISTEN", "RENVOI_VOICEMAIL_LISTEN")  # each node its own
    shared = {k: v for k, v in platform.env.items() if k not in own}
    second_api = start_server(
        database_url, tmp_path / "two", extra_env={**shared, "RENVOI_KAMAILIO_RPC": nodes}
    )
    trunk = Phone(default="603 Decline", port=platform.trunk_port)
    callers = [Caller(platform.sip_port), Caller(second_sip)]
    apis = [platform.api, second_api.url]
    stale = []
    try:
        for i in range(SWITCHES):
            fields, status, asked = STATES[i % len(STATES)]
            change(apis[i % 2], tenant, A, fields)
            got = outcome(callers[(i // 2) % 2], trunk, A)
            if got != (status, asked):
                stale.append((i, fields, got))
    finally:
        for caller in callers:
            caller.close()
        trunk.stop()
        second_api.stop()
        stop_kamailio(second_kamailio)
        platform.stop()
    assert stale == []


def test_an_operators_change_applies_to_the_next_call_too(
    database_url: str, database: Database, tenant: Tenant, tmp_path: Path
) -> None:
    """The admin API pushes before it answers, and so does the command line before it
    returns: suspend by one, resume by the other, a call right after each."""
    platform = start_platform(
        database_url, tmp_path / "platform", extra_env={"RENVOI_ADMIN_TOKEN": ADMIN_TOKEN}
    )
    trunk = Phone(default="603 Decline", port=platform.trunk_port)
    caller = Caller(platform.sip_port)
    try:
        change(platform.api, tenant, A, {"type": 1, "param": D1})
        for _ in range(5):
            admin = httpx2.post(
                f"{platform.api}/admin/v1/numbers/{A}/suspend",
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            )
            assert admin.status_code == 200, admin.text
            assert outcome(caller, trunk, A) == (403, None)
            resumed = subprocess.run(
                [sys.executable, "-m", "renvoi", "number", "resume", A],
                env={**platform.server.env, **platform.env},
                capture_output=True,
                check=False,
            )
            assert resumed.returncode == 0, resumed.stderr
            assert outcome(caller, trunk, A) == (603, D1)
    finally:
        caller.close()
        trunk.stop()
        platform.stop()


def test_a_catch_up_longer_than_a_round_takes_every_row(
    database_url: str, database: Database, tenant: Tenant, tmp_path: Path
) -> None:
    """25,000 rows under one generation (``renvoi kamailio sync`` writes them so), with
    no push: Kamailio takes them 10,000 a round, in order, and misses none."""
    platform = start_platform(
        database_url, tmp_path / "platform", extra_env={"RENVOI_KAMAILIO_RPC": "none"}
    )
    trunk = Phone(default="603 Decline", port=platform.trunk_port)
    caller = Caller(platform.sip_port)
    try:
        platform.synced()
        first, count = 33_700_000_000, 25_000
        latest = add_numbers(database, tenant.account_id, first, count, D2)
        deadline = time.monotonic() + 30
        while platform.generation() < latest:
            assert time.monotonic() < deadline, platform.kamailio_log()
            time.sleep(0.05)
        for n in (0, 1, 9_999, 10_000, 12_345, 19_999, 20_000, count - 1):
            assert outcome(caller, trunk, f"+{first + n}") == (603, D2), n
    finally:
        caller.close()
        trunk.stop()
        platform.stop()
