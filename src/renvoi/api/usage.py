"""When each API key was last used, written in batches rather than once per request.

The request path only notes the time in memory; a background task of the app writes the
notes every ``FLUSH_SECONDS`` (and at shutdown). A key's ``last_used_at`` is thus at
most that late, and a busy key costs one write a period instead of one per request.
"""

from __future__ import annotations

from datetime import UTC, datetime

from renvoi.store import accounts
from renvoi.store.database import Database

FLUSH_SECONDS = 30.0


class KeyUsage:
    def __init__(self) -> None:
        self._pending: dict[str, datetime] = {}

    def note(self, key_id: str) -> None:
        self._pending[key_id] = datetime.now(UTC)

    def flush(self, db: Database) -> None:
        """Write the pending notes (called from a worker thread)."""
        pending, self._pending = self._pending, {}
        accounts.touch_keys(db, pending)
