"""Fallbacks on busy, no answer and unavailable (``contract/conditions.md``): the
checks of ``POST /v1/vn/callforward/conditional`` in their order, and which condition a
SIP outcome means.

The checks reuse the seed endpoint's (``callforward``) where the contract says "as the
seed endpoint's": rows 1 to 3, 6 to 8 and 10 to 16 are the same functions, with rows 4
and 5 (``condition``) and 9 (``ringSeconds``) between them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from renvoi.domain.callforward import (
    ALREADY,
    SUCCESS,
    NextHops,
    NumberState,
    check_loop,
    check_number,
    check_param,
    parse_type,
    require,
)
from renvoi.domain.codes import Code
from renvoi.domain.modes import OFF, RING_SECONDS, Condition, Fallbacks, Mode, Setting
from renvoi.errors import ContractError

# RFC 5806's reason for each condition, in the Diversion entry renvoi adds.
DIVERSION_REASON: dict[Condition, str] = {
    Condition.BUSY: "user-busy",
    Condition.NO_ANSWER: "no-answer",
    Condition.UNAVAILABLE: "unavailable",
}
CONDITION_OF_REASON = {reason: condition for condition, reason in DIVERSION_REASON.items()}

# The primary destination's final answers that mean busy, and unavailable.
BUSY_STATUSES = frozenset({486, 600})
UNAVAILABLE_STATUSES = frozenset({408, 480, 502, 503, 504})
# A primary destination that sends no answer at all within this time is unavailable.
NO_RESPONSE_SECONDS = 8


def condition_of(status: int, *, timed_out: bool, replied: bool) -> Condition | None:
    """The condition a failed primary destination is in, or None (no fallback then).

    Args:
        status: its final status (the proxy's own 408 when it timed out).
        timed_out: the proxy gave up waiting for it (``NO_RESPONSE_SECONDS`` with no
            answer at all, or the ring time after a provisional one).
        replied: it sent at least a provisional answer.
    """
    if timed_out:
        return Condition.NO_ANSWER if replied else Condition.UNAVAILABLE
    if status in BUSY_STATUSES:
        return Condition.BUSY
    if status in UNAVAILABLE_STATUSES:
        return Condition.UNAVAILABLE
    return None


@dataclass(frozen=True)
class FallbackCommand:
    """A request that passed checks 1 to 11: the number as sent, the condition, the
    fallback wanted, and the ring time asked for (None: keep the current one)."""

    number: str
    condition: Condition
    wanted: Setting
    ring_seconds: int | None = None


def parse_condition(value: object) -> Condition:
    """Checks 4 and 5: ``condition`` is one of the three values, spelled exactly.

    Raises:
        ContractError: code 21 (required, or not valid).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ContractError(Code.CONDITION, detail="condition_required")
    condition = Condition.named(value)
    if condition is None:
        raise ContractError(Code.CONDITION)
    return condition


def parse_ring_seconds(fields: Mapping[str, object], condition: Condition) -> int | None:
    """Check 9: ``ringSeconds``, when present, is an integer 5 to 120 (or a string holding
    one), and only with ``noAnswer``. Absent (or ``null``, or empty) is None.

    Raises:
        ContractError: code 22.
    """
    value = fields.get("ringSeconds")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if condition is not Condition.NO_ANSWER:
        raise ContractError(Code.RING_TIME)
    seconds: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 3:
        seconds = int(value)
    if seconds is None or seconds not in RING_SECONDS:
        raise ContractError(Code.RING_TIME)
    return seconds


def parse_fallback(
    fields: Mapping[str, object], *, region: str, refused: frozenset[int]
) -> FallbackCommand:
    """Checks 3 to 11 of the conditional endpoint, in the contract's order.

    Raises:
        ContractError: code 5, 21, 6, 7, 8, 22, 9 or 12.
    """
    number = require(fields, "number", Code.NUMBER_REQUIRED)
    condition = parse_condition(fields.get("condition"))
    mode = parse_type(fields.get("type"), present="type" in fields)
    param = None if mode is Mode.OFF else require(fields, "param", Code.PARAM_REQUIRED)
    ring_seconds = parse_ring_seconds(fields, condition)
    if param is None:
        return FallbackCommand(number, condition, OFF, ring_seconds)
    wanted = check_param(mode, param, number, region=region, refused=refused)
    return FallbackCommand(number, condition, wanted, ring_seconds)


def decide_fallback(
    state: NumberState | None,
    command: FallbackCommand,
    *,
    account_id: str,
    next_hops: NextHops,
) -> tuple[Code, Fallbacks]:
    """Checks 12 to 19 on the number's current state; returns the success code and
    the number's fallbacks once changed.

    Raises:
        ContractError: code 13, 15, 14, 12 (loop), 16, 17 or 18.
    """
    state = check_number(state, account_id)
    wanted = command.wanted
    if wanted.mode is Mode.FORWARD:
        assert wanted.param is not None  # parse_fallback guarantees it
        check_loop(state.number, wanted.param, account_id, next_hops)
    current = state.fallbacks
    if wanted.mode is Mode.OFF:
        # Removing a fallback keeps the ring time for the next one.
        ring_seconds = current.ring_seconds
    else:
        ring_seconds = command.ring_seconds or current.ring_seconds
    if current.of(command.condition) == wanted and current.ring_seconds == ring_seconds:
        raise ContractError(ALREADY[wanted.mode])
    return SUCCESS[wanted.mode], current.with_(command.condition, wanted, ring_seconds)
