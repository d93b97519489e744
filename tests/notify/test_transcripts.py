"""The voicemail email's transcript and MP3 attachment, through the outbox worker to a
real SMTP server (aiosmtpd): made once, bounded, and never in the way of the email."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import math
import os
import shutil
import struct
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import miniaudio
import pytest

from renvoi.audio.speech import speak
from renvoi.audio.wav import wav_of_pcm
from renvoi.config import Settings
from renvoi.domain.mailbox import MailboxSettings
from renvoi.notify.worker import OutboxWorker
from renvoi.store import mailboxes
from renvoi.store import voicemail as store
from renvoi.store.database import Database
from renvoi.voice.spool import write_durably
from tests.harness import Tenant
from tests.harness.sipp import PCAP, pcap_samples
from tests.notify.conftest import Mailbox

A = "+33757000001"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SENTENCE = "please call me back tomorrow morning about the invoice"
needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None and os.environ.get("RENVOI_TEST_REQUIRE_VOICE") != "1",
    reason="espeak-ng not installed (CI installs it and requires this test)",
)
needs_recording = pytest.mark.skipif(
    not Path(PCAP).exists() and os.environ.get("RENVOI_TEST_REQUIRE_VOICE") != "1",
    reason="SIPp's recording not installed (CI installs sip-tester and requires this test)",
)


def queue(database: Database, data_dir: Path, pcm: bytes, public_id: str = "m1") -> None:
    audio = wav_of_pcm(pcm)
    write_durably(data_dir / "voicemail" / f"{public_id}.wav", audio)
    assert store.save_message(
        database,
        public_id=public_id,
        e164=A,
        call_id=f"call-{public_id}",
        caller="+33140000001",
        recipient="ann@example.com",
        received_at=NOW,
        duration_ms=len(pcm) * 1000 // 16000,
        audio_path=f"{public_id}.wav",
        size=len(audio),
        message_id=f"<voicemail.{public_id}@renvoi.test>",
        webhook=False,
    )


def worker(database: Database, data_dir: Path, port: int, **extra: object) -> OutboxWorker:
    settings = Settings(data_dir=data_dir, smtp_port=port, smtp_timeout=5, **extra)  # type: ignore[arg-type]
    return OutboxWorker(settings, database, clock=lambda: NOW + timedelta(minutes=1))


def received(box: Mailbox) -> EmailMessage:
    [wire] = box.received
    parsed = email.message_from_bytes(wire, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def attachment(message: EmailMessage) -> tuple[str, bytes]:
    [part] = list(message.iter_attachments())
    return part.get_content_type(), part.get_payload(decode=True)  # type: ignore[return-value]


def similarity(original: bytes, decoded: list[int]) -> float:
    """The best normalized correlation of the decoded audio with the original, over the
    codec's delay (LAME and its decoder add about 1,100 samples at 8 kHz)."""
    x = struct.unpack(f"<{len(original) // 2}h", original)
    best = 0.0
    for lag in range(0, 2400, 1):
        y = decoded[lag : lag + len(x)]
        if len(y) < len(x) * 0.95:
            break
        n = len(y)
        dot = sum(a * b for a, b in zip(x[:n:4], y[::4], strict=True))
        if dot <= best * 0.5:
            continue
        energy = math.sqrt(sum(a * a for a in x[:n:4]) * sum(b * b for b in y[::4]))
        best = max(best, dot / energy if energy else 0.0)
    return best


