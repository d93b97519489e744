"""What a number does with a call: its primary setting, and its fallbacks by condition.

The seed's ``type`` is the primary setting (``contract/callforward.md``); the fallbacks
are taken when the primary destination does not take the call (``contract/
conditions.md``). Plain values, shared by the checks (``callforward``, ``conditions``)
and by routing (``routing``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum, StrEnum
from typing import Any


class Mode(IntEnum):
    """What happens to calls on a number (the request's ``type``)."""

    OFF = 0
    FORWARD = 1
    VOICEMAIL = 2


@dataclass(frozen=True)
class Setting:
    """A number's forwarding: the mode and its parameter (E.164 or normalized email)."""

    mode: Mode
    param: str | None = None


OFF = Setting(Mode.OFF)


class Condition(StrEnum):
    """Why the primary destination did not take a call (3GPP's CFB, CFNRy, CFNRc)."""

    BUSY = "busy"
    NO_ANSWER = "noAnswer"
    UNAVAILABLE = "unavailable"

    @classmethod
    def named(cls, value: object) -> Condition | None:
        """The condition spelled exactly ``value`` (case matters), or None."""
        if not isinstance(value, str):
            return None
        try:
            return cls(value)
        except ValueError:
            return None


# The ring time of a no-answer fallback, in seconds.
DEFAULT_RING_SECONDS = 20
RING_SECONDS = range(5, 121)


@dataclass(frozen=True)
class Fallbacks:
    """A number's fallbacks, one per condition (``OFF``: none), and its ring time."""

    busy: Setting = OFF
    no_answer: Setting = OFF
    unavailable: Setting = OFF
    ring_seconds: int = DEFAULT_RING_SECONDS

    def of(self, condition: Condition) -> Setting:
        return getattr(self, _FIELD[condition])  # type: ignore[no-any-return]

    def with_(self, condition: Condition, setting: Setting, ring_seconds: int) -> Fallbacks:
        """These fallbacks with ``condition``'s set to ``setting`` (and the ring time)."""
        return replace(self, **{_FIELD[condition]: setting}, ring_seconds=ring_seconds)

    def set(self) -> list[tuple[Condition, Setting]]:
        """The conditions that have a fallback, in the contract's order."""
        return [(c, self.of(c)) for c in Condition if self.of(c).mode is not Mode.OFF]

    def as_json(self) -> dict[str, Any]:
        """The read extension's ``"conditions"``: one member per fallback, the ring time
        with the no-answer one."""
        shown: dict[str, Any] = {}
        for condition, setting in self.set():
            member: dict[str, Any] = {"type": int(setting.mode), "param": setting.param}
            if condition is Condition.NO_ANSWER:
                member["ringSeconds"] = self.ring_seconds
            shown[condition.value] = member
        return shown


NO_FALLBACKS = Fallbacks()

_FIELD = {
    Condition.BUSY: "busy",
    Condition.NO_ANSWER: "no_answer",
    Condition.UNAVAILABLE: "unavailable",
}
