"""The outbox worker against a real SMTP server (aiosmtpd): sent, retried, refused, leased.

And at-least-once across a crash: ``renvoi voicemail serve`` killed with SIGKILL in the
middle of a send; its successor sends the email once the lease has expired.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hmac
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select

from renvoi.api.app import create_app
from renvoi.audio.wav import wav_of_pcm
from renvoi.config import Settings
from renvoi.notify.mailer import MemoryMailer
from renvoi.notify.worker import OutboxWorker
from renvoi.store import accounts
from renvoi.store import voicemail as store
from renvoi.store.database import Database
from renvoi.store.models import Outbox
from renvoi.voice.spool import write_durably
from tests.harness import Tenant, free_port, free_udp_port
from tests.notify.conftest import Mailbox

A = "+33757000001"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def queue_message(
    database: Database,
    data_dir: Path,
    public_id: str = "m1",
    *,
    caller: str = "+33140000001",
    recipient: str = "ann@example.com",
) -> None:
    write_durably(data_dir / "voicemail" / f"{public_id}.wav", wav_of_pcm(bytes(16000)))
    assert store.save_message(
        database,
        public_id=public_id,
        e164=A,
        call_id=f"call-{public_id}",
        caller=caller,
        recipient=recipient,
        received_at=NOW,
        duration_ms=1000,
        audio_path=f"{public_id}.wav",
        size=16044,
        message_id=f"<voicemail.{public_id}@renvoi.test>",
    )


def worker_for(database: Database, tmp_path: Path, port: int, **extra: object) -> OutboxWorker:
    settings = Settings(data_dir=tmp_path, smtp_port=port, smtp_timeout=5, **extra)  # type: ignore[arg-type]
    return OutboxWorker(settings, database, clock=lambda: NOW + timedelta(minutes=1))


def test_a_queued_email_is_sent_once_with_its_audio(
    database: Database, tenant: Tenant, tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    queue_message(database, tmp_path)
    worker = worker_for(database, tmp_path, port)
    assert asyncio.run(worker.run_once()) == 1
    assert asyncio.run(worker.run_once()) == 0
    [sent] = box.received
    assert b"Message-ID: <voicemail.m1@renvoi.test>" in sent and b"audio/wav" in sent
    assert store.pending_count(database) == 0


def header_block(wire: bytes) -> tuple[list[str], bytes]:
    """The names of a message's headers as they came on the wire, and its body."""
    head, _, body = wire.replace(b"\r\n", b"\n").partition(b"\n\n")
    names = [
        line.split(b":", 1)[0].decode() for line in head.split(b"\n") if line[:1] not in b" \t"
    ]
    return names, body


@pytest.mark.parametrize(
    "caller",
    [
        pytest.param("=?utf-8?q?=0D=0AReply-To=3A_a=40evil.example?=", id="q-reply-to"),
        pytest.param("=?utf-8?q?=0D=0A=0D=0ACall_0899123456_now?=", id="q-end-headers"),
        pytest.param("=?utf-8?b?DQpSZXBseS1UbzogYUBldmlsLmV4YW1wbGU=?=", id="b-reply-to"),
        pytest.param("=?ISO-8859-1?Q?=0A=0ABcc:_v=40evil.example?=", id="latin1-lf"),
        pytest.param("=?utf-8?q?=E2=80=A8Bcc:_v=40evil.example?=", id="q-line-separator"),
        pytest.param("+331\r\nBcc: v@evil.example", id="raw-crlf"),
        pytest.param("+331\u2028Bcc: v@evil.example\x85Subject: x", id="unicode-breaks"),
        pytest.param("%0D%0AReply-To:%20a@evil.example", id="percent-escaped"),
        pytest.param('"Ann" <sip:a@evil.example>, (comment)', id="address-syntax"),
    ],
)
def test_a_hostile_caller_cannot_shape_the_email_on_the_wire(
    database: Database, tenant: Tenant, tmp_path: Path, mailbox: tuple[Mailbox, int], caller: str
) -> None:
    """The caller comes from a SIP From anyone can write; the email library of the
    Python CI runs (3.11.7, before the fix of CVE-2024-6923) wrote a decoded encoded
    word's line breaks out raw. Checked on the bytes the SMTP server received."""
    box, port = mailbox
    queue_message(database, tmp_path, caller=caller)
    asyncio.run(worker_for(database, tmp_path, port).run_once())
    [wire] = box.received
    names, body = header_block(wire)
    assert names == [
        "From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "MIME-Version",
        "Content-Type",
    ]  # fmt: skip
    # The parser as the oracle: it decodes what a mail client would.
    subject = email.message_from_bytes(wire, policy=email.policy.default)["Subject"]
    assert "\n" not in subject and "\r" not in subject and "=?" not in subject
    assert subject.strip().startswith("Nouveau message vocal / New voicemail: +33757000001, ")
    assert body.lstrip().startswith(b"--")  # the MIME preamble, not an attacker's text


