"""Fallbacks (contract/conditions.md) without I/O: the conditional endpoint's checks in
their order, its transitions, the loop walk through fallbacks, and which condition a
SIP outcome means."""

from __future__ import annotations

from typing import Any

import pytest

from renvoi.domain.callforward import Hop, NumberState, decide, forwards
from renvoi.domain.codes import Code
from renvoi.domain.conditions import (
    FallbackCommand,
    condition_of,
    decide_fallback,
    parse_fallback,
)
from renvoi.domain.modes import OFF, Condition, Fallbacks, Mode, Setting
from renvoi.domain.numbers import DEFAULT_REFUSED_TYPES, refused_types
from renvoi.errors import ContractError
from tests.domain.test_callforward import VIRTUAL, state

REFUSED = refused_types(DEFAULT_REFUSED_TYPES)
A, B, C = VIRTUAL, "+33757000002", "+33757000003"
MOBILE = "+33612345678"
FORWARD = Setting(Mode.FORWARD, MOBILE)
MAIL = Setting(Mode.VOICEMAIL, "ann@example.com")


def failure(call: Any) -> tuple[Code, str]:
    with pytest.raises(ContractError) as caught:
        call()
    return caught.value.code, caught.value.detail or caught.value.code.name


def parse(**fields: Any) -> FallbackCommand:
    return parse_fallback(fields, region="FR", refused=REFUSED)


GOOD = {"number": A, "condition": "busy", "type": 1, "param": MOBILE}


@pytest.mark.parametrize(
    ("fields", "code", "detail"),
    [
        pytest.param({**GOOD, "number": ""}, Code.NUMBER_REQUIRED, "NUMBER_REQUIRED", id="3"),
        pytest.param(
            {**GOOD, "number": None, "condition": None},
            Code.NUMBER_REQUIRED,
            "NUMBER_REQUIRED",
            id="3-before-4",
        ),
        pytest.param({**GOOD, "condition": None}, Code.CONDITION, "condition_required", id="4"),
        pytest.param(
            {**GOOD, "condition": " "}, Code.CONDITION, "condition_required", id="4-blank"
        ),
        pytest.param({**GOOD, "condition": "Busy"}, Code.CONDITION, "CONDITION", id="5-case"),
        pytest.param({**GOOD, "condition": "noanswer"}, Code.CONDITION, "CONDITION", id="5-case2"),
        pytest.param({**GOOD, "condition": 1}, Code.CONDITION, "CONDITION", id="5-integer"),
        pytest.param(
            {**GOOD, "condition": "x", "type": None}, Code.CONDITION, "CONDITION", id="5-before-6"
        ),
        pytest.param({**GOOD, "type": ""}, Code.TYPE_REQUIRED, "TYPE_REQUIRED", id="6"),
        pytest.param({**GOOD, "type": 3}, Code.TYPE_INVALID, "TYPE_INVALID", id="7"),
        pytest.param({**GOOD, "param": ""}, Code.PARAM_REQUIRED, "PARAM_REQUIRED", id="8"),
        pytest.param(
            {**GOOD, "param": "", "ringSeconds": 1},
            Code.PARAM_REQUIRED,
            "PARAM_REQUIRED",
            id="8-before-9",
        ),
        pytest.param({**GOOD, "ringSeconds": 20}, Code.RING_TIME, "RING_TIME", id="9-not-noanswer"),
        pytest.param(
            {**GOOD, "condition": "noAnswer", "ringSeconds": 4},
            Code.RING_TIME,
            "RING_TIME",
            id="9-short",
        ),
        pytest.param(
            {**GOOD, "condition": "noAnswer", "ringSeconds": 121},
            Code.RING_TIME,
            "RING_TIME",
            id="9-long",
        ),
        pytest.param(
            {**GOOD, "condition": "noAnswer", "ringSeconds": 20.5},
            Code.RING_TIME,
            "RING_TIME",
            id="9-float",
        ),
        pytest.param(
            {**GOOD, "condition": "noAnswer", "ringSeconds": True},
            Code.RING_TIME,
            "RING_TIME",
            id="9-bool",
        ),
        pytest.param(
            {**GOOD, "condition": "noAnswer", "ringSeconds": "2O"},
            Code.RING_TIME,
            "RING_TIME",
            id="9-letters",
        ),
        pytest.param(
            {**GOOD, "condition": "noAnswer", "ringSeconds": "-10"},
            Code.RING_TIME,
            "RING_TIME",
            id="9-negative",
        ),
        pytest.param(
            {**GOOD, "type": 2, "param": "nope", "ringSeconds": 1},
            Code.RING_TIME,
            "RING_TIME",
            id="9-before-10",
        ),
        pytest.param(
            {**GOOD, "type": 2, "param": "nope"}, Code.EMAIL_INVALID, "EMAIL_INVALID", id="10"
        ),
        pytest.param(
            {**GOOD, "param": "0899123456"},
            Code.FORWARD_INVALID,
            "FORWARD_INVALID",
            id="11-premium",
        ),
        pytest.param(
            {**GOOD, "param": "0757000001"}, Code.FORWARD_INVALID, "FORWARD_INVALID", id="11-itself"
        ),
    ],
)
def test_parse_checks_in_order(fields: dict[str, Any], code: Code, detail: str) -> None:
    assert failure(lambda: parse(**fields)) == (code, detail)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(GOOD, FallbackCommand(A, Condition.BUSY, FORWARD), id="busy-forward"),
        pytest.param(
            {
                **GOOD,
                "condition": "noAnswer",
                "type": "2",
                "param": "Ann@EXAMPLE.com",
                "ringSeconds": "25",
            },
            FallbackCommand(A, Condition.NO_ANSWER, Setting(Mode.VOICEMAIL, "Ann@example.com"), 25),
            id="noanswer-voicemail-ring-as-string",
        ),
        pytest.param(
            {**GOOD, "condition": "noAnswer", "ringSeconds": 5},
            FallbackCommand(A, Condition.NO_ANSWER, FORWARD, 5),
            id="ring-5",
        ),
        pytest.param(
            {**GOOD, "condition": "noAnswer", "ringSeconds": 120},
            FallbackCommand(A, Condition.NO_ANSWER, FORWARD, 120),
            id="ring-120",
        ),
        pytest.param(
            {**GOOD, "condition": "unavailable", "type": 0, "param": None, "ringSeconds": None},
            FallbackCommand(A, Condition.UNAVAILABLE, OFF),
            id="remove-null-is-absent",
        ),
        pytest.param(
            {**GOOD, "ringSeconds": ""},
            FallbackCommand(A, Condition.BUSY, FORWARD),
            id="empty-ring-is-absent",
        ),
    ],
)
def test_parse_accepts(fields: dict[str, Any], expected: FallbackCommand) -> None:
    assert parse(**fields) == expected


