"""A message recorded but not committed when the process died is committed at start."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from renvoi.audio.wav import wav_of_pcm
from renvoi.config import Settings
from renvoi.store import voicemail as store
from renvoi.store.database import Database
from renvoi.voice.endpoint import VoicemailEndpoint
from renvoi.voice.spool import write_durably
from tests.harness import Tenant

A = "+33757000001"


def leave_sidecar(spool: Path, public_id: str) -> Path:
    """What ``Spool.keep`` leaves on disk before its transaction."""
    wav = spool / "2026" / "11" / f"{public_id}.wav"
    write_durably(wav, wav_of_pcm(bytes(32000)))
    meta = {
        "public_id": public_id,
        "e164": A,
        "call_id": f"call-{public_id}",
        "caller": "+33140000001",
        "recipient": "ann@example.com",
        "received_at": "2026-11-28T12:00:00+00:00",
        "duration_ms": 2000,
        "audio_path": f"2026/11/{public_id}.wav",
        "message_id": f"<voicemail.{public_id}@renvoi.test>",
        "size": wav.stat().st_size,
    }
    sidecar = wav.with_suffix(".json")
    write_durably(sidecar, json.dumps(meta).encode())
    return sidecar


def test_sidecars_left_by_a_crash_are_committed_once(
    database: Database, tenant: Tenant, tmp_path: Path
) -> None:
    spool = tmp_path / "voicemail"
    pending = leave_sidecar(spool, "a" * 32)
    committed = leave_sidecar(spool, "b" * 32)
    endpoint = VoicemailEndpoint(Settings(data_dir=tmp_path), database)
    meta = committed.read_bytes()
    asyncio.run(endpoint.spool.commit(committed, json.loads(meta)))
    committed.write_bytes(meta)  # as if the process died between commit and unlink
    asyncio.run(endpoint.spool.recover())
    assert sorted(m.id for m in store.list_messages(database, A)) == ["a" * 32, "b" * 32]
    assert store.pending_count(database) == 2  # one email each, not three
    assert not pending.exists() and not committed.exists()
