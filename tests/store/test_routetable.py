"""What Kamailio holds of each number (``store/routetable.py``): every change writes the
number's plan in its own transaction, under the next generation, whichever path it takes;
a refused change writes nothing; concurrent changes get one version each, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import select

from renvoi.domain.callforward import Command
from renvoi.domain.conditions import FallbackCommand
from renvoi.domain.modes import Condition, Mode, Setting
from renvoi.domain.routing import decode_plan, encode_plan, plan_of
from renvoi.errors import ContractError
from renvoi.store import fallbacks, forwarding, lockfree, numbers, routetable
from renvoi.store.database import Database
from renvoi.store.groupcommit import Writer
from renvoi.store.models import KamailioRoute
from tests.harness import Tenant, make_tenant

A = "+33757000001"
OUTSIDE = "+33612345678"


def row(db: Database, e164: str) -> tuple[int, str]:
    """The number's row: its version, and its plan."""
    value = routetable.row_of(db, e164)
    assert value is not None, f"no row for {e164}"
    version, _, plan = value.partition("|")
    return int(version), plan


def expected(db: Database, e164: str) -> str:
    return encode_plan(plan_of(routetable.route_state(db, e164)))


def forward(db: Database, tenant: Tenant, to: str | None) -> None:
    wanted = Setting(Mode.FORWARD, to) if to else Setting(Mode.OFF, None)
    command = Command(number=A, wanted=wanted)
    forwarding.change_forwarding(db, command, principal=tenant.principal, region="FR")


CHANGES: dict[str, Callable[[Database, Tenant], object]] = {
    "forwarding": lambda db, t: forward(db, t, OUTSIDE),
    "fallback": lambda db, t: fallbacks.change_fallback(
        db,
        FallbackCommand(number=A, condition=Condition.BUSY, wanted=Setting(Mode.FORWARD, OUTSIDE)),
        principal=t.principal,
        region="FR",
    ),
    "suspend": lambda db, _t: numbers.set_suspended(db, A, suspended=True, region="FR"),
    "route": lambda db, _t: numbers.set_sip_destination(db, A, "sip:pbx.example", region="FR"),
    "remove": lambda db, _t: numbers.remove_number(db, A, region="FR"),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_every_change_writes_the_plan_under_the_next_generation(
    database: Database, tenant: Tenant, change: Callable[[Database, Tenant], object]
) -> None:
    before = routetable.generation(database)
    change(database, tenant)
    version, plan = row(database, A)
    assert routetable.generation(database) == version == before + 1
    assert plan == expected(database, A)


def test_a_number_taken_off_keeps_a_row_that_refuses_its_calls(
    database: Database, tenant: Tenant
) -> None:
    numbers.remove_number(database, A, region="FR")
    plan = decode_plan(row(database, A)[1])
    assert (plan.action, plan.status) == ("reject", 404)


def test_a_new_number_has_its_row(database: Database, tenant: Tenant) -> None:
    numbers.add_number(database, "+33757000099", account_id=tenant.account_id, region="FR")
    assert row(database, "+33757000099")[1] == "reject|480|Temporarily Unavailable||0||||"


def test_a_refused_change_writes_nothing(database: Database, tenant: Tenant) -> None:
    numbers.set_suspended(database, A, suspended=True, region="FR")
    before = row(database, A)
    with pytest.raises(ContractError):
        forward(database, tenant, OUTSIDE)  # code 15: suspended
    assert row(database, A) == before
    assert routetable.generation(database) == before[0]


def test_concurrent_changes_take_one_version_each_in_order(database: Database) -> None:
    """Forty changes at once, on ten numbers, the API's way (PostgreSQL's lock-free
    path where it can): forty consecutive versions, each number's row its last."""
    phones = [f"+337570001{i:02d}" for i in range(10)]
    tenant = make_tenant(database, "busy", phones)
    before = routetable.generation(database)
    writer = Writer(database)

    async def main() -> None:
        await database.open_async()
        try:
            await asyncio.gather(
                *(
                    lockfree.apply_forwarding_async(
                        writer,
                        database,
                        phone,
                        Setting(Mode.FORWARD, f"+336123456{n:02d}"),
                        principal=tenant.principal,
                    )
                    for n in range(4)
                    for phone in phones
                )
            )
        finally:
            await database.close_async()

    asyncio.run(main())
    with database.read() as conn:
        versions = conn.scalars(
            select(KamailioRoute.version).where(KamailioRoute.key_name.in_(phones))
        ).all()
    assert routetable.generation(database) == before + 40
    assert len(set(versions)) == len(phones)
    assert max(versions) == before + 40
    for phone in phones:
        assert row(database, phone)[1] == expected(database, phone)