def no_hops(_number: str) -> list[Hop]:
    return []


def outcome(
    current: NumberState | None, command: FallbackCommand, hops: Any = no_hops
) -> Code | tuple[Code, Fallbacks]:
    try:
        return decide_fallback(current, command, account_id="acc_1", next_hops=hops)
    except ContractError as exc:
        return exc.code


BUSY_FORWARD = FallbackCommand(A, Condition.BUSY, FORWARD)
SET = Fallbacks(busy=FORWARD, no_answer=MAIL, ring_seconds=25)


@pytest.mark.parametrize(
    ("current", "command", "expected"),
    [
        pytest.param(None, BUSY_FORWARD, Code.NUMBER_NOT_FOUND, id="12-nowhere"),
        pytest.param(state(account_id="x"), BUSY_FORWARD, Code.NUMBER_NOT_FOUND, id="12-other"),
        pytest.param(state(suspended=True), BUSY_FORWARD, Code.NUMBER_DISABLED, id="13"),
        pytest.param(state(voice=False), BUSY_FORWARD, Code.NO_CALL_FORWARDING, id="14"),
        pytest.param(
            state(fallbacks=SET), BUSY_FORWARD, Code.ALREADY_FORWARDING, id="17-same-forward"
        ),
        pytest.param(
            state(fallbacks=SET),
            FallbackCommand(A, Condition.NO_ANSWER, MAIL),
            Code.ALREADY_VOICEMAIL,
            id="18-same-voicemail-ring-absent",
        ),
        pytest.param(
            state(fallbacks=SET),
            FallbackCommand(A, Condition.NO_ANSWER, MAIL, 25),
            Code.ALREADY_VOICEMAIL,
            id="18-same-voicemail-same-ring",
        ),
        pytest.param(
            state(fallbacks=SET),
            FallbackCommand(A, Condition.UNAVAILABLE, OFF),
            Code.ALREADY_DISABLED,
            id="19-none-to-remove",
        ),
        pytest.param(
            state(fallbacks=SET),
            FallbackCommand(A, Condition.NO_ANSWER, MAIL, 30),
            (Code.VOICEMAIL_ENABLED, Fallbacks(busy=FORWARD, no_answer=MAIL, ring_seconds=30)),
            id="ring-only-is-a-change",
        ),
        pytest.param(
            state(fallbacks=SET),
            FallbackCommand(A, Condition.NO_ANSWER, OFF),
            (Code.CALLFORWARD_DISABLED, Fallbacks(busy=FORWARD, ring_seconds=25)),
            id="remove-keeps-the-ring-time",
        ),
        pytest.param(
            state(),
            FallbackCommand(A, Condition.UNAVAILABLE, MAIL),
            (Code.VOICEMAIL_ENABLED, Fallbacks(unavailable=MAIL)),
            id="add-voicemail",
        ),
        pytest.param(
            state(setting=FORWARD),
            BUSY_FORWARD,
            (Code.CALLFORWARD_ENABLED, Fallbacks(busy=FORWARD)),
            id="fallback-may-equal-the-primary",
        ),
    ],
)
def test_decide_fallback(
    current: NumberState | None, command: FallbackCommand, expected: object
) -> None:
    assert outcome(current, command) == expected


