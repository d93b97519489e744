"""The bench's data: numbers spread over accounts, bulk-inserted, and reset between runs."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, update

from renvoi.store import accounts
from renvoi.store.database import Database
from renvoi.store.migrate import upgrade
from renvoi.store.models import Number
from renvoi.store.statecache import announce

ACCOUNTS = 100
FIRST_NUMBER = 33_750_000_000  # +33 7 50 00 00 00, French mobile numbers upwards
DESTINATIONS = ("+33612345678", "+33698765432")
EMAIL = "bench@example.com"


def number(i: int) -> str:
    return f"+{FIRST_NUMBER + i}"


def reset(url: str) -> None:
    """Every number off again, so that each change of the write scenario is a real one
    (the route caches are told, as by any change)."""
    db = Database(url)
    try:
        with db.write() as conn:
            conn.execute(update(Number).values(mode=0, param=None))
            announce(db, conn, None)
    finally:
        db.dispose()


def populate(url: str, count: int) -> list[str]:
    """``count`` numbers over ``ACCOUNTS`` accounts (number i belongs to account i % 100);
    returns the accounts' API keys. Bulk inserts: the API would take minutes for 1M."""
    db = Database(url)
    try:
        upgrade(db)
        created = [accounts.create_account(db, f"bench-{a}") for a in range(ACCOUNTS)]
        now = datetime.now(UTC)
        with db.write() as conn:
            for start in range(0, count, 50_000):
                conn.execute(
                    insert(Number),
                    [
                        {
                            "e164": number(i),
                            "account_id": created[i % ACCOUNTS].id,
                            "suspended": False,
                            "voice": True,
                            "mode": 0,
                            "param": None,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for i in range(start, min(count, start + 50_000))
                    ],
                )
        return [account.api_key for account in created]
    finally:
        db.dispose()