@needs_recording
def test_an_mp3_attachment_decodes_to_the_recording(
    database: Database, tenant: Tenant, tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    pcm = pcap_samples(PCAP)  # 7.08 s of a real voice
    mailboxes.set_mailbox(database, A, MailboxSettings(audio_format="mp3"))
    queue(database, tmp_path, pcm)
    asyncio.run(worker(database, tmp_path, port).run_once())
    message = received(box)
    kind, audio = attachment(message)
    assert kind == "audio/mpeg" and audio[0] == 0xFF and audio[1] & 0xE0 == 0xE0  # frame sync
    decoded = miniaudio.decode(
        audio, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=8000
    )
    assert similarity(pcm, list(decoded.samples)) > 0.95  # measured: 0.98 at 16 kbit/s
    per_minute = len(audio) * 60 / (len(pcm) / 16000)
    assert per_minute < 130_000  # the WAV: 960,000 bytes a minute
    assert "message-20261128-120000.mp3" in str(message)


def test_a_large_mp3_is_linked_in_its_format(
    database: Database, tenant: Tenant, tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    mailboxes.set_mailbox(database, A, MailboxSettings(audio_format="mp3"))
    queue(database, tmp_path, bytes(16000 * 5))
    asyncio.run(worker(database, tmp_path, port, voicemail_attach_max_bytes=100).run_once())
    message = received(box)
    assert not list(message.iter_attachments())
    assert "/v1/vn/voicemail/m1/audio?number=+33757000001&format=mp3" in text_of(message)


def test_transcription_off_says_nothing_of_it(
    database: Database, tenant: Tenant, tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    queue(database, tmp_path, bytes(16000))
    asyncio.run(worker(database, tmp_path, port).run_once())
    assert "transcri" not in text_of(received(box)).lower()
    [listed] = store.list_messages(database, A)
    assert listed.transcript is None


@pytest.mark.parametrize(
    ("language", "engine", "french", "english"),
    [
        pytest.param(
            None,
            "tests.notify.engines:echo",
            "Pas de transcription : aucune langue n’est choisie pour les messages de ce numéro.",
            "No transcript: no language is set for this number's messages.",
            id="no-language",
        ),
        pytest.param(
            "fr",
            "pocketsphinx",
            "Pas de transcription : ce serveur n’a pas de modèle pour le français.",
            "No transcript: this server has no model for French.",
            id="no-french-model",
        ),
        pytest.param(
            "en",
            "tests.notify.engines:broken",
            "Pas de transcription : la transcription a échoué.",
            "No transcript: transcription failed.",
            id="engine-fails",
        ),
        pytest.param(
            "en",
            "tests.notify.engines:echo",
            "Transcription automatique (elle peut être inexacte) :\n"
            "heard 8000 samples at 8000 Bcc: x",
            "Automatic transcript (it may be wrong):\nheard 8000 samples at 8000 Bcc: x",
            id="plugged-engine",
        ),
    ],
)
def test_the_email_says_what_became_of_the_transcript(
    database: Database,
    tenant: Tenant,
    tmp_path: Path,
    mailbox: tuple[Mailbox, int],
    language: str | None,
    engine: str,
    french: str,
    english: str,
) -> None:
    box, port = mailbox
    mailboxes.set_mailbox(database, A, MailboxSettings(language=language))
    queue(database, tmp_path, bytes(16000))
    asyncio.run(worker(database, tmp_path, port, transcriber=engine).run_once())
    text = text_of(received(box))
    assert french in text and english in text


def test_an_unreadable_recording_is_emailed_without_a_transcript_once(
    database: Database, tenant: Tenant, tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    mailboxes.set_mailbox(database, A, MailboxSettings(language="en"))
    queue(database, tmp_path, bytes(16000))
    (tmp_path / "voicemail" / "m1.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    sender = worker(database, tmp_path, port, transcriber="tests.notify.engines:echo")
    assert asyncio.run(sender.run_once()) == 1
    assert asyncio.run(sender.run_once()) == 0
    assert "No transcript: transcription failed." in text_of(received(box))


@pytest.mark.slow
def test_a_transcription_past_its_cpu_time_is_stopped_and_the_email_goes_once(
    database: Database, tenant: Tenant, tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    mailboxes.set_mailbox(database, A, MailboxSettings(language="en"))
    queue(database, tmp_path, bytes(16000))
    sender = worker(
        database,
        tmp_path,
        port,
        transcriber="tests.notify.engines:spinner",
        transcriber_cpu_seconds=5,
    )
    assert asyncio.run(sender.run_once()) == 1
    assert asyncio.run(sender.run_once()) == 0
    assert "No transcript: transcription failed." in text_of(received(box))
    [listed] = store.list_messages(database, A)
    assert listed.transcript is not None and listed.transcript.state == "failed"


@needs_espeak
def test_pocketsphinx_transcribes_english_into_the_email_the_event_and_the_api(
    database: Database, tenant: Tenant, tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    """What the email says is what the engine makes of the recording: PocketSphinx's
    words are often wrong on telephone audio (docs/voicemail.md measures how often),
    but they are the engine's, made once, and the same everywhere they are shown."""
    box, port = mailbox
    pcm = speak(SENTENCE, language="en")
    mailboxes.set_mailbox(database, A, MailboxSettings(language="en"))
    queue(database, tmp_path, pcm)
    asyncio.run(worker(database, tmp_path, port, transcriber="pocketsphinx").run_once())
    engine = subprocess.run(
        [sys.executable, "-m", "renvoi.audio", "transcribe", "pocketsphinx", "en", "60"],
        input=pcm,
        capture_output=True,
        check=True,
    )
    heard = json.loads(engine.stdout)["text"]
    assert heard and set(heard.split()) & set(SENTENCE.split())
    assert f"Automatic transcript (it may be wrong):\n{heard}\n" in text_of(received(box))
    [listed] = store.list_messages(database, A)
    assert listed.transcript is not None
    assert (listed.transcript.state, listed.transcript.text) == ("done", heard)
