"""The live server of the client's tests, with what its account may read: a call and a
voicemail message."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from renvoi.store import voicemail
from tests.harness import record_call

from live import AUDIO, A, B, Live, live_server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("renvoi")
    for found in live_server(workdir):
        record_call(found.database, A, "call-1", "+33140000001")
        (workdir / "voicemail").mkdir(exist_ok=True)
        (workdir / "voicemail" / "m1.wav").write_bytes(AUDIO)
        voicemail.save_message(
            found.database,
            public_id="m1",
            e164=B,
            call_id="call-2",
            caller="+33140000002",
            recipient="ann@example.com",
            received_at=datetime.now(UTC),
            duration_ms=1000,
            audio_path="m1.wav",
            size=len(AUDIO),
            message_id="<voicemail.m1@renvoi.test>",
        )
        yield found
