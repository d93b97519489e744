"""A number's voicemail settings (a renvoi extension): what its customer may set, each
checked like every other field (code 23, naming the field and its rule), and what applies
to a call once the account's and the installation's choices fill what the number leaves
unset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from renvoi.domain.codes import Code, Reason, Text
from renvoi.errors import ContractError

AudioFormat = Literal["wav", "mp3"]
AUDIO_FORMATS: tuple[AudioFormat, ...] = ("wav", "mp3")
LANGUAGES = ("fr", "en")
MAX_SECONDS = (5, 600)
MIN_SECONDS = (0, 30)
SILENCE_SECONDS = (2, 60)

# The API's field names, in the order they are checked and shown.
FIELDS = ("maxSeconds", "minSeconds", "silenceSeconds", "language", "audioFormat")


@dataclass(frozen=True, slots=True)
class MailboxSettings:
    """What a number sets for itself; None falls back to its account, then the
    installation (``effective``)."""

    max_seconds: int | None = None
    min_seconds: float | None = None
    silence_seconds: int | None = None
    language: str | None = None  # of the default greeting and of the transcript
    audio_format: str | None = None  # one of AUDIO_FORMATS

    def as_json(self) -> dict[str, object]:
        return dict(zip(FIELDS, (getattr(self, name) for name in _ATTRIBUTES), strict=True))


_ATTRIBUTES = ("max_seconds", "min_seconds", "silence_seconds", "language", "audio_format")


@dataclass(frozen=True, slots=True)
class Limits:
    """What applies to a number's calls and messages.

    ``language`` None means the installation greets in French then English and does
    not know which one callers speak: no transcript is made (never a wrong-language
    guess).
    """

    max_seconds: int
    min_seconds: float
    silence_seconds: int
    language: str | None
    audio_format: AudioFormat

    def as_json(self) -> dict[str, object]:
        return dict(zip(FIELDS, (getattr(self, name) for name in _ATTRIBUTES), strict=True))


def effective(own: MailboxSettings, *, account_format: str | None, installation: Limits) -> Limits:
    """The number's own settings, else its account's audio format, else the
    installation's."""
    audio_format = _format(own.audio_format) or _format(account_format) or installation.audio_format
    return Limits(
        max_seconds=own.max_seconds or installation.max_seconds,
        min_seconds=installation.min_seconds if own.min_seconds is None else own.min_seconds,
        silence_seconds=own.silence_seconds or installation.silence_seconds,
        language=own.language or installation.language,
        audio_format=audio_format,
    )


def _format(value: str | None) -> AudioFormat | None:
    return next((known for known in AUDIO_FORMATS if known == value), None)


def parse_audio_format(value: object) -> AudioFormat | None:
    """An account's or a number's audio format: ``wav``, ``mp3``, or unset (None, "").

    Raises:
        ContractError: code 23, naming ``audioFormat``.
    """
    if _unset(value):
        return None
    found = _format(value) if isinstance(value, str) else None
    if found is None:
        raise _refused("audioFormat", Text("wav or mp3", "wav ou mp3"))
    return found


def parse_update(
    fields: Mapping[str, object], current: MailboxSettings, *, installation: Limits
) -> MailboxSettings:
    """``current`` with the fields the request sends: a value sets it, ``null`` or ""
    unsets it, an absent field is kept. Checked in ``FIELDS`` order, then the minimum
    against the maximum that will apply.

    Raises:
        ContractError: code 23, naming the first field refused and its rule.
    """
    changes: dict[str, object] = {}
    if "maxSeconds" in fields:
        changes["max_seconds"] = _integer(fields["maxSeconds"], "maxSeconds", MAX_SECONDS)
    if "minSeconds" in fields:
        changes["min_seconds"] = _seconds(fields["minSeconds"])
    if "silenceSeconds" in fields:
        value = fields["silenceSeconds"]
        changes["silence_seconds"] = _integer(value, "silenceSeconds", SILENCE_SECONDS)
    if "language" in fields:
        changes["language"] = _language(fields["language"])
    if "audioFormat" in fields:
        changes["audio_format"] = parse_audio_format(fields["audioFormat"])
    updated = replace(current, **changes)  # type: ignore[arg-type]
    limits = effective(updated, account_format=None, installation=installation)
    if limits.min_seconds >= limits.max_seconds:
        rule = Text(
            f"less than the maximum length ({limits.max_seconds} s)",
            f"inférieur à la durée maximale ({limits.max_seconds} s)",
        )
        raise _refused("minSeconds", rule)
    return updated


def _unset(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _refused(name: str, rule: Text) -> ContractError:
    return ContractError(
        Code.VOICEMAIL_SETTING, reason=Reason("setting", {"field": name, "rule": rule})
    )


def _integer(value: object, name: str, bounds: tuple[int, int]) -> int | None:
    if _unset(value):
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip()[:4])
    low, high = bounds
    if number is None or not low <= number <= high:
        raise _refused(
            name, Text(f"an integer from {low} to {high}", f"un entier de {low} à {high}")
        )
    return number


def _seconds(value: object) -> float | None:
    """``minSeconds``: a number of seconds, tenths allowed (``1.5``)."""
    if _unset(value):
        return None
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and len(value) <= 8:
        digits = value.strip().replace(".", "", 1)
        number = float(value) if digits.isascii() and digits.isdigit() else None
    low, high = MIN_SECONDS
    if number is None or not low <= number <= high or round(number, 1) != number:
        raise _refused(
            "minSeconds",
            Text(
                f"a number of seconds from {low} to {high}, in tenths",
                f"un nombre de secondes de {low} à {high}, au dixième",
            ),
        )
    return number


def _language(value: object) -> str | None:
    if _unset(value):
        return None
    if value not in LANGUAGES:
        raise _refused("language", Text("fr or en", "fr ou en"))
    return str(value)
