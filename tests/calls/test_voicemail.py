"""Voicemail with real peers: SIPp through Kamailio to the endpoint, aiosmtpd for the email.

The caller plays SIPp's own recording (``g711a.pcap``, PCMA, 7.08 s) after the beep; the
WAV attached to the email must hold its 56,640 decoded samples bit for bit.
"""

from __future__ import annotations

import email
import email.policy
import io
import json
import os
import shutil
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx2
import pytest
from aiosmtpd.controller import Controller

from renvoi.audio.speech import speak
from renvoi.store import numbers
from renvoi.store import voicemail as store
from renvoi.store.database import Database
from tests.harness import Tenant, free_port, free_udp_port
from tests.harness.phone import Phone
from tests.harness.platform import Platform, start_platform
from tests.harness.sipp import (
    PCAP,
    cancelling_caller_scenario,
    pcap_samples,
    voicemail_caller_scenario,
    write_pcap,
)

pytestmark = pytest.mark.slow

A = "+33757000001"
GREETING_AND_BEEP_MS = 4000  # voice.md: at most 4 s together with the default greeting


class Inbox:
    """What the SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse = False

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        if self.refuse:
            return "451 try again later"
        content = envelope.content  # type: ignore[attr-defined]
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"

    def wait(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.messages


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def voicemail_platform(
    database_url: str, workdir: Path, smtp_port: int, **settings: str
) -> Platform:
    return start_platform(
        database_url,
        workdir,
        extra_env={
            "RENVOI_SMTP_PORT": str(smtp_port),
            "RENVOI_SMTP_FROM": "voicemail@renvoi.test",
            **{f"RENVOI_{k.upper()}": v for k, v in settings.items()},
        },
    )


@pytest.fixture
def platform(
    database_url: str, database: Database, tmp_path: Path, smtp: tuple[Inbox, int]
) -> Iterator[Platform]:
    started = voicemail_platform(database_url, tmp_path / "platform", smtp[1])
    yield started
    started.stop()


def to_voicemail(platform: Platform, tenant: Tenant) -> None:
    response = httpx2.post(
        platform.api + "/v1/vn/callforward",
        json={"apiKey": tenant.key, "number": A, "type": 2, "param": "ann@example.com"},
    )
    assert response.json()["success"] is True, response.text


def place(platform: Platform, scenario: str) -> None:
    caller = platform.sipp("caller", scenario, port=free_udp_port(), remote=True)
    assert caller.wait(timeout=60) == 0, caller.errors() + platform.kamailio_log()


def attached_wav(message: EmailMessage) -> bytes:
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "audio/wav"
    content: bytes = attachment.get_content()
    return content


def attached_pcm(message: EmailMessage) -> bytes:
    with wave.open(io.BytesIO(attached_wav(message))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        return wav.readframes(wav.getnframes())


def test_a_message_is_recorded_bit_for_bit_and_emailed(
    platform: Platform,
    tenant: Tenant,
    other_tenant: Tenant,
    smtp: tuple[Inbox, int],
    database: Database,
) -> None:
    inbox, _ = smtp
    to_voicemail(platform, tenant)
    place(platform, voicemail_caller_scenario(number=A, wait_ms=GREETING_AND_BEEP_MS, pcap=PCAP))
    [message] = inbox.wait(1)
    expected = pcap_samples(PCAP)
    assert len(expected) == 56_640 * 2
    assert expected in attached_pcm(message)
    assert message["To"] == "ann@example.com"
    assert A in message["Subject"] and "+33140000001" in message["Subject"]
    assert message["Message-ID"].startswith("<voicemail.")
    time.sleep(1)
    assert len(inbox.messages) == 1  # exactly one email
    [kept] = store.list_messages(database, A)
    assert 7_000 <= kept.duration_ms <= 9_000
    customer_reads_and_deletes_it(platform, tenant, other_tenant, attached_wav(message))


def customer_reads_and_deletes_it(
    platform: Platform, tenant: Tenant, other: Tenant, wav: bytes
) -> None:
    """The messages extension: list, download, delete; another account sees nothing."""
    api = platform.api + "/v1/vn/voicemail"
    listed = httpx2.get(api, params={"apiKey": tenant.key, "number": A}).json()
    [entry] = listed["messages"]
    assert entry["caller"] == "+33140000001"
    audio = httpx2.get(f"{api}/{entry['id']}/audio", params={"apiKey": tenant.key, "number": A})
    assert audio.headers["content-type"] == "audio/wav" and audio.content == wav
    foreign = httpx2.get(f"{api}/{entry['id']}/audio", params={"apiKey": other.key, "number": A})
    assert foreign.json()["code"] == 13
    deleted = httpx2.delete(f"{api}/{entry['id']}", params={"apiKey": tenant.key, "number": A})
    assert deleted.json()["success"] is True
    assert httpx2.get(api, params={"apiKey": tenant.key, "number": A}).json()["messages"] == []
    assert not list((platform.workdir / "voicemail").rglob("*.wav"))


def test_the_endpoint_hangs_up_at_the_maximum_length_and_keeps_the_message(
    database_url: str, database: Database, tenant: Tenant, tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    short = voicemail_platform(database_url, tmp_path / "short", port, voicemail_max_seconds="5")
    try:
        to_voicemail(short, tenant)
        place(
            short,
            voicemail_caller_scenario(
                number=A, wait_ms=GREETING_AND_BEEP_MS, pcap=PCAP, then="wait-for-bye"
            ),
        )
        [message] = inbox.wait(1)
        pcm = attached_pcm(message)
        assert len(pcm) == 5 * 8000 * 2  # cut at the maximum, and kept
        assert pcm in pcap_samples(PCAP)
    finally:
        short.stop()


def test_a_lost_ack_and_a_short_greeting_of_the_numbers_own(
    platform: Platform, tenant: Tenant, smtp: tuple[Inbox, int]
) -> None:
    """The 200 is retransmitted until its ACK arrives; and the number's own half-second
    greeting plays instead of the default 3 s one, since the caller speaks after 1.5 s
    and all of it is in the message."""
    to_voicemail(platform, tenant)
    greeting = io.BytesIO()
    with wave.open(greeting, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16000)
        writer.writeframes(bytes(16000))  # half a second of silence at 16 kHz
    uploaded = httpx2.put(
        platform.api + "/v1/vn/voicemail/greeting",
        params={"apiKey": tenant.key, "number": A},
        content=greeting.getvalue(),
    )
    assert uploaded.json()["success"] is True
    scenario = voicemail_caller_scenario(number=A, wait_ms=1500, pcap=PCAP, then="lose-ack")
    caller = platform.sipp(
        "caller", scenario, port=free_udp_port(), remote=True, extra=["-trace_msg"]
    )
    assert caller.wait(timeout=60) == 0, caller.errors()
    [trace] = platform.workdir.glob("caller*_messages.log")
    received = trace.read_text().split("UDP message received")[1:]
    oks = [m for m in received if "SIP/2.0 200 OK" in m and "CSeq: 1 INVITE" in m]
    assert len(oks) >= 2  # the 200 came again, since its ACK was lost
    [message] = smtp[0].wait(1)
    assert pcap_samples(PCAP) in attached_pcm(message)


def test_cancel_before_the_answer_is_487_and_leaves_no_message(
    database_url: str, database: Database, tenant: Tenant, tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    ringing = voicemail_platform(
        database_url, tmp_path / "ringing", smtp[1], voicemail_ring_seconds="5"
    )
    try:
        to_voicemail(ringing, tenant)
        place(ringing, cancelling_caller_scenario(number=A))
        assert store.list_messages(database, A) == []
    finally:
        ringing.stop()


def test_smtp_down_then_up_delivers_exactly_the_pending_emails(
    platform: Platform, tenant: Tenant, smtp: tuple[Inbox, int], database: Database
) -> None:
    inbox, _ = smtp
    inbox.refuse = True  # the server answers 451: a temporary failure
    to_voicemail(platform, tenant)
    for _ in range(2):
        place(
            platform, voicemail_caller_scenario(number=A, wait_ms=GREETING_AND_BEEP_MS, pcap=PCAP)
        )
    deadline = time.monotonic() + 20
    while len(store.list_messages(database, A)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert store.pending_count(database) == 2
    inbox.refuse = False
    messages = inbox.wait(2, timeout=60)  # the retry comes within the backoff (5 s)
    time.sleep(2)
    assert len(messages) == 2
    assert len({m["Message-ID"] for m in messages}) == 2
    assert store.pending_count(database) == 0


def test_a_voicemail_fallback_records_into_the_numbers_mailbox_and_emails_its_address(
    platform: Platform, tenant: Tenant, smtp: tuple[Inbox, int], database: Database
) -> None:
    """contract/conditions.md: the normal destination is busy, the busy fallback is
    voicemail to another address than any of the number's own."""
    inbox, _ = smtp
    desk = Phone(default="486 Busy Here")
    try:
        numbers.set_sip_destination(database, A, f"sip:{A}@127.0.0.1:{desk.port}", region="FR")
        response = httpx2.post(
            platform.api + "/v1/vn/callforward/conditional",
            json={
                "apiKey": tenant.key,
                "number": A,
                "condition": "busy",
                "type": 2,
                "param": "bob@example.com",
            },
        )
        assert response.json()["code"] == 3, response.text
        place(
            platform, voicemail_caller_scenario(number=A, wait_ms=GREETING_AND_BEEP_MS, pcap=PCAP)
        )
        [message] = inbox.wait(1)
        assert message["To"] == "bob@example.com"
        assert pcap_samples(PCAP) in attached_pcm(message)
        [kept] = store.list_messages(database, A)
        assert kept.caller == "+33140000001"
        assert desk.methods()[:2] == ["INVITE", "ACK"]  # rang first, and was busy
    finally:
        desk.stop()


