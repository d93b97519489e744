"""The schema: accounts, their API keys, virtual numbers and the history of changes.

Every lookup on a request path has its index: a key by its hash, a number by its E.164
form, a number's history by (number, id). Timestamps are UTC. Alembic migrations in
``migrations/`` create and evolve these tables; this module is their source of truth
(``alembic check`` compares the two in the tests).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so that migrations can name what they alter on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets 64 bits.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: pass UTC-aware times to the store")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Countries its numbers may forward to: ISO codes, comma-separated; None: all.
    allowed_countries: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    # The account's own webhook (None: the installation's, if any) and the key of its
    # signature, kept as it is: an HMAC key must be usable to sign.
    webhook_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    webhook_secret: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # The emailed recording's format for the account's numbers (null: the installation's).
    voicemail_audio_format: Mapped[str | None] = mapped_column(String(3), nullable=True)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    # SHA-256 of the key: keys carry 192 random bits, so a fast hash is as strong as a
    # slow one here, and lets the request path find a key with one indexed look-up.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A rotated key's end: it authenticates until then (``accounts.rotate_key``).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The key this one was made to replace, if any.
    replaces: Mapped[str | None] = mapped_column(String(40), nullable=True)


class Number(Base):
    __tablename__ = "numbers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    e164: Mapped[str] = mapped_column(String(16), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    voice: Mapped[bool] = mapped_column(Boolean, default=True)
    # The forwarding: 0 off, 1 forward to param (E.164), 2 voicemail to param (email).
    mode: Mapped[int] = mapped_column(SmallInteger, default=0)
    param: Mapped[str | None] = mapped_column(String(320), nullable=True)
    # Where calls go in mode 0 (voice.md: `renvoi number route`), a SIP URI, or None (480).
    sip_destination: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # The fallbacks (conditions.md), as mode and param: one pair per condition.
    busy_mode: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    busy_param: Mapped[str | None] = mapped_column(String(320), nullable=True)
    no_answer_mode: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    no_answer_param: Mapped[str | None] = mapped_column(String(320), nullable=True)
    unavailable_mode: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    unavailable_param: Mapped[str | None] = mapped_column(String(320), nullable=True)
    ring_seconds: Mapped[int] = mapped_column(SmallInteger, default=20, server_default="20")
    # The number's voicemail settings (domain.mailbox); null: its account's, else the
    # installation's.
    voicemail_max_seconds: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    voicemail_min_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    voicemail_silence_seconds: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    voicemail_language: Mapped[str | None] = mapped_column(String(2), nullable=True)
    voicemail_audio_format: Mapped[str | None] = mapped_column(String(3), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Change(Base):
    """One successful forwarding change: who (the key), when, from what to what; of the
    primary setting (``condition`` NULL) or of one condition's fallback."""

    __tablename__ = "changes"
    __table_args__ = (Index("ix_changes_number_id_id", "number_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number_id: Mapped[int] = mapped_column(BigId, ForeignKey("numbers.id", ondelete="CASCADE"))
    key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.id"), nullable=True)
    old_mode: Mapped[int] = mapped_column(SmallInteger)
    old_param: Mapped[str | None] = mapped_column(String(320), nullable=True)
    new_mode: Mapped[int] = mapped_column(SmallInteger)
    new_param: Mapped[str | None] = mapped_column(String(320), nullable=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    condition: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The ring time before and after, on a change of the no-answer fallback.
    old_ring_seconds: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    new_ring_seconds: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)


class Call(Base):
    """One call routed by Kamailio: what the route said, and how the call ended."""

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_number_id_id", "number_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number_id: Mapped[int] = mapped_column(BigId, ForeignKey("numbers.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(String(255), index=True)
    caller: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # forward, voicemail, normal, or reject (status set at once).
    action: Mapped[str] = mapped_column(String(16))
    destination: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The condition whose fallback took the call (NULL: none), and where it went.
    diverted: Mapped[str | None] = mapped_column(String(16), nullable=True)
    diverted_to: Mapped[str | None] = mapped_column(String(255), nullable=True)


class CacheEvent(Base):
    """A change that caches must hear of (SQLite only; ``store/statecache.py``).

    SQLite's ``data_version`` moves on every commit, call records included; the caches
    then read the events after the last one they saw and forget those subjects: a
    number (E.164), or everything (NULL: an API key or an account changed). Old rows
    are pruned by the writers. On PostgreSQL the table stays empty: caches there
    follow ``pg_notify``.
    """

    __tablename__ = "cache_events"
    __table_args__ = ({"sqlite_autoincrement": True},)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str | None] = mapped_column(String(32), nullable=True)


class KamailioRoute(Base):
    """What Kamailio holds of one number: the plan of its calls (``domain.routing``), or
    the generation of the last change (the row ``GENERATION_KEY``; ``store/routetable.py``).

    The columns are htable's, as Kamailio holds a row; ``version`` is the generation of
    the change that wrote it, for Kamailio's load and catch-up (``kamailio.cfg``). A
    number taken off the platform keeps its row, refusing calls, so that a catch-up
    hears of it.
    """

    __tablename__ = "kamailio_routes"
    # Kamailio reads the rows by version, then number, a thousand at a time.
    __table_args__ = (Index("kamailio_routes_version", "version", "key_name"),)

    key_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_type: Mapped[int] = mapped_column(Integer, server_default="0")
    value_type: Mapped[int] = mapped_column(Integer, server_default="0")
    key_value: Mapped[str] = mapped_column(String(1024))
    expires: Mapped[int] = mapped_column(Integer, server_default="0")
    version: Mapped[int] = mapped_column(BigInteger)


class Voicemail(Base):
    """A recorded message: who called which number, when, and where its audio is."""

    __tablename__ = "voicemails"
    __table_args__ = (Index("ix_voicemails_number_id_id", "number_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # What the API shows: not guessable, unlike the row id.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    number_id: Mapped[int] = mapped_column(BigId, ForeignKey("numbers.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(String(255))
    caller: Mapped[str | None] = mapped_column(String(255), nullable=True)
    recipient: Mapped[str] = mapped_column(String(320))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    duration_ms: Mapped[int] = mapped_column(Integer)
    # Relative to the data directory.
    audio_path: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    # What became of its transcription (domain.voicemail.TRANSCRIPT_STATES; null: not
    # tried), the language tried, and the text.
    transcript_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    transcript_language: Mapped[str | None] = mapped_column(String(2), nullable=True)
    transcript: Mapped[str | None] = mapped_column(Text, nullable=True)


class Outbox(Base):
    """A notification to send, written in the transaction that made it necessary.

    Workers claim a row with a lease (``lease_until``), so several may run; a worker
    that dies mid-send lets its lease expire and the row is sent again (at-least-once,
    with the same ``message_id``).
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # A voicemail message's email or webhook call; or None, for an event that carries
    # its own ``payload`` and ``account_id`` (``forwarding.changed``).
    voicemail_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("voicemails.id", ondelete="CASCADE"), index=True, nullable=True
    )
    account_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    payload: Mapped[str | None] = mapped_column(Text, nullable=True)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)


class Greeting(Base):
    """A number's own voicemail greeting: 16-bit mono 8 kHz PCM, converted on upload.

    In the database rather than on disk, so that every node (the API that receives it,
    the voicemail process that plays it) sees the same one.
    """

    __tablename__ = "greetings"

    number_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("numbers.id", ondelete="CASCADE"), primary_key=True
    )
    pcm: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
