"""PostgreSQL's unlocked change (``lockfree.apply_forwarding_unlocked``): the state read,
the checks on it, and a write only if the number is still in that state. A change
committed between the read and the write sends the request down the locked path,
which decides again on what is stored now."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import pytest

from renvoi.domain.codes import Code
from renvoi.domain.conditions import FallbackCommand
from renvoi.domain.modes import Condition, Mode, Setting
from renvoi.domain.routing import encode_plan, plan_of
from renvoi.errors import ContractError
from renvoi.store import accounts, fallbacks, forwarding, lockfree, numbers, routetable
from renvoi.store.database import Database
from renvoi.store.groupcommit import Writer
from renvoi.store.records import Principal
from renvoi.store.statecache import CHANNEL
from tests.harness import Tenant, forward

A = "+33757000001"
OUTSIDE = "+33612345678"
JOINING = "+33757000030"  # not on the platform until a test adds it
T = TypeVar("T")

# SQLite's changes always take the writer's lock (``groupcommit``).
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def in_loop(db: Database, run: Callable[[], Awaitable[T]]) -> T:
    """``run()`` in an event loop with the database's pool, as the API runs it."""

    async def main() -> T:
        await db.open_async()
        try:
            return await run()
        finally:
            await db.close_async()

    return asyncio.run(main())


def apply(db: Database, tenant: Tenant, wanted: Setting) -> forwarding.Applied:
    """``apply_forwarding_async``: unlocked where it can, else locked."""
    principal = tenant.principal
    writer = Writer(db)
    return in_loop(
        db, lambda: lockfree.apply_forwarding_async(writer, db, A, wanted, principal=principal)
    )


def between_read_and_write(
    monkeypatch: pytest.MonkeyPatch, db: Database, change: Callable[[], object]
) -> list[bool]:
    """Commit ``change`` (in a transaction of its own) right after the unlocked path's
    read of the state; the returned list says whether it ran."""
    read = db.fetch_one_async
    ran: list[bool] = []

    async def read_then_change(statement: Any, params: dict[str, Any]) -> Any:
        row = await read(statement, params)
        if not ran:
            change()
            ran.append(True)
        return row

    monkeypatch.setattr(db, "fetch_one_async", read_then_change)
    return ran