def test_a_numbers_own_maximum_cuts_its_messages_and_its_minimum_drops_short_ones(
    platform: Platform, tenant: Tenant, smtp: tuple[Inbox, int], database: Database
) -> None:
    """The installation keeps 180 s and 1 s; the number sets 3 s, then a 10 s minimum."""
    inbox, _ = smtp
    to_voicemail(platform, tenant)
    settings = platform.api + "/v1/vn/voicemail/settings"
    key = {"apiKey": tenant.key, "number": A}
    assert httpx2.put(settings, params=key, json={"maxSeconds": 5}).json()["success"] is True
    place(
        platform,
        voicemail_caller_scenario(
            number=A, wait_ms=GREETING_AND_BEEP_MS, pcap=PCAP, then="wait-for-bye"
        ),
    )
    [message] = inbox.wait(1)
    pcm = attached_pcm(message)
    assert len(pcm) == 5 * 8000 * 2  # cut at the number's maximum
    assert pcm in pcap_samples(PCAP)
    minimum = {"maxSeconds": None, "minSeconds": 10}
    assert httpx2.put(settings, params=key, json=minimum).json()["success"] is True
    place(platform, voicemail_caller_scenario(number=A, wait_ms=GREETING_AND_BEEP_MS, pcap=PCAP))
    time.sleep(2)  # what the endpoint would take to keep and email it
    assert len(inbox.messages) == 1  # the 7 s message was dropped: under 10 s
    assert len(store.list_messages(database, A)) == 1


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None and os.environ.get("RENVOI_TEST_REQUIRE_VOICE") != "1",
    reason="espeak-ng not installed (CI installs it and requires this test)",
)
def test_an_english_message_spoken_over_g711_is_transcribed_into_the_email(
    database_url: str, database: Database, tenant: Tenant, tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    """espeak-ng's sentence as PCMA RTP from SIPp, through Kamailio, recorded, and
    transcribed by PocketSphinx in the worker: the email carries what the engine makes
    of the recording it attaches (how often that is right: bench/voicemail.py)."""
    inbox, port = smtp
    sentence = "please call me back tomorrow morning about the invoice"
    pcap = write_pcap(tmp_path / "spoken.pcap", speak(sentence, language="en"))
    english = voicemail_platform(
        database_url, tmp_path / "english", port, transcriber="pocketsphinx"
    )
    try:
        to_voicemail(english, tenant)
        settings = english.api + "/v1/vn/voicemail/settings"
        key = {"apiKey": tenant.key, "number": A}
        assert httpx2.put(settings, params=key, json={"language": "en"}).json()["success"]
        place(english, voicemail_caller_scenario(number=A, wait_ms=2500, pcap=str(pcap)))
        [message] = inbox.wait(1, timeout=60)
        engine = subprocess.run(
            [sys.executable, "-m", "renvoi.audio", "transcribe", "pocketsphinx", "en", "60"],
            input=attached_pcm(message),
            capture_output=True,
            check=True,
        )
        heard = json.loads(engine.stdout)["text"]
        assert heard
        body = message.get_body(("plain",))
        assert body is not None
        text = str(body.get_content()).replace("\r\n", "\n")
        assert f"Automatic transcript (it may be wrong):\n{heard}\n" in text
        listed = httpx2.get(english.api + "/v1/vn/voicemail", params=key).json()
        [entry] = listed["messages"]
        assert entry["transcript"] == {"state": "done", "language": "en", "text": heard}
    finally:
        english.stop()
