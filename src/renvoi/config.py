"""Settings, read from ``RENVOI_*`` environment variables (and an optional ``.env``).

One ``Settings`` object is built at the edge (``cli.main``, the server factory) and passed
down; nothing reads the environment anywhere else. The names of the variables are part of
the operator's contract (``contract/operator.md``, ``contract/voice.md``).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from renvoi.audio.transcripts import ENGINES, parse_models
from renvoi.domain.mailbox import Limits, MailboxSettings, effective
from renvoi.domain.numbers import DEFAULT_REFUSED_TYPES, parse_countries, refused_types
from renvoi.domain.webhooks import is_webhook_url

# Tokens and signing secrets shorter than this are refused: an empty or short one is as
# good as none (an empty ``RENVOI_ADMIN_TOKEN=`` once opened the admin API to anyone).
MIN_SECRET = 16


def host_port(value: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) as a pair.

    Raises:
        ValueError: not that shape, or a port outside 1-65535.
    """
    host, _, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("expected host:port, e.g. 127.0.0.1:8001")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/renvoi`` (``~/.local/share/renvoi``): the same directory wherever
    the command runs, so that every command of one user finds one database."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "renvoi"


class Settings(BaseSettings):
    """Every setting of a renvoi installation.

    Grouped by subsystem: storage, the HTTP API and its limits, logging. Defaults give a
    working single-machine installation with SQLite in the user's data directory.
    """

    model_config = SettingsConfigDict(
        env_prefix="RENVOI_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- storage -----------------------------------------------------------------------
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where SQLite and audio files live; default: $XDG_DATA_HOME/renvoi "
        "(~/.local/share/renvoi).",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL: sqlite:///path.db or postgresql://user@host/db; "
        "default: renvoi.db in the data directory.",
    )
    sqlite_synchronous: Literal["NORMAL", "FULL", "EXTRA"] = Field(
        "FULL",
        description="SQLite's synchronous pragma in WAL mode. FULL: an acknowledged change "
        "survives a power loss as well as a crash. NORMAL survives kill -9, not power loss.",
    )
    sqlite_mmap_mib: int = Field(
        256,
        ge=0,
        description="SQLite: MiB of the database file that reads map into memory (the "
        "OS's shared page cache, no read syscall per page). 0: none, for storage that may "
        "fail reads: an I/O error on a mapped page ends the process instead of code 20.",
    )
    database_pool_size: int = Field(10, ge=1, description="Connections per process.")
    database_timeout: float = Field(
        5.0, gt=0, description="Seconds to wait for a connection or a lock before code 20."
    )

    # --- the API ----------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Where the API listens (0.0.0.0: everywhere).")
    port: int = Field(8000, ge=1, le=65535, description="The API's port.")
    workers: int = Field(1, ge=1, description="Worker processes serving the API.")
    admin_token: SecretStr | None = Field(
        None, description="Bearer token of the admin API; the admin API is off when unset."
    )
    console: bool = Field(True, description="Serve the customers' web console at /console/.")
    console_secure_cookies: bool = Field(
        False, description="Mark the console's session cookie Secure (set it behind HTTPS)."
    )
    console_session_hours: int = Field(
        12, ge=1, le=720, description="A console session ends this long after signing in."
    )
    console_secret: SecretStr | None = Field(
        None,
        description="The key that signs console sessions; unset: one kept in the data "
        "directory (console.key). Give every API node the same one.",
    )
    default_region: str = Field("FR", description="Region of national-format numbers.")
    refused_number_types: str = Field(
        ",".join(DEFAULT_REFUSED_TYPES),
        description="Comma-separated phonenumbers classes refused as forward destinations.",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Proxies trusted to set X-Forwarded-For (the client address that "
        "rate limits count), as uvicorn's --forwarded-allow-ips.",
    )
    rate_key_per_second: float = Field(50.0, gt=0, description="Requests a second per key.")
    rate_key_burst: int = Field(200, ge=1, description="Burst allowed per key.")
    rate_bad_key_burst: int = Field(
        30, ge=1, description="Unknown keys from one address before it is refused (19)."
    )
    rate_bad_key_per_second: float = Field(
        0.5, gt=0, description="How fast an address that sent unknown keys cools down."
    )
    timeout_keep_alive: int = Field(5, ge=1, description="Idle keep-alive seconds.")
    opentelemetry: bool = Field(
        False,
        description="FastAPI's native OpenTelemetry: a span and metrics per request "
        "through the process's global providers (set up by, say, opentelemetry-instrument). "
        "Off, a request skips asking whether they are set up.",
    )
    metrics: bool = Field(
        True,
        description="Count requests, changes, calls and notifications for GET /metrics "
        "(integrations.md). Off, nothing is counted and the figures stay at zero.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token GET /metrics asks of a caller that is not loopback "
        "(without it, only loopback callers that came through no proxy are answered).",
    )

    # --- the voice side (contract/voice.md) -------------------------------------------------
    sip_listen: str = Field(
        "udp:127.0.0.1:5060", description="Where Kamailio listens (proto:host:port)."
    )
    sip_trunk: str = Field(
        "127.0.0.1:5080", description="host:port of the carrier where forwarded calls go."
    )
    voicemail_listen: str = Field(
        "127.0.0.1:5070", description="host:port where the voicemail endpoint takes SIP (UDP)."
    )
    internal_listen: str = Field(
        "127.0.0.1:8001",
        description="host:port where the route endpoint and the call reports are served "
        "(HTTP), on a listener of their own: no proxy in front of the API reaches them.",
    )
    route_url: str | None = Field(
        None,
        description="How Kamailio reaches the internal listener; default: http:// and "
        "RENVOI_INTERNAL_LISTEN.",
    )
    route_token: SecretStr | None = Field(
        None,
        description="Bearer token Kamailio presents to /internal/v1/; without it only "
        "loopback clients may call the route endpoint.",
    )
    kamailio_metrics_listen: str = Field(
        "127.0.0.1:9090",
        description="host:port where the generated Kamailio configuration serves "
        "Kamailio's own statistics in Prometheus's format (its xhttp_prom module).",
    )
    route_cache: bool = Field(
        True, description="Cache routes, API keys and reads in memory (docs/calls.md)."
    )
    cache_entries: int = Field(
        100_000,
        ge=1,
        description="Entries a process keeps per cache (routes, API keys, reads); the "
        "oldest goes first. About 0.5 KiB each.",
    )
    kamailio_rundir: Path | None = Field(
        None,
        description="Kamailio's control socket and runtime files; default: "
        "kamailio/ in the data directory.",
    )
    kamailio_rpc: str | None = Field(
        None,
        description="Comma-separated http://host:port of every Kamailio to push each "
        "change to (its RENVOI_KAMAILIO_METRICS_LISTEN); default: this machine's "
        'RENVOI_KAMAILIO_METRICS_LISTEN; "none": no pushes (catch-up only).',
    )
    kamailio_push_seconds: float = Field(
        0.5,
        gt=0,
        le=10,
        description="How long the API waits for a Kamailio to take a push before it "
        "answers anyway (that node then catches up from the database).",
    )
    kamailio_catch_up_ms: int = Field(
        100,
        ge=10,
        le=60_000,
        description="How often each Kamailio compares its generation with the database's, "
        "and loads the changes it missed.",
    )
    kamailio_route_slots: int = Field(
        16,
        ge=4,
        le=24,
        description="Kamailio's route table has 2^this many slots: about the log2 of the "
        "numbers (20 for a million).",
    )
    kamailio_children: int = Field(
        8,
        ge=1,
        description="Kamailio UDP worker processes: a few per core (a call waits on "
        "nothing but the proxy's memory; docs/performance.md has the figures).",
    )

    # --- voicemail (contract/voice.md) ----------------------------------------------------
    voicemail_rtp_ports: str = Field(
        "16384-32767", description="UDP port range (first-last) for voicemail audio."
    )
    voicemail_max_seconds: int = Field(
        180, ge=5, description="Longest message; at this length the endpoint hangs up."
    )
    voicemail_min_seconds: float = Field(
        1.0, ge=0, description="Shorter recordings are dropped (calls hung up at once)."
    )
    voicemail_silence_seconds: int = Field(
        15, ge=2, description="The endpoint hangs up after this long without a voice."
    )
    voicemail_ring_seconds: float = Field(
        0,
        ge=0,
        le=60,
        description="How long the endpoint rings (180) before it answers; 0 answers at once, "
        "with no 180.",
    )
    voicemail_retention_days: int = Field(
        90, ge=1, description="Messages older than this are deleted, audio included."
    )
    voicemail_attach_max_bytes: int = Field(
        10_000_000,
        ge=0,
        description="Larger recordings are not attached: the email links to the API.",
    )
    voicemail_language: Literal["fr", "en"] | None = Field(
        None,
        description="The language of the default greeting and of transcripts; unset: the "
        "greeting in French then English, and no transcript (the callers' language is not "
        "known). Each number may choose its own.",
    )
    voicemail_audio_format: Literal["wav", "mp3"] = Field(
        "wav",
        description="The emailed recording's format; each account or number may choose its "
        "own (mp3 is about 120 KB a minute, WAV 960 KB).",
    )
    voicemail_mp3_kbps: Literal[8, 16, 24, 32] = Field(
        16, description="The MP3 bitrate; 16 keeps the whole telephone band, 8 cuts near 2 kHz."
    )
    transcriber: str = Field(
        "off",
        description="The voicemail transcripts' engine: off, pocketsphinx (US English, "
        "shipped, but inaccurate on telephone audio: docs/voicemail.md), vosk (with "
        "RENVOI_TRANSCRIBER_MODELS), or module:factory for your own.",
    )
    transcriber_models: str = Field(
        "",
        description="Model directories per language, e.g. fr=/srv/vosk-fr,en=/srv/vosk-en "
        "(never downloaded by renvoi).",
    )
    transcriber_cpu_seconds: int = Field(
        120,
        ge=5,
        le=3600,
        description="CPU seconds one message's transcription may take; past them the "
        "message is sent without a transcript.",
    )
    public_url: str = Field(
        "http://127.0.0.1:8000", description="The API's address as customers reach it."
    )

    # --- outgoing mail ---------------------------------------------------------------------
    smtp_host: str = Field("127.0.0.1", description="The outgoing mail server.")
    smtp_port: int = Field(25, ge=1, le=65535, description="Its port.")
    smtp_from: str = Field("voicemail@localhost", description="The emails' sender.")
    smtp_user: str | None = Field(None, description="The login on the mail server, if any.")
    smtp_password: SecretStr | None = Field(None, description="Its password.")
    smtp_starttls: bool = Field(False, description="Upgrade the connection with STARTTLS.")
    smtp_timeout: float = Field(30.0, gt=0, description="Seconds for one SMTP exchange.")
    webhook_url: str | None = Field(
        None,
        description=(
            "The installation's webhook: POSTed the events (new messages, forwarding "
            "changes) of accounts without one of their own, HMAC-signed."
        ),
    )
    webhook_secret: SecretStr | None = Field(
        None, description="Key of the webhook's HMAC-SHA256 signature."
    )
    outbox_lease_seconds: int = Field(
        300,
        ge=1,
        description="A worker that dies mid-send: its email is sent again after this.",
    )

    # --- logging ----------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="The least important events logged."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto",
        description="json for machines, console for people; auto: console on a terminal, "
        "json otherwise.",
    )

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        try:
            [region] = parse_countries([value])
        except ValueError:
            raise ValueError(
                f"{value!r} is not a region phonenumbers knows (ISO 3166, e.g. FR, BE, GB)"
            ) from None
        return region

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme, separator, _ = value.partition("://")
        backend = scheme.partition("+")[0].lower()
        if not separator or backend not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(
                "sqlite:///PATH or postgresql://USER@HOST/DATABASE (renvoi supports those two)"
            )
        return value

    @field_validator(
        "admin_token", "route_token", "webhook_secret", "metrics_token", "console_secret"
    )
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < MIN_SECRET:
            raise ValueError(
                f"at least {MIN_SECRET} characters: an empty or short secret lets anyone "
                "in (leave it unset to turn its feature off; e.g. openssl rand -hex 32)"
            )
        return value

    @field_validator("internal_listen", "voicemail_listen", "kamailio_metrics_listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host_port(value)
        return value

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not is_webhook_url(value):
            raise ValueError("an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.webhook_url is not None and self.webhook_secret is None:
            raise ValueError(
                "RENVOI_WEBHOOK_URL needs RENVOI_WEBHOOK_SECRET: without a secret anyone "
                "could forge the webhook's calls"
            )
        if self.transcribing and self.transcriber_cpu_seconds + 30 >= self.outbox_lease_seconds:
            raise ValueError(
                "RENVOI_TRANSCRIBER_CPU_SECONDS must leave 30 s of RENVOI_OUTBOX_LEASE_SECONDS: "
                "a notice still transcribing when its lease ends is sent twice"
            )
        if self.transcriber == "vosk" and not self.transcriber_models.strip():
            raise ValueError("RENVOI_TRANSCRIBER=vosk needs RENVOI_TRANSCRIBER_MODELS")
        if self.internal_address[1] == self.port:
            raise ValueError(
                "RENVOI_INTERNAL_LISTEN must not use RENVOI_PORT: the internal endpoints "
                "have a listener of their own, told apart from the API's by its port"
            )
        return self

    @field_validator("voicemail_rtp_ports")
    @classmethod
    def _port_range(cls, value: str) -> str:
        first, _, last = value.partition("-")
        if not (first.isdigit() and (last or first).isdigit()):
            raise ValueError("expected first-last, e.g. 16384-32767")
        if not 1024 <= int(first) <= int(last or first) <= 65535:
            raise ValueError("ports between 1024 and 65535, first <= last")
        return value

    @field_validator("transcriber")
    @classmethod
    def _engine(cls, value: str) -> str:
        module, colon, factory = value.partition(":")
        if value not in ("off", *ENGINES) and not (colon and module and factory):
            raise ValueError("off, pocketsphinx, vosk, or module:factory")
        return value

    @field_validator("transcriber_models")
    @classmethod
    def _models(cls, value: str) -> str:
        parse_models(value)  # raises on an entry that is not language=path
        return value

    @field_validator("refused_number_types")
    @classmethod
    def _known_types(cls, value: str) -> str:
        refused_types(_split(value))  # raises on an unknown name
        return value

    @property
    def refused_types(self) -> frozenset[int]:
        """The phonenumbers types refused as destinations."""
        return refused_types(_split(self.refused_number_types))

    @property
    def metrics_dir(self) -> Path:
        """Where a node's processes keep their counts for the scrape to sum."""
        return self.data_dir / "metrics"

    @property
    def database(self) -> str:
        """The database URL, defaulting to SQLite in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'renvoi.db').resolve()}"

    def trusts_proxy(self, address: str) -> bool:
        """Whether ``address`` is one of the proxies ``forwarded_allow_ips`` trusts."""
        for entry in (part.strip() for part in self.forwarded_allow_ips.split(",")):
            if entry == "*" or entry == address:
                return True
            try:
                if ipaddress.ip_address(address) in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
        return False

    @property
    def internal_address(self) -> tuple[str, int]:
        """Where the internal endpoints listen (``internal_listen`` as a pair)."""
        return host_port(self.internal_listen)

    @property
    def voicemail_address(self) -> tuple[str, int]:
        """Where the voicemail endpoint listens (``voicemail_listen`` as a pair)."""
        return host_port(self.voicemail_listen)

    @property
    def route_base_url(self) -> str:
        """How Kamailio reaches the internal endpoints: ``route_url``, or the internal
        listener's own address."""
        if self.route_url:
            return self.route_url.rstrip("/")
        host, port = self.internal_address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file the database URL names (None: PostgreSQL, or in memory)."""
        scheme, _, rest = self.database.partition("://")
        if not scheme.startswith("sqlite") or rest in ("", "/", "/:memory:"):
            return None
        return Path(rest.removeprefix("/"))

    @property
    def database_shown(self) -> str:
        """The database URL without its password, for logs and help texts."""
        scheme, separator, rest = self.database.partition("://")
        credentials, at, place = rest.rpartition("@")
        if separator and at and ":" in credentials:
            credentials = credentials.split(":", 1)[0] + ":***"
        return f"{scheme}{separator}{credentials}{at}{place}"

    @property
    def kamailio_nodes(self) -> list[str]:
        """Where changes are pushed: ``kamailio_rpc``'s URLs, or this machine's
        Kamailio."""
        if self.kamailio_rpc is None:
            return [f"http://{self.kamailio_metrics_listen}"]
        if self.kamailio_rpc.strip().lower() == "none":
            return []
        return [url.strip().rstrip("/") for url in self.kamailio_rpc.split(",") if url.strip()]

    @property
    def kamailio_database(self) -> str:
        """The database as Kamailio's db_sqlite or db_postgres module names it."""
        url = make_url(self.database)
        if url.drivername.startswith("sqlite"):
            return f"sqlite:///{Path(url.database or '').resolve()}"
        credentials = url.username or ""
        if url.password:
            credentials += f":{url.password}"
        host = url.host or "localhost"
        port = f":{url.port}" if url.port else ""
        at = "@" if credentials else ""
        return f"postgres://{credentials}{at}{host}{port}/{url.database}"

    @property
    def sip_proxy(self) -> str:
        """``host:port`` of Kamailio, from ``sip_listen`` (its protocol prefix dropped)."""
        proto, _, rest = self.sip_listen.partition(":")
        return rest if proto in ("udp", "tcp", "tls", "sctp") else self.sip_listen

    @property
    def rtp_ports(self) -> range:
        """The voicemail media ports."""
        first, _, last = self.voicemail_rtp_ports.partition("-")
        return range(int(first), int(last or first) + 1)

    @property
    def voicemail_dir(self) -> Path:
        """Where recordings are kept; the database holds paths relative to it."""
        return (self.data_dir / "voicemail").resolve()

    @property
    def voicemail_limits(self) -> Limits:
        """What applies to a number's voicemail that sets nothing of its own."""
        return Limits(
            max_seconds=self.voicemail_max_seconds,
            min_seconds=self.voicemail_min_seconds,
            silence_seconds=self.voicemail_silence_seconds,
            language=self.voicemail_language,
            audio_format=self.voicemail_audio_format,
        )

    def limits_of(self, own: MailboxSettings, account_format: str | None) -> Limits:
        """What applies to a number's voicemail: its own settings, else its account's
        audio format, else the installation's (``domain.mailbox.effective``)."""
        return effective(own, account_format=account_format, installation=self.voicemail_limits)

    @property
    def transcribing(self) -> bool:
        """Whether voicemail messages are transcribed (``RENVOI_TRANSCRIBER``)."""
        return self.transcriber != "off"

    @property
    def rundir(self) -> Path:
        return (self.kamailio_rundir or self.data_dir / "kamailio").resolve()


def _split(value: str) -> list[str]:
    return [part.strip().upper() for part in value.split(",") if part.strip()]
