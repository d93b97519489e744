"""The demo of ``renvoi serve --demo``: an account named "demo", its numbers, a curl.

Made once and kept: a restart finds the account, its numbers as the user left them (and
their history), and the same key, which the demo keeps in ``demo-key`` in the data
directory (readable by its owner only) so that the printed curl stays the same. That file
is the one place renvoi keeps a key in clear: never use ``--demo`` for real accounts.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
from pathlib import Path

from renvoi.config import Settings
from renvoi.errors import AlreadyExistsError
from renvoi.store import accounts, numbers
from renvoi.store.database import Database

ACCOUNT = "demo"
NUMBERS = ("+33757000001", "+33757000002")
SMS_ONLY = "+33757000009"
KEY_FILE = "demo-key"


def create_demo(db: Database, settings: Settings) -> tuple[str, str]:
    """The demo account's key and first number, made on the first run only.

    Returns:
        (API key, number).
    """
    existing = [a for a in accounts.list_accounts(db) if a.name == ACCOUNT]
    if existing:
        account_id = existing[0].id
        api_key = _kept_key(db, settings.data_dir / KEY_FILE, account_id)
    else:
        created = accounts.create_account(db, ACCOUNT)
        account_id, api_key = created.id, created.api_key
        _keep(settings.data_dir / KEY_FILE, api_key)
    for number, voice in [*((n, True) for n in NUMBERS), (SMS_ONLY, False)]:
        with contextlib.suppress(AlreadyExistsError):  # kept as it is, or an operator's
            numbers.add_number(
                db, number, account_id=account_id, voice=voice, region=settings.default_region
            )
    return api_key, NUMBERS[0]


def _kept_key(db: Database, path: Path, account_id: str) -> str:
    """The key the demo kept, if it still works; else a new one, the others revoked, so
    that the demo account has one live key whatever happened to the file."""
    with contextlib.suppress(OSError):
        kept = path.read_text(encoding="utf-8").strip()
        principal = accounts.principal_of(db, accounts.hash_key(kept))
        if principal is not None and principal.account_id == account_id:
            return kept
    for key in accounts.list_keys(db, account_id):
        if key.revoked_at is None:
            accounts.revoke_key(db, key.id)
    api_key = accounts.create_key(db, account_id).api_key
    _keep(path, api_key)
    return api_key


def _keep(path: Path, api_key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(api_key + "\n")


def _reachable_host(settings: Settings) -> str:
    return "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host


def console_url(settings: Settings) -> str:
    """The console's address, as ``serve --demo`` prints it."""
    return f"http://{_reachable_host(settings)}:{settings.port}/console/"


def demo_curl(settings: Settings, api_key: str, number: str) -> str:
    """The ready-to-paste curl command that ``serve --demo`` prints."""
    host = _reachable_host(settings)
    body = json.dumps({"apiKey": api_key, "number": number, "type": 1, "param": "+33612345678"})
    return (
        f"curl -s http://{host}:{settings.port}/v1/vn/callforward "
        f"-H 'Content-Type: application/json' --data {shlex.quote(body)}"
    )
