"""What the API answers, as typed records (plain dataclasses: nothing to import but the
standard library)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

CHANGED = frozenset({1, 2, 3})  # forward on, off, voicemail on


@dataclass(frozen=True)
class Result:
    """The answer to a change: its code and message (``code`` 16, 17 or 18 with
    ``exist_ok=True``: nothing needed changing)."""

    code: int
    message: str
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        """Whether the number's setting changed (never on a dry run)."""
        return self.code in CHANGED and not self.dry_run


@dataclass(frozen=True)
class Fallback:
    """What a number's calls do on one condition: ``type`` 1 forwards to ``param``, 2
    goes to voicemail told to ``param``; ``ring_seconds`` on ``noAnswer``."""

    type: int
    param: str | None
    ring_seconds: int | None = None


@dataclass(frozen=True)
class State:
    """A number's forwarding: its primary setting and its fallbacks by condition
    (``busy``, ``noAnswer``, ``unavailable``)."""

    number: str
    type: int
    param: str | None
    status: str
    updated_at: datetime | None
    conditions: dict[str, Fallback] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """One change of a number's forwarding (``condition`` None: its primary setting)."""

    type: int
    param: str | None
    previous_type: int | None
    previous_param: str | None
    changed_at: datetime
    key_id: str | None
    condition: str | None = None
    ring_seconds: int | None = None
    previous_ring_seconds: int | None = None


@dataclass(frozen=True)
class Call:
    """A call routed to a number, and what became of it."""

    call_id: str
    caller: str | None
    action: str
    destination: str | None
    status: int | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    duration: float | None
    diverted: str | None = None
    diverted_to: str | None = None


@dataclass(frozen=True)
class _MessageFields:
    id: str
    number: str
    caller: str | None
    received_at: datetime
    duration_ms: int
    size: int
    transcript: str | None  # what the server's engine heard; None: no transcript


@dataclass(frozen=True)
class Message(_MessageFields):
    """A voicemail message; ``download(path)`` writes its audio (WAV)."""

    _fetch: Callable[[Message], bytes] = field(repr=False, compare=False)

    def download(self, path: str | Path) -> Path:
        """Write the recording to ``path``; returns it."""
        target = Path(path)
        target.write_bytes(self._fetch(self))
        return target


@dataclass(frozen=True)
class AsyncMessage(_MessageFields):
    """A voicemail message read by ``AsyncClient``; ``await download(path)``."""

    _fetch: Callable[[AsyncMessage], Awaitable[bytes]] = field(repr=False, compare=False)

    async def download(self, path: str | Path) -> Path:
        """Write the recording to ``path``; returns it."""
        target = Path(path)
        target.write_bytes(await self._fetch(self))
        return target


def when(value: Any) -> datetime | None:
    """An ISO 8601 time of the API (``Z`` for UTC), or None."""
    if value is None:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def at(value: Any) -> datetime:
    """A time the API always gives."""
    moment = when(value)
    if moment is None:
        raise ValueError("a time is missing from the answer")
    return moment


def state_of(body: dict[str, Any]) -> State:
    return State(
        number=body["number"],
        type=body["type"],
        param=body.get("param"),
        status=body.get("status", "active"),
        updated_at=when(body.get("updatedAt")),
        conditions={
            name: Fallback(item["type"], item.get("param"), item.get("ringSeconds"))
            for name, item in (body.get("conditions") or {}).items()
        },
    )


def change_of(item: dict[str, Any]) -> Change:
    return Change(
        type=item["type"],
        param=item.get("param"),
        previous_type=item.get("previousType"),
        previous_param=item.get("previousParam"),
        changed_at=at(item["changedAt"]),
        key_id=item.get("keyId"),
        condition=item.get("condition"),
        ring_seconds=item.get("ringSeconds"),
        previous_ring_seconds=item.get("previousRingSeconds"),
    )


def call_of(item: dict[str, Any]) -> Call:
    return Call(
        call_id=item["callId"],
        caller=item.get("caller"),
        action=item["action"],
        destination=item.get("destination"),
        status=item.get("status"),
        started_at=at(item["startedAt"]),
        answered_at=when(item.get("answeredAt")),
        ended_at=when(item.get("endedAt")),
        duration=item.get("duration"),
        diverted=item.get("diverted"),
        diverted_to=item.get("divertedTo"),
    )


def message_fields(number: str, item: dict[str, Any]) -> dict[str, Any]:
    """The fields ``Message`` and ``AsyncMessage`` share, from one list item."""
    return {
        "id": item["id"],
        "number": number,
        "caller": item.get("caller"),
        "received_at": at(item["receivedAt"]),
        "duration_ms": item["durationMs"],
        "size": item["size"],
        "transcript": (item.get("transcript") or {}).get("text"),
    }


# A number's voicemail settings: the API's field for each attribute.
SETTING_FIELDS = {
    "max_seconds": "maxSeconds",
    "min_seconds": "minSeconds",
    "silence_seconds": "silenceSeconds",
    "language": "language",
    "audio_format": "audioFormat",
}


@dataclass(frozen=True)
class VoicemailSettings:
    """A number's voicemail settings: what it sets itself (None: unset, its account's or
    the installation's applies) and, in ``effective``, what applies to its calls."""

    number: str
    max_seconds: int | None
    min_seconds: float | None
    silence_seconds: int | None
    language: str | None
    audio_format: str | None
    effective: dict[str, Any]


def settings_of(body: dict[str, Any]) -> VoicemailSettings:
    own = body["settings"]
    return VoicemailSettings(
        number=body["number"],
        **{name: own.get(field) for name, field in SETTING_FIELDS.items()},
        effective={name: body["effective"].get(field) for name, field in SETTING_FIELDS.items()},
    )
