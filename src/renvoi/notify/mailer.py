"""Sending an email: a small Protocol, an SMTP implementation (aiosmtplib), and one that
keeps the messages in memory (for tests, or a deployment that hands them on itself).

An implementation tells what a failure means by its class: ``PermanentDeliveryError``
(never retried: the server refused for good, or cannot take the address) or
``TemporaryDeliveryError`` (tried again later).
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from renvoi.config import Settings
from renvoi.errors import PermanentDeliveryError, TemporaryDeliveryError


class Mailer(Protocol):
    """Sends one email."""

    async def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` to the recipients of its headers.

        Raises:
            PermanentDeliveryError: no retry can deliver it.
            TemporaryDeliveryError: try again later.
        """


class SmtpMailer:
    """An SMTP server's client (``RENVOI_SMTP_*``)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def send(self, message: EmailMessage) -> None:
        settings = self._settings
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_user,
                password=password,
                start_tls=settings.smtp_starttls,
                timeout=settings.smtp_timeout,
            )
        except aiosmtplib.SMTPNotSupported as exc:
            # An address the server cannot take (no SMTPUTF8 for a non-ASCII local part).
            raise PermanentDeliveryError(str(exc)) from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            permanent = all(500 <= refusal.code < 600 for refusal in exc.recipients)
            kind = PermanentDeliveryError if permanent else TemporaryDeliveryError
            raise kind(str(exc)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            kind = PermanentDeliveryError if 500 <= exc.code < 600 else TemporaryDeliveryError
            raise kind(f"{exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TemporaryDeliveryError(str(exc) or type(exc).__name__) from exc


class MemoryMailer:
    """Keeps what it is given, in ``sent``."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> None:
        self.sent.append(message)
