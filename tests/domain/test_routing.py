"""voice.md's call table, as a pure function: a number's state to a SIP action."""

from __future__ import annotations

from typing import Any

import pytest

from renvoi.domain.modes import OFF, Condition, Fallbacks, Mode, Setting
from renvoi.domain.routing import (
    Divert,
    Mailbox,
    Route,
    RouteState,
    SipTargets,
    count_diversions,
    decide_route,
    diversion_condition,
    is_sip_uri,
    mailbox_of,
)

TARGETS = SipTargets(trunk="10.0.0.1:5080", voicemail="127.0.0.1:5070", proxy="127.0.0.1:5060")
N = "+33757000001"


def state(**changes: Any) -> RouteState:
    base: dict[str, Any] = {
        "number": N,
        "suspended": False,
        "voice": True,
        "setting": OFF,
        "sip_destination": None,
    }
    return RouteState(**{**base, **changes})


@pytest.mark.parametrize(
    ("current", "diversions", "expected"),
    [
        pytest.param(None, 0, ("reject", 404, None), id="not-on-platform"),
        pytest.param(state(voice=False), 0, ("reject", 404, None), id="sms-only"),
        pytest.param(state(suspended=True), 0, ("reject", 403, None), id="suspended"),
        pytest.param(state(), 0, ("reject", 480, None), id="mode-0-no-destination"),
        pytest.param(state(), 5, ("reject", 482, None), id="five-diversions"),
        pytest.param(
            state(sip_destination="sip:pbx.example"),
            0,
            ("normal", 0, "sip:pbx.example"),
            id="mode-0-normal",
        ),
        pytest.param(
            state(setting=Setting(Mode.FORWARD, "+33612345678")),
            4,
            ("forward", 0, "sip:+33612345678@10.0.0.1:5080"),
            id="forward",
        ),
        pytest.param(
            state(setting=Setting(Mode.VOICEMAIL, "a@example.com")),
            0,
            ("voicemail", 0, f"sip:{N}@127.0.0.1:5070"),
            id="voicemail",
        ),
    ],
)
def test_decide_route(current: RouteState | None, diversions: int, expected: Any) -> None:
    route = decide_route(current, diversions=diversions, targets=TARGETS)
    assert (route.action, route.status, route.uri) == expected


def test_forward_carries_an_unconditional_diversion() -> None:
    route = decide_route(
        state(setting=Setting(Mode.FORWARD, "+33612345678")), diversions=0, targets=TARGETS
    )
    assert route.diversion == f"<sip:{N}@127.0.0.1:5060>;reason=unconditional"


@pytest.mark.parametrize(
    ("header", "count"),
    [
        (None, 0),
        ("", 0),
        ("<sip:a@x>;reason=unconditional", 1),
        ("<sip:a@x>, <sip:b@y>", 2),
        ('"Doe, John" <sip:a@x>;reason=busy, <sip:b,c@y>', 2),
        ("<sip:a@x>>, <sip:b@y>", 2),
    ],
)
def test_count_diversions(header: str | None, count: int) -> None:
    assert count_diversions(header) == count


def test_is_sip_uri() -> None:
    assert is_sip_uri("sip:+33757000003@pbx.example:5060")
    assert is_sip_uri("sips:pbx.example")
    assert not is_sip_uri("http://x")
    assert not is_sip_uri("sip:a@b\r\nX: y")


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        pytest.param(None, 404, id="not-on-platform"),
        pytest.param(state(voice=False), 404, id="sms-only"),
        pytest.param(
            state(suspended=True, setting=Setting(Mode.VOICEMAIL, "a@example.com")),
            403,
            id="suspended-as-the-route-says",
        ),
        pytest.param(state(), 480, id="not-in-voicemail-mode"),
        pytest.param(
            state(setting=Setting(Mode.VOICEMAIL, "a@example.com")),
            Mailbox(N, "a@example.com"),
            id="voicemail",
        ),
    ],
)
def test_mailbox_of(current: RouteState | None, expected: object) -> None:
    """The voicemail endpoint's rule, the same as the route endpoint's for refusals."""
    found = mailbox_of(current)
    assert (found if isinstance(found, Mailbox) else found.status) == expected