def hops_of(graph: dict[str, list[str]], owners: dict[str, str] | None = None) -> Any:
    def next_hops(number: str) -> list[Hop]:
        return [Hop(to, (owners or {}).get(number, "acc_1")) for to in graph.get(number, [])]

    return next_hops


def loop_message(call: Any) -> str:
    with pytest.raises(ContractError) as caught:
        call()
    assert caught.value.code is Code.FORWARD_INVALID and caught.value.reason is not None
    return caught.value.reason.in_("en")


def test_a_fallback_that_leads_back_through_a_primary_forward_is_a_loop() -> None:
    """A busy→B while B forwards to A: refused on the conditional endpoint."""
    command = FallbackCommand(A, Condition.BUSY, Setting(Mode.FORWARD, B))
    hops = hops_of({B: [A]})
    message = loop_message(
        lambda: decide_fallback(state(), command, account_id="acc_1", next_hops=hops)
    )
    assert message == f"it would make a forwarding loop ({A} → {B} → {A})"


def test_a_primary_forward_that_leads_back_through_a_fallback_is_a_loop() -> None:
    """B→A on the seed endpoint while A's no-answer fallback goes to B: refused too."""
    hops = hops_of({A: [C], C: [B]})  # A's fallbacks forward to C, C's to B
    message = loop_message(
        lambda: decide(
            state(number=B), Setting(Mode.FORWARD, A), account_id="acc_1", next_hops=hops
        )
    )
    assert message == f"it would make a forwarding loop ({B} → {A} → {C} → {B})"


def test_the_walk_follows_every_forward_of_a_number() -> None:
    """A number with several fallbacks: the loop is found down the second one."""
    command = FallbackCommand(A, Condition.UNAVAILABLE, Setting(Mode.FORWARD, B))
    hops = hops_of({B: ["+33612000001", C], C: [A]})
    message = loop_message(
        lambda: decide_fallback(state(), command, account_id="acc_1", next_hops=hops)
    )
    assert message == f"it would make a forwarding loop ({A} → {B} → {C} → {A})"


def test_two_ways_to_one_number_are_no_loop() -> None:
    """B busy→C and B noAnswer→D, both D→E: a number reached twice is not a cycle."""
    command = FallbackCommand(A, Condition.BUSY, Setting(Mode.FORWARD, B))
    hops = hops_of({B: [C, "+33757000004"], C: ["+33757000005"], "+33757000004": ["+33757000005"]})
    assert outcome(state(), command, hops) == (
        Code.CALLFORWARD_ENABLED,
        Fallbacks(busy=Setting(Mode.FORWARD, B)),
    )


@pytest.mark.parametrize(
    ("status", "timed_out", "replied", "expected"),
    [
        (486, False, True, Condition.BUSY),
        (600, False, True, Condition.BUSY),
        (408, True, True, Condition.NO_ANSWER),
        (408, True, False, Condition.UNAVAILABLE),
        (408, False, True, Condition.UNAVAILABLE),
        (480, False, True, Condition.UNAVAILABLE),
        (502, False, False, Condition.UNAVAILABLE),
        (503, False, False, Condition.UNAVAILABLE),
        (504, False, False, Condition.UNAVAILABLE),
        (404, False, True, None),
        (487, False, True, None),
        (500, False, False, None),
        (603, False, True, None),
    ],
)
def test_condition_of_a_sip_outcome(
    status: int, timed_out: bool, replied: bool, expected: Condition | None
) -> None:
    assert condition_of(status, timed_out=timed_out, replied=replied) is expected


def test_fallbacks_as_the_read_extension_shows_them() -> None:
    assert Fallbacks().as_json() == {}
    shown = Fallbacks(busy=FORWARD, no_answer=MAIL, ring_seconds=25).as_json()
    assert shown == {
        "busy": {"type": 1, "param": MOBILE},
        "noAnswer": {"type": 2, "param": "ann@example.com", "ringSeconds": 25},
    }


def test_the_forwards_a_loop_walk_follows() -> None:
    """The primary forward and the forwarding fallbacks; voicemail leads nowhere."""
    fallbacks = Fallbacks(busy=Setting(Mode.FORWARD, B), no_answer=MAIL, unavailable=FORWARD)
    assert forwards(Setting(Mode.FORWARD, C), fallbacks) == [C, B, MOBILE]
    assert forwards(MAIL, Fallbacks()) == []
