"""The schema's types (``store/models.py``): times in UTC, naive ones refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from renvoi.errors import StoreError
from renvoi.store import accounts
from renvoi.store.database import Database


def test_times_come_back_in_utc(database: Database) -> None:
    paris = timezone(timedelta(hours=1))
    created = accounts.create_account(database, "acme", now=datetime(2026, 5, 1, 12, tzinfo=paris))
    [record] = accounts.list_accounts(database)
    assert record.id == created.id
    assert record.created_at == datetime(2026, 5, 1, 11, tzinfo=UTC)
    assert record.created_at.tzinfo is not None


def test_naive_datetimes_are_refused(database: Database) -> None:
    """A programming error, mapped like every library error: StoreError, cause kept."""
    with pytest.raises(StoreError) as caught:
        accounts.create_account(database, "acme", now=datetime(2026, 5, 1))
    assert "naive" in str(caught.value.__cause__)