# --- fallbacks (contract/conditions.md) ---------------------------------------------------

FORWARD_F = Setting(Mode.FORWARD, "+33612000002")
MAIL = Setting(Mode.VOICEMAIL, "ann@example.com")
ALL = Fallbacks(busy=FORWARD_F, no_answer=MAIL, unavailable=FORWARD_F, ring_seconds=25)
PROXY_N = f"<sip:{N}@127.0.0.1:5060>"


def test_a_ringing_destination_carries_every_fallback_with_its_reason() -> None:
    route = decide_route(
        state(setting=Setting(Mode.FORWARD, "+33612345678"), fallbacks=ALL),
        diversions=0,
        targets=TARGETS,
    )
    assert route.ring_seconds == 25
    assert route.fallback(Condition.BUSY) == Divert(
        "sip:+33612000002@10.0.0.1:5080", f"{PROXY_N};reason=user-busy"
    )
    assert route.fallback(Condition.NO_ANSWER) == Divert(
        f"sip:{N}@127.0.0.1:5070", f"{PROXY_N};reason=no-answer"
    )
    assert route.fallback(Condition.UNAVAILABLE) == Divert(
        "sip:+33612000002@10.0.0.1:5080", f"{PROXY_N};reason=unavailable"
    )
    assert route.diverted is None


def test_without_a_no_answer_fallback_the_call_rings_with_no_ring_time() -> None:
    route = decide_route(
        state(sip_destination="sip:pbx.example", fallbacks=Fallbacks(busy=MAIL, ring_seconds=9)),
        diversions=0,
        targets=TARGETS,
    )
    assert (route.action, route.ring_seconds) == ("normal", 0)
    assert [condition for condition, _ in route.fallbacks] == [Condition.BUSY]


def test_mode_2_answers_by_itself_and_keeps_its_fallbacks_unused() -> None:
    route = decide_route(state(setting=MAIL, fallbacks=ALL), diversions=0, targets=TARGETS)
    assert (route.action, route.fallbacks, route.ring_seconds) == ("voicemail", (), 0)


@pytest.mark.parametrize(
    ("fallback", "action", "uri"),
    [
        (FORWARD_F, "forward", "sip:+33612000002@10.0.0.1:5080"),
        (MAIL, "voicemail", f"sip:{N}@127.0.0.1:5070"),
    ],
)
def test_mode_0_without_a_destination_takes_its_unavailable_fallback_at_once(
    fallback: Setting, action: str, uri: str
) -> None:
    route = decide_route(
        state(fallbacks=Fallbacks(busy=MAIL, unavailable=fallback)), diversions=0, targets=TARGETS
    )
    assert (route.action, route.uri, route.diverted) == (action, uri, Condition.UNAVAILABLE)
    assert route.diversion == f"{PROXY_N};reason=unavailable"
    assert route.fallbacks == ()  # one level


def test_a_suspended_number_takes_no_fallback() -> None:
    route = decide_route(state(suspended=True, fallbacks=ALL), diversions=0, targets=TARGETS)
    assert (route.status, route.fallbacks) == (403, ())


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (None, 480),
        (Condition.BUSY, 480),  # busy forwards: no mailbox
        (Condition.NO_ANSWER, Mailbox(N, "ann@example.com")),
    ],
)
def test_a_voicemail_fallback_takes_a_message_for_its_condition_only(
    condition: Condition | None, expected: object
) -> None:
    found = mailbox_of(state(setting=FORWARD_F, fallbacks=ALL), condition)
    assert (found.status if isinstance(found, Route) else found) == expected


@pytest.mark.parametrize(
    ("entry", "condition"),
    [
        (f"{PROXY_N};reason=user-busy", Condition.BUSY),
        (f'{PROXY_N};counter=1;reason="no-answer"', Condition.NO_ANSWER),
        (f"{PROXY_N} ; Reason=Unavailable", Condition.UNAVAILABLE),
        (f"{PROXY_N};reason=unconditional", None),
        (PROXY_N, None),
        ("sip:+33757000001@x;reason=user-busy", Condition.BUSY),
    ],
)
def test_the_condition_a_diversion_entry_names(entry: str, condition: Condition | None) -> None:
    assert diversion_condition(entry) is condition
