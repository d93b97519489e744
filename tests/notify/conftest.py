"""The notify tests' SMTP server: a real one (aiosmtpd), told how to behave."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller

from tests.harness import free_port


@dataclass
class Mailbox:
    """An SMTP server's behaviour: accept, refuse (status), or stall in DATA."""

    received: list[bytes] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    answer: str = "250 OK"
    stall_first: bool = False

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        if self.stall_first:
            self.stall_first = False
            await asyncio.sleep(3600)  # the client is killed meanwhile
        if self.answer.startswith("250"):
            self.received.append(envelope.content)  # type: ignore[attr-defined]
            self.recipients.append(envelope.rcpt_tos)  # type: ignore[attr-defined]
        return self.answer


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()
