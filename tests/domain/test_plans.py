"""A number's plan as Kamailio holds it: written by renvoi, applied by the proxy with its
own addresses; the plan read back and applied must be the route renvoi decides."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renvoi.domain.modes import RING_SECONDS, Condition, Fallbacks, Mode, Setting
from renvoi.domain.routing import (
    MAX_DIVERSION_TEXT,
    MAX_DIVERSIONS,
    PLAN_FIELDS,
    PLAN_SEPARATOR,
    Plan,
    RouteState,
    SipTargets,
    count_diversions,
    decide_route,
    decode_plan,
    encode_plan,
    plan_of,
    render,
)

TARGETS = SipTargets(trunk="10.0.0.1:5080", voicemail="127.0.0.1:5070", proxy="127.0.0.1:5060")
N = "+33757000001"

destinations = st.sampled_from(["+33612345678", "+4915112345678", None])
settings = st.one_of(
    st.just(Setting(Mode.OFF, None)),
    st.builds(lambda to: Setting(Mode.FORWARD, to), destinations),
    st.just(Setting(Mode.VOICEMAIL, "ann@example.com")),
)
states = st.builds(
    RouteState,
    number=st.just(N),
    suspended=st.booleans(),
    voice=st.booleans(),
    setting=settings,
    sip_destination=st.sampled_from([None, "sip:pbx.example", "sip:a|b@pbx.example;x=1"]),
    fallbacks=st.builds(
        Fallbacks,
        busy=settings,
        no_answer=settings,
        unavailable=settings,
        ring_seconds=st.sampled_from([RING_SECONDS.start, 20, RING_SECONDS.stop - 1]),
    ),
)


@given(st.one_of(st.none(), states))
def test_a_plan_applied_is_the_route_renvoi_decides(state: RouteState | None) -> None:
    text = encode_plan(plan_of(state))
    assert len(text.split(PLAN_SEPARATOR)) == len(PLAN_FIELDS)
    assert "\n" not in text
    applied = render(decode_plan(text), N, TARGETS)
    assert applied == decide_route(state, diversions=0, targets=TARGETS)


def test_a_separator_in_a_sip_uri_travels_escaped() -> None:
    state = RouteState(N, False, True, Setting(Mode.OFF, None), "sip:a|b@pbx.example")
    text = encode_plan(plan_of(state))
    assert text.split(PLAN_SEPARATOR)[3] == "sip:a%7Cb@pbx.example"
    assert decode_plan(text).target == "sip:a|b@pbx.example"


def test_an_unavailable_number_with_a_voicemail_fallback_is_diverted_to_its_mailbox() -> None:
    fallbacks = Fallbacks(unavailable=Setting(Mode.VOICEMAIL, "ann@example.com"))
    state = RouteState(N, False, True, Setting(Mode.OFF, None), None, fallbacks)
    assert plan_of(state) == Plan("voicemail", diverted=Condition.UNAVAILABLE)
    assert encode_plan(plan_of(state)) == "voicemail|0|||0||||unavailable"


def test_a_ringing_number_keeps_each_fallback_in_its_plan() -> None:
    """Every kind of fallback read back as written (whatever hypothesis draws)."""
    fallbacks = Fallbacks(
        busy=Setting(Mode.VOICEMAIL, "ann@example.com"),
        unavailable=Setting(Mode.FORWARD, "+33612345678"),
    )
    state = RouteState(N, False, True, Setting(Mode.FORWARD, "+4915112345678"), None, fallbacks)
    text = encode_plan(plan_of(state))
    assert text == "forward|0||+4915112345678|0|voicemail||+33612345678|"
    assert decode_plan(text).fallbacks == (
        (Condition.BUSY, Setting(Mode.VOICEMAIL, None)),
        (Condition.UNAVAILABLE, Setting(Mode.FORWARD, "+33612345678")),
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("forward|0", id="too-few-fields"),
        pytest.param("ring|0|||0||||", id="no-such-action"),
    ],
)
def test_a_line_that_is_not_a_plan_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        decode_plan(text)


def test_diversion_headers_too_long_to_count_are_a_loop() -> None:
    """The proxy counts entries character by character: past this, it counts no more."""
    entry = "<sip:+33757000009@elsewhere.example>;reason=unconditional"
    assert count_diversions(",".join([entry] * 4)) == 4
    assert count_diversions(entry + ";x=" + "a" * MAX_DIVERSION_TEXT) == MAX_DIVERSIONS
