"""What the store hands back: plain frozen records, free of SQLAlchemy.

The CLI and the admin API print these as they are (``operator.md`` fixes their fields);
``as_json`` gives their JSON form, times in ISO 8601 UTC.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from renvoi.domain.mailbox import MailboxSettings
from renvoi.domain.voicemail import Transcribed


def as_json(record: Any) -> Any:
    """The JSON-ready form of a record, a list of records, or a plain value."""
    if isinstance(record, list):
        return [as_json(item) for item in record]
    if hasattr(record, "__dataclass_fields__"):
        return {name: as_json(value) for name, value in asdict(record).items()}
    if isinstance(record, dict):
        return {name: as_json(value) for name, value in record.items()}
    if isinstance(record, datetime):
        return record.isoformat().replace("+00:00", "Z")
    return record


@dataclass(frozen=True)
class AccountRecord:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class AccountCountries:
    id: str
    countries: list[str] | None  # sorted ISO codes; None: every country


@dataclass(frozen=True)
class AccountAudio:
    id: str
    audio_format: str | None  # the emailed recording's format; None: the installation's


@dataclass(frozen=True)
class NewAccount:
    id: str
    name: str
    api_key: str


@dataclass(frozen=True)
class NewKey:
    id: str
    account_id: str
    api_key: str


@dataclass(frozen=True)
class RotatedKey(NewKey):
    """A key made to replace another, which works until ``expires_at``."""

    replaces: str
    expires_at: datetime


@dataclass(frozen=True)
class KeyRecord:
    id: str
    account_id: str
    created_at: datetime
    revoked_at: datetime | None  # when it stopped working: revoked, or its grace over
    last_used_at: datetime | None
    expires_at: datetime | None  # a rotated key's end of grace
    replaces: str | None  # the key this one was made to replace


@dataclass(frozen=True)
class Principal:
    """Who a valid API key speaks for."""

    key_id: str
    account_id: str
    # The account's allowed destination countries (None: every country).
    countries: frozenset[str] | None = None
    # A rotated key's end of grace: from then on it speaks for no one (``api.deps.admit``).
    expires_at: datetime | None = None
    # Its changes are told to a webhook (the account's own, or the installation's).
    notify: bool = False


@dataclass(frozen=True)
class NumberRecord:
    number: str
    account_id: str
    status: str
    voice: bool
    type: int
    param: str | None
    updated_at: datetime
    sip_destination: str | None = None
    # The fallbacks by condition, as the read extension shows them (conditions.md).
    conditions: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChangeRecord:
    type: int
    param: str | None
    previous_type: int
    previous_param: str | None
    changed_at: datetime
    key_id: str | None
    # The fallback's condition that changed (None: the primary setting), and the ring
    # time before and after on the no-answer one.
    condition: str | None = None
    ring_seconds: int | None = None
    previous_ring_seconds: int | None = None


@dataclass(frozen=True)
class CallRecord:
    call_id: str
    caller: str | None
    action: str
    destination: str | None
    status: int | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    # The condition whose fallback took the call, and the destination it went to.
    diverted: str | None = None
    diverted_to: str | None = None
    # Seconds from answer to hang-up, once both happened (a field, so that it is printed).
    duration: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.answered_at is not None and self.ended_at is not None:
            seconds = (self.ended_at - self.answered_at).total_seconds()
            object.__setattr__(self, "duration", seconds)


@dataclass(frozen=True)
class VoicemailRecord:
    id: str
    number: str
    caller: str | None
    received_at: datetime
    duration_ms: int
    size: int
    transcript: Transcribed | None = None  # None: not transcribed (yet, or ever)


@dataclass(frozen=True)
class PendingNotice:
    """An outbox row (an email, or a webhook call) with what composing it needs."""

    outbox_id: int
    kind: str
    attempts: int
    message_id: str
    public_id: str
    number: str
    caller: str | None
    recipient: str
    received_at: datetime
    duration_ms: int
    audio_path: str
    size: int
    account_id: str  # whose webhook, if the account has one, is called
    voicemail_id: int
    mailbox: MailboxSettings  # the number's own voicemail settings
    account_format: str | None  # its account's audio format
    transcript: Transcribed | None  # None: not tried yet


@dataclass(frozen=True)
class PendingEvent:
    """An outbox row that carries its event (``forwarding.changed``) as it will be posted."""

    outbox_id: int
    kind: str
    attempts: int
    message_id: str
    account_id: str | None
    payload: str


@dataclass(frozen=True)
class AccountWebhook:
    """An account's own webhook; ``secret`` only in the answer that made it."""

    id: str
    webhook_url: str | None
    webhook_secret: str | None = None
