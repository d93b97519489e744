"""voice.md's call table, as a pure function: a number's state to a SIP action."""

from __future__ import annotations

from typing import Any

import pytest

from renvoi.domain.callforward import OFF, Mode, Setting
from renvoi.domain.routing import (
    Mailbox,
    RouteState,
    SipTargets,
    count_diversions,
    decide_route,
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
