"""A live ``renvoi serve`` for the client's tests, on a scratch SQLite database, with
an account and its numbers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from renvoi.audio.wav import wav_of_pcm
from renvoi.store import numbers
from renvoi.store.database import Database
from tests.harness import Server, make_tenant, start_server

A, B, SMS_ONLY = "+33757000001", "+33757000002", "+33757000009"
AUDIO = wav_of_pcm(bytes(16000))


@dataclass
class Live:
    server: Server
    key: str
    database: Database


def live_server(workdir: Path, **env: str) -> Iterator[Live]:
    url = f"sqlite:///{workdir / 'renvoi.db'}"
    server = start_server(url, workdir, extra_env=env)
    database = Database(url)
    try:
        tenant = make_tenant(database, "acme", [A, B])
        numbers.add_number(
            database, SMS_ONLY, account_id=tenant.account_id, voice=False, region="FR"
        )
        yield Live(server, tenant.key, database)
    finally:
        database.dispose()
        server.stop()