def test_a_recipient_no_header_can_hold_is_failed_not_retried(
    database: Database, tenant: Tenant, tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    """An address holding an encoded word (stored before the API refused them)."""
    box, port = mailbox
    queue_message(database, tmp_path, recipient="=?utf-8?q?a=0D=0ABcc=3A_v=40x?=@example.com")
    worker = worker_for(database, tmp_path, port)
    asyncio.run(worker.run_once())
    worker.clock = lambda: NOW + timedelta(days=1)
    assert asyncio.run(worker.run_once()) == 0
    assert store.pending_count(database) == 0 and box.received == []


def test_an_internationalized_domain_is_sent_in_its_ascii_form(
    database: Database, tenant: Tenant, tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    queue_message(database, tmp_path, recipient="ann@exämple.fr")
    asyncio.run(worker_for(database, tmp_path, port).run_once())
    assert box.recipients == [["ann@xn--exmple-cua.fr"]]
    assert b"To: ann@xn--exmple-cua.fr" in box.received[0]


def test_an_address_the_server_cannot_take_is_failed_not_retried(
    database: Database, tenant: Tenant, tmp_path: Path
) -> None:
    """A non-ASCII local part needs SMTPUTF8 (RFC 6531), which this server does not
    offer: no retry can cure that, so the email is failed (and visible), not retried
    for ever."""
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, enable_SMTPUTF8=False)
    controller.start()
    try:
        queue_message(database, tmp_path, recipient="ü@exämple.fr")
        worker = worker_for(database, tmp_path, port)
        asyncio.run(worker.run_once())
        worker.clock = lambda: NOW + timedelta(days=1)
        assert asyncio.run(worker.run_once()) == 0
    finally:
        controller.stop()
    assert store.pending_count(database) == 0 and box.received == []
    with database.read() as conn:
        [error] = conn.scalars(select(Outbox.last_error).where(Outbox.failed_at.is_not(None)))
    assert "SMTPUTF8" in error


def test_a_temporary_refusal_is_retried_later(
    database: Database, tenant: Tenant, tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    box.answer = "451 greylisted"
    queue_message(database, tmp_path)
    worker = worker_for(database, tmp_path, port)
    asyncio.run(worker.run_once())
    assert asyncio.run(worker.run_once()) == 0  # not due again before the backoff
    assert store.pending_count(database) == 1
    box.answer = "250 OK"
    worker.clock = lambda: NOW + timedelta(minutes=2)
    assert asyncio.run(worker.run_once()) == 1
    assert len(box.received) == 1


def test_a_permanent_refusal_is_not_retried(
    database: Database, tenant: Tenant, tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    box.answer = "550 no such user"
    queue_message(database, tmp_path)
    worker = worker_for(database, tmp_path, port)
    asyncio.run(worker.run_once())
    worker.clock = lambda: NOW + timedelta(days=1)
    assert asyncio.run(worker.run_once()) == 0
    assert store.pending_count(database) == 0 and box.received == []


def test_a_server_that_is_down_is_a_temporary_failure(
    database: Database, tenant: Tenant, tmp_path: Path
) -> None:
    queue_message(database, tmp_path)
    worker = worker_for(database, tmp_path, free_port())  # nothing listens there
    asyncio.run(worker.run_once())
    assert store.pending_count(database) == 1


def test_a_leased_email_is_not_claimed_twice(
    database: Database, tenant: Tenant, tmp_path: Path
) -> None:
    queue_message(database, tmp_path)
    lease = timedelta(seconds=60)
    assert len(store.claim(database, now=NOW, lease=lease)) == 1
    assert store.claim(database, now=NOW + timedelta(seconds=30), lease=lease) == []
    assert len(store.claim(database, now=NOW + timedelta(seconds=61), lease=lease)) == 1


def test_a_large_recording_is_linked_not_attached(
    database: Database, tenant: Tenant, tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    queue_message(database, tmp_path)
    worker = worker_for(database, tmp_path, port, voicemail_attach_max_bytes=1000)
    asyncio.run(worker.run_once())
    [sent] = box.received
    assert b"audio/wav" not in sent and b"/v1/vn/voicemail/m1/audio" in sent


@pytest.mark.slow
def test_the_email_survives_a_kill_9_of_the_worker_mid_send(
    database_url: str,
    database: Database,
    tenant: Tenant,
    tmp_path: Path,
    mailbox: tuple[Mailbox, int],
) -> None:
    box, port = mailbox
    box.stall_first = True
    queue_message(database, tmp_path)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RENVOI_")},
        "RENVOI_DATABASE_URL": database_url,
        "RENVOI_DATA_DIR": str(tmp_path),
        "RENVOI_SMTP_PORT": str(port),
        "RENVOI_OUTBOX_LEASE_SECONDS": "2",
        "RENVOI_VOICEMAIL_LISTEN": f"127.0.0.1:{free_udp_port()}",
    }
    command = [sys.executable, "-m", "renvoi", "voicemail", "serve"]
    first = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while box.stall_first and time.monotonic() < deadline:
        time.sleep(0.05)  # until the first worker is inside DATA
    assert not box.stall_first
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert box.received == []
    second = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not box.received and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(box.received) == 1
        assert b"<voicemail.m1@renvoi.test>" in box.received[0]
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)


def test_messages_past_their_retention_are_deleted_with_their_audio(
    database: Database, tenant: Tenant, tmp_path: Path
) -> None:
    queue_message(database, tmp_path)
    worker = worker_for(database, tmp_path, free_port(), voicemail_retention_days=90)
    worker.clock = lambda: NOW + timedelta(days=89)
    asyncio.run(worker.apply_retention(worker.clock()))
    assert len(store.list_messages(database, A)) == 1
    asyncio.run(worker.apply_retention(NOW + timedelta(days=91)))
    assert store.list_messages(database, A) == []
    assert not (tmp_path / "voicemail" / "m1.wav").exists()


class Hook(http.server.BaseHTTPRequestHandler):
    """A webhook receiver: answers the statuses queued in ``answers``, keeps the calls."""

    answers: ClassVar[list[int]] = []
    calls: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    paths: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.calls.append((dict(self.headers), body))
        Hook.paths.append(self.path)
        self.send_response(Hook.answers.pop(0) if Hook.answers else 200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


# The event of ``queue_message``'s message.
M1_EVENT = {
    "event": "voicemail.message",
    "id": "m1",
    "number": A,
    "caller": "+33140000001",
    "receivedAt": "2026-11-28T12:00:00Z",
    "durationMs": 1000,
    "audio": f"http://127.0.0.1:8000/v1/vn/voicemail/m1/audio?number={A}",
    "transcript": None,  # transcription is off
}


@pytest.fixture
def hook() -> Iterator[str]:
    with receiving(free_port()) as url:
        yield url


@contextmanager
def receiving(port: int) -> Iterator[str]:
    """A ``Hook`` receiver on ``port``, for as long as the block runs."""
    Hook.answers, Hook.calls, Hook.paths = [], [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        server.shutdown()
        server.server_close()


def test_the_webhook_is_signed_and_retried_like_the_email(
    database: Database, tenant: Tenant, tmp_path: Path, mailbox: tuple[Mailbox, int], hook: str
) -> None:
    write_durably(tmp_path / "voicemail" / "m1.wav", wav_of_pcm(bytes(16000)))
    store.save_message(
        database,
        public_id="m1",
        e164=A,
        call_id="call-m1",
        caller="+33140000001",
        recipient="ann@example.com",
        received_at=NOW,
        duration_ms=1000,
        audio_path="m1.wav",
        size=16044,
        message_id="<voicemail.m1@renvoi.test>",
        webhook=True,
    )
    Hook.answers = [503]
    worker = worker_for(
        database, tmp_path, mailbox[1], webhook_url=hook, webhook_secret="s3cret-for-the-tests"
    )
    asyncio.run(worker.run_once())
    assert store.pending_count(database) == 1  # the email went; the webhook waits
    worker.clock = lambda: NOW + timedelta(minutes=2)
    asyncio.run(worker.run_once())
    assert store.pending_count(database) == 0
    assert len(Hook.calls) == 2
    headers, body = Hook.calls[-1]
    assert json.loads(body) == M1_EVENT
    assert signed_with(b"s3cret-for-the-tests", headers, body)
    assert headers["X-Renvoi-Delivery"] == Hook.calls[0][0]["X-Renvoi-Delivery"]


def signed_with(secret: bytes, headers: dict[str, str], body: bytes) -> bool:
    signed = headers["X-Renvoi-Timestamp"].encode() + b"." + body
    expected = hmac.new(secret, signed, "sha256").hexdigest()
    return headers["X-Renvoi-Signature"] == f"sha256={expected}"


def test_an_accounts_events_reach_its_own_webhook_once_it_is_back(
    database: Database,
    tenant: Tenant,
    client: TestClient,
    tmp_path: Path,
    mailbox: tuple[Mailbox, int],
) -> None:
    """integrations.md: both events, signed with the account's own secret, through the
    outbox: the receiver down (nothing listening), then answering 503, then up: nothing
    is lost."""
    port = free_port()
    url_of_acme = f"http://127.0.0.1:{port}/acme"
    own = accounts.set_webhook(database, tenant.account_id, url_of_acme)
    assert own.webhook_secret is not None
    url = "/v1/vn/callforward"
    change = {"apiKey": tenant.key, "number": A, "type": 1, "param": "0612345678"}
    assert client.post(url, json=change).json()["code"] == 1
    fallback = {
        "apiKey": tenant.key,
        "number": A,
        "condition": "noAnswer",
        "type": 2,
        "param": "ann@example.com",
        "ringSeconds": 25,
    }
    assert client.post(url + "/conditional", json=fallback).json()["code"] == 3
    assert client.post(url, json=change).json()["code"] == 16  # refused: nothing told
    queue_message(database, tmp_path)  # no installation webhook: the account's own

    worker = worker_for(database, tmp_path, mailbox[1])
    worker.clock = lambda: datetime.now(UTC) + timedelta(minutes=1)  # the changes are now
    asyncio.run(worker.run_once())  # nothing listens: the email goes, the events wait
    assert store.pending_count(database) == 3
    with receiving(port):
        Hook.answers = [503]
        worker.clock = lambda: datetime.now(UTC) + timedelta(hours=1)
        asyncio.run(worker.run_once())
        assert store.pending_count(database) == 1  # the first event waits again
        worker.clock = lambda: datetime.now(UTC) + timedelta(days=1)
        asyncio.run(worker.run_once())
    assert store.pending_count(database) == 0

    assert Hook.paths == ["/acme"] * 4
    delivered = {headers["X-Renvoi-Delivery"]: body for headers, body in Hook.calls}
    events = sorted((json.loads(body) for body in delivered.values()), key=lambda e: e["event"])
    changed_at = [event.pop("changedAt") for event in events[:2]]
    assert all(moment.endswith("Z") for moment in changed_at)
    assert events == [
        {
            "event": "forwarding.changed",
            "number": A,
            "type": 1,
            "param": "+33612345678",
            "condition": None,
            "keyId": tenant.key_id,
        },
        {
            "event": "forwarding.changed",
            "number": A,
            "type": 2,
            "param": "ann@example.com",
            "condition": "noAnswer",
            "keyId": tenant.key_id,
            "ringSeconds": 25,
        },
        M1_EVENT,
    ]
    secret = own.webhook_secret.encode()
    assert all(signed_with(secret, headers, body) for headers, body in Hook.calls)


def test_the_installations_webhook_hears_accounts_without_their_own(
    database_url: str,
    database: Database,
    tenant: Tenant,
    other_tenant: Tenant,
    tmp_path: Path,
    mailbox: tuple[Mailbox, int],
    hook: str,
) -> None:
    accounts.set_webhook(database, other_tenant.account_id, hook.replace("/hook", "/other"))
    installation = {"webhook_url": hook, "webhook_secret": "s3cret-for-the-tests"}
    settings = Settings(database_url=database_url, **installation)  # type: ignore[arg-type]
    with TestClient(create_app(settings, db=database)) as client:
        change = {"apiKey": tenant.key, "number": A, "type": 2, "param": "ann@example.com"}
        assert client.post("/v1/vn/callforward", json=change).json()["code"] == 3
    worker = worker_for(database, tmp_path, mailbox[1], **installation)
    worker.clock = lambda: datetime.now(UTC) + timedelta(minutes=1)
    asyncio.run(worker.run_once())
    [(headers, body)] = Hook.calls
    assert Hook.paths == ["/hook"] and json.loads(body)["event"] == "forwarding.changed"
    assert signed_with(b"s3cret-for-the-tests", headers, body)


def test_delivered_events_are_forgotten_after_the_retention(
    database: Database, tenant: Tenant, tmp_path: Path, hook: str
) -> None:
    """An event has no message to be deleted with: past the retention, delivered or
    failed ones go; one still to send stays."""
    accounts.set_webhook(database, tenant.account_id, hook)
    sent_at = datetime.now(UTC)
    for payload in ('{"event":"a"}', '{"event":"b"}'):
        with database.write() as conn:
            store.queue_event(conn, tenant.account_id, payload, at=sent_at)
    worker = worker_for(database, tmp_path, free_port(), voicemail_retention_days=90)
    worker.clock = lambda: sent_at + timedelta(minutes=1)
    Hook.answers = [200, 503]  # the second waits for a retry
    asyncio.run(worker.run_once())
    assert store.pending_count(database) == 1

    def left() -> list[str | None]:
        with database.read() as conn:
            return list(conn.scalars(select(Outbox.payload).order_by(Outbox.id)))

    asyncio.run(worker.apply_retention(sent_at + timedelta(days=89)))
    assert left() == ['{"event":"a"}', '{"event":"b"}']
    asyncio.run(worker.apply_retention(sent_at + timedelta(days=91)))
    assert left() == ['{"event":"b"}']


def test_without_a_webhook_a_change_queues_nothing(
    database: Database, tenant: Tenant, client: TestClient
) -> None:
    change = {"apiKey": tenant.key, "number": A, "type": 1, "param": "0612345678"}
    assert client.post("/v1/vn/callforward", json=change).json()["code"] == 1
    assert store.pending_count(database) == 0
    accounts.set_webhook(database, tenant.account_id, "https://hooks.example/acme")
    accounts.set_webhook(database, tenant.account_id, None)  # and taken away again
    assert client.post("/v1/vn/callforward", json={**change, "type": 0}).json()["code"] == 2
    assert store.pending_count(database) == 0


def test_any_mailer_plugs_in(database: Database, tenant: Tenant, tmp_path: Path) -> None:
    """The worker composes and hands over; how an email travels is its mailer's."""
    queue_message(database, tmp_path)
    mailer = MemoryMailer()
    worker = OutboxWorker(Settings(data_dir=tmp_path), database, mailer=mailer)
    assert asyncio.run(worker.run_once()) == 1
    [sent] = mailer.sent
    assert sent["To"] == "ann@example.com" and sent["Message-ID"] == "<voicemail.m1@renvoi.test>"
    assert store.pending_count(database) == 0