def test_a_change_is_written_with_its_history_and_announced(
    database: Database, tenant: Tenant
) -> None:
    conninfo = database.url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(conninfo, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        applied = in_loop(
            database,
            lambda: lockfree.apply_forwarding_unlocked(
                database, A, Setting(Mode.FORWARD, OUTSIDE), principal=tenant.principal
            ),
        )
        heard = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
    # Written by the unlocked path itself (None would have sent it down the locked one).
    assert applied is not None
    assert (applied.code, applied.number) == (Code.CALLFORWARD_ENABLED, A)
    assert heard == [A]
    [change] = numbers.history(database, A, region="FR")
    assert (change.previous_type, change.previous_param) == (0, None)
    assert (change.type, change.param) == (1, OUTSIDE)
    assert change.key_id == tenant.key_id


@pytest.mark.parametrize(
    ("before", "meanwhile"),
    [
        pytest.param(None, OUTSIDE, id="off-then-forward"),
        pytest.param(OUTSIDE, "+33698765432", id="forward-then-another-destination"),
    ],
)
def test_a_racing_change_is_decided_again_on_the_new_state(
    database: Database,
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
    before: str | None,
    meanwhile: str,
) -> None:
    """The voicemail change starts from the forward committed between its read and its
    write (its history says so), not from the state it read."""
    if before is not None:
        forward(database, tenant, A, before)
    ran = between_read_and_write(
        monkeypatch, database, lambda: forward(database, tenant, A, meanwhile)
    )
    applied = apply(database, tenant, Setting(Mode.VOICEMAIL, "ann@example.com"))
    assert ran and applied.code == Code.VOICEMAIL_ENABLED
    newest = numbers.history(database, A, region="FR")[0]
    assert (newest.previous_type, newest.previous_param) == (1, meanwhile)
    assert (newest.type, newest.param) == (2, "ann@example.com")


def test_a_suspension_meanwhile_refuses_the_change(
    database: Database, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = between_read_and_write(
        monkeypatch,
        database,
        lambda: numbers.set_suspended(database, A, suspended=True, region="FR"),
    )
    with pytest.raises(ContractError) as refused:
        apply(database, tenant, Setting(Mode.FORWARD, OUTSIDE))
    assert ran and refused.value.code == Code.NUMBER_DISABLED
    assert numbers.get_number(database, A, region="FR").type == 0
    assert numbers.history(database, A, region="FR") == []


@pytest.mark.parametrize(
    ("before", "meanwhile", "wanted"),
    [
        pytest.param(
            OUTSIDE,
            lambda db, _t: numbers.set_sip_destination(db, A, "sip:pbx.example", region="FR"),
            Setting(Mode.OFF, None),  # to the normal destination, set meanwhile
            id="a-normal-destination",
        ),
        pytest.param(
            None,
            lambda db, t: fallbacks.change_fallback(
                db,
                FallbackCommand(A, Condition.BUSY, Setting(Mode.VOICEMAIL, "ann@example.com")),
                principal=t.principal,
                region="FR",
            ),
            Setting(Mode.FORWARD, OUTSIDE),  # with the busy fallback, set meanwhile
            id="a-fallback",
        ),
    ],
)
def test_what_the_plan_is_made_of_changing_meanwhile_sends_the_change_to_the_locked_path(
    database: Database,
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
    before: str | None,
    meanwhile: Callable[[Database, Tenant], object],
    wanted: Setting,
) -> None:
    """The plan Kamailio gets is computed from the state read: a change of the number's
    normal destination or fallbacks between the read and the write must not leave a plan
    that ignores it (each case fails without the guard of its columns)."""
    if before is not None:
        forward(database, tenant, A, before)
    ran = between_read_and_write(monkeypatch, database, lambda: meanwhile(database, tenant))
    apply(database, tenant, wanted)
    assert ran
    held = routetable.row_of(database, A)
    assert held is not None
    state = routetable.route_state(database, A)
    assert held.split("|", 1)[1] == encode_plan(plan_of(state))


def test_a_destination_that_joins_the_platform_meanwhile_is_checked_for_a_loop(
    database: Database, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read: the destination is not on the platform, so no loop can close through it.
    Committed meanwhile: it is, and it forwards back. The change must not close A→D→A."""

    def join_and_forward_back() -> None:
        numbers.add_number(database, JOINING, account_id=tenant.account_id, region="FR")
        forward(database, tenant, JOINING, A)

    ran = between_read_and_write(monkeypatch, database, join_and_forward_back)
    with pytest.raises(ContractError) as refused:
        apply(database, tenant, Setting(Mode.FORWARD, JOINING))
    assert ran and refused.value.code == Code.FORWARD_INVALID
    assert numbers.get_number(database, A, region="FR").type == 0


def test_the_key_and_the_state_are_one_read(database: Database, tenant: Tenant) -> None:
    """``key_and_state``: who the key speaks for and the number's state, or nothing
    beyond the key's answer when it is unknown or revoked."""
    key_hash = accounts.hash_key(tenant.key)
    wanted = Setting(Mode.FORWARD, OUTSIDE)

    def read(e164: str) -> tuple[Principal | None, lockfree.StateRead]:
        return in_loop(database, lambda: lockfree.key_and_state(database, key_hash, e164, wanted))

    principal, state = read(A)
    assert principal == tenant.principal and state.row is not None
    assert tuple(state.row[1:7]) == (tenant.account_id, False, True, Mode.OFF, None, None)
    principal, state = read("+33757999999")
    assert principal == tenant.principal and state.row is None
    accounts.revoke_key(database, tenant.key_id)
    assert read(A) == (None, lockfree.StateRead(None))


def test_a_state_read_with_the_key_that_a_change_overtook_is_not_written(
    database: Database, tenant: Tenant
) -> None:
    """The caller's read goes stale as any other: the write finds the number changed,
    writes nothing, and leaves the decision to the locked path."""
    key_hash, wanted = accounts.hash_key(tenant.key), Setting(Mode.FORWARD, OUTSIDE)

    async def read_race_write() -> forwarding.Applied | None:
        principal, state = await lockfree.key_and_state(database, key_hash, A, wanted)
        assert principal is not None
        await asyncio.to_thread(forward, database, tenant, A, "+33698765432")
        return await lockfree.apply_forwarding_unlocked(
            database, A, wanted, principal=principal, read=state
        )

    assert in_loop(database, read_race_write) is None
    [change] = numbers.history(database, A, region="FR")
    assert change.param == "+33698765432"  # the racing change only
