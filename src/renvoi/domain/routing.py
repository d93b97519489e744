"""What a call to a virtual number does (contract/voice.md, "What a call does").

The one mapping from a number's state to a SIP action, shared by the route endpoint that
Kamailio asks on every new INVITE. Kamailio holds no rule of its own: it applies the
``Route`` this module returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from renvoi.domain.conditions import CONDITION_OF_REASON, DIVERSION_REASON
from renvoi.domain.modes import NO_FALLBACKS, Condition, Fallbacks, Mode, Setting

# voice.md: a call already diverted this many times is a loop between platforms (482).
MAX_DIVERSIONS = 5
# Diversion headers longer than this (every value, joined) count as a loop: five real
# entries take a few hundred characters, and the proxy counts them character by
# character.
MAX_DIVERSION_TEXT = 4096

Action = Literal["forward", "voicemail", "normal", "reject"]
ACTIONS: tuple[Action, ...] = get_args(Action)


def action_named(value: str) -> Action | None:
    """The action spelled exactly ``value``, or None."""
    return value if value in ACTIONS else None


@dataclass(frozen=True)
class RouteState:
    """What routing needs to know of a number."""

    number: str
    suspended: bool
    voice: bool
    setting: Setting
    sip_destination: str | None
    fallbacks: Fallbacks = NO_FALLBACKS


@dataclass(frozen=True)
class Divert:
    """Where a call goes on a condition: the request URI, and the ``Diversion`` entry
    that says why (RFC 5806), put first."""

    uri: str
    diversion: str


@dataclass(frozen=True)
class Route:
    """The action for one call: a new request URI, or a final status.

    ``diversion`` is the value of the ``Diversion`` header to add (RFC 5806), if any.
    ``fallbacks`` are where the call goes when the destination does not take it, by
    condition (``contract/conditions.md``), and ``ring_seconds`` how long it rings
    before the no-answer one (0: no such fallback). ``diverted`` is set when the route
    is itself a fallback (a mode-0 number without a destination).
    """

    action: Action
    status: int = 0
    reason: str = ""
    uri: str | None = None
    diversion: str | None = None
    fallbacks: tuple[tuple[Condition, Divert], ...] = ()
    ring_seconds: int = 0
    diverted: Condition | None = None

    def fallback(self, condition: Condition) -> Divert | None:
        return next((divert for c, divert in self.fallbacks if c is condition), None)


@dataclass(frozen=True)
class SipTargets:
    """Where calls leave: ``host:port`` of the trunk, of the voicemail endpoint, and
    of the proxy itself (named in the Diversion header)."""

    trunk: str
    voicemail: str
    proxy: str


NOT_FOUND = Route("reject", 404, "Not Found")
LOOP = Route("reject", 482, "Loop Detected")
SUSPENDED = Route("reject", 403, "Forbidden")
UNAVAILABLE = Route("reject", 480, "Temporarily Unavailable")


_SIP_URI = re.compile(r"sips?:[^\s<>\"@]+(@[^\s<>\"]+)?")


def is_sip_uri(uri: str) -> bool:
    """Whether ``uri`` looks like a SIP or SIPS URI (RFC 3261 §19.1), with no spaces or
    characters that could break the header it is written into."""
    return _SIP_URI.fullmatch(uri) is not None


def count_diversions(header: str | None) -> int:
    """Entries in the ``Diversion`` header values (comma-separated, RFC 5806 §4),
    not counting commas inside ``<...>`` or quotes.

    Args:
        header: every ``Diversion`` header's value joined by commas, or None.
    """
    if header is not None and len(header) > MAX_DIVERSION_TEXT:
        return MAX_DIVERSIONS
    return len(split_header_list(header or ""))


def split_header_list(value: str) -> list[str]:
    """A SIP header value's comma-separated entries (RFC 3261 §7.3.1), not splitting on
    the commas inside ``<>`` or quotes; empty entries dropped."""
    parts: list[str] = []
    current: list[str] = []
    depth, quoted = 0, False
    for char in value:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            depth += 1
        elif not quoted and char == ">":
            depth = max(0, depth - 1)
        if char == "," and not quoted and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


@dataclass(frozen=True)
class Mailbox:
    """A voicemail call's mailbox: the number, and the address told of its messages."""

    number: str
    recipient: str


def _refused(state: RouteState | None) -> Route | None:
    """The refusal a number's state makes of any call, or None: an SMS-only number takes
    no calls (for the voice side it is not on the platform), a suspended one is 403."""
    if state is None or not state.voice:
        return NOT_FOUND
    if state.suspended:
        return SUSPENDED
    return None


def decide_route(state: RouteState | None, *, diversions: int, targets: SipTargets) -> Route:
    """The action for a new call to a number, with its fallbacks.

    Args:
        state: the number, or None when it is not on the platform.
        diversions: how many Diversion entries the INVITE carries already.
        targets: where forwarded and voicemail calls go.
    """
    if diversions >= MAX_DIVERSIONS:
        return LOOP
    return render(plan_of(state), state.number if state else "", targets)


@dataclass(frozen=True)
class Plan:
    """What any call to a number does, before the two things a plan leaves out: the
    call's own Diversion entries (the loop guard) and the installation's addresses.

    This is what Kamailio holds per number (``encode_plan``): each proxy applies it with
    its own trunk, voicemail and proxy addresses, as ``render`` does. ``target`` is the
    destination number of a forward, or the SIP URI of a normal call; ``fallbacks``
    the setting of each condition that has one.
    """

    action: Action
    status: int = 0
    reason: str = ""
    target: str | None = None
    fallbacks: tuple[tuple[Condition, Setting], ...] = ()
    ring_seconds: int = 0
    diverted: Condition | None = None


def _refusal(route: Route) -> Plan:
    return Plan("reject", route.status, route.reason)


def plan_of(state: RouteState | None) -> Plan:
    """The plan of a number's calls (None: not on the platform)."""
    refused = _refused(state)
    if refused is not None or state is None:
        return _refusal(refused or NOT_FOUND)
    setting = state.setting
    if setting.mode is Mode.VOICEMAIL:
        # Answered by itself: its fallbacks are kept, unused.
        return Plan("voicemail")
    fallbacks: tuple[tuple[Condition, Setting], ...] = ()
    ring_seconds = 0
    if state.fallbacks != NO_FALLBACKS:  # most numbers: nothing to build
        fallbacks = tuple(
            (condition, _leg(setting)) for condition, setting in state.fallbacks.set()
        )
        if state.fallbacks.no_answer.mode is not Mode.OFF:
            ring_seconds = state.fallbacks.ring_seconds
    if setting.mode is Mode.FORWARD and setting.param:
        return Plan("forward", target=setting.param, fallbacks=fallbacks, ring_seconds=ring_seconds)
    if state.sip_destination:
        return Plan(
            "normal", target=state.sip_destination, fallbacks=fallbacks, ring_seconds=ring_seconds
        )
    # No destination to ring: unavailable at once, and its fallback taken at once.
    fallback = state.fallbacks.unavailable
    if fallback.mode is Mode.OFF:
        return _refusal(UNAVAILABLE)
    leg = _leg(fallback)
    if leg.mode is Mode.FORWARD:
        return Plan("forward", target=leg.param, diverted=Condition.UNAVAILABLE)
    return Plan("voicemail", diverted=Condition.UNAVAILABLE)


def _leg(fallback: Setting) -> Setting:
    """Where a fallback takes a call, as a plan holds it: the number a forward goes to,
    or the number's own voicemail (its mailbox's address is the voicemail endpoint's
    business, not the proxy's)."""
    if fallback.mode is Mode.FORWARD and fallback.param:
        return fallback
    return Setting(Mode.VOICEMAIL, None)


def render(plan: Plan, number: str, targets: SipTargets) -> Route:
    """A plan applied with an installation's addresses: what Kamailio does with the
    plan it holds (``kamailio.cfg``, route ``DECIDE``)."""
    if plan.action == "reject":
        return Route("reject", plan.status, plan.reason)
    fallbacks = tuple(
        (condition, divert(number, condition, setting, targets))
        for condition, setting in plan.fallbacks
    )
    if plan.action == "normal":
        uri = plan.target or ""
        return Route("normal", uri=uri, fallbacks=fallbacks, ring_seconds=plan.ring_seconds)
    if plan.action == "forward":
        uri = _trunk(plan.target or "", targets)
    else:
        uri = f"sip:{number}@{targets.voicemail}"
    diversion = None  # the number's own voicemail: nothing diverted it
    if plan.action == "forward" or plan.diverted:
        reason = DIVERSION_REASON[plan.diverted] if plan.diverted else UNCONDITIONAL
        diversion = f"<sip:{number}@{targets.proxy}>;reason={reason}"
    return Route(
        plan.action,
        uri=uri,
        diversion=diversion,
        fallbacks=fallbacks,
        ring_seconds=plan.ring_seconds,
        diverted=plan.diverted,
    )


# A plan as Kamailio holds it: its fields joined by PLAN_SEPARATOR, in this order. A
# fallback is empty (none), VOICEMAIL_FALLBACK, or the number a forward goes to.
PLAN_SEPARATOR = "|"
PLAN_FIELDS = (
    "action",
    "status",
    "reason",
    "target",
    "ring_seconds",
    "busy",
    "no_answer",
    "unavailable",
    "diverted",
)
VOICEMAIL_FALLBACK = "voicemail"
UNCONDITIONAL = "unconditional"
_PLAN_CONDITIONS = tuple(Condition)  # the fields' order: the contract's


def encode_plan(plan: Plan) -> str:
    """The plan as one line for Kamailio's ``htable``. A separator in a SIP URI is sent
    percent-escaped (RFC 3261 §19.1.4: the same URI), so the fields split exactly."""
    fallbacks = dict(plan.fallbacks)
    fields = [
        plan.action,
        str(plan.status),
        plan.reason,
        (plan.target or "").replace(PLAN_SEPARATOR, "%7C"),
        str(plan.ring_seconds),
        *(_fallback_field(fallbacks.get(condition)) for condition in _PLAN_CONDITIONS),
        plan.diverted.value if plan.diverted else "",
    ]
    return PLAN_SEPARATOR.join(fields)


def _fallback_field(setting: Setting | None) -> str:
    if setting is None or setting.mode is Mode.OFF:
        return ""
    leg = _leg(setting)
    return leg.param if leg.mode is Mode.FORWARD and leg.param else VOICEMAIL_FALLBACK


def decode_plan(text: str) -> Plan:
    """``encode_plan``'s line read back, as Kamailio reads it (the reference for its
    configuration, in the tests).

    Raises:
        ValueError: not a line ``encode_plan`` writes.
    """
    fields = text.split(PLAN_SEPARATOR)
    if len(fields) != len(PLAN_FIELDS):
        raise ValueError(f"a plan has {len(PLAN_FIELDS)} fields: {text!r}")
    name, status, reason, target, ring, *fallbacks, diverted = fields
    action = action_named(name)
    if action is None:
        raise ValueError(f"no such action: {name!r}")
    settings = (
        (condition, _fallback_setting(field))
        for condition, field in zip(_PLAN_CONDITIONS, fallbacks, strict=True)
        if field
    )
    return Plan(
        action,
        int(status),
        reason,
        target.replace("%7C", PLAN_SEPARATOR) or None,
        tuple(settings),
        int(ring),
        Condition.named(diverted),
    )


def _fallback_setting(field: str) -> Setting:
    if field == VOICEMAIL_FALLBACK:
        return Setting(Mode.VOICEMAIL, None)
    return Setting(Mode.FORWARD, field)


def divert(number: str, condition: Condition, fallback: Setting, targets: SipTargets) -> Divert:
    """Where a call to ``number`` goes on ``condition``: the trunk for a forward, the
    voicemail endpoint (the number's own mailbox) for voicemail."""
    if fallback.mode is Mode.FORWARD and fallback.param:
        uri = _trunk(fallback.param, targets)
    else:
        uri = f"sip:{number}@{targets.voicemail}"
    reason = DIVERSION_REASON[condition]
    return Divert(uri, f"<sip:{number}@{targets.proxy}>;reason={reason}")


def _trunk(destination: str, targets: SipTargets) -> str:
    return f"sip:{destination}@{targets.trunk}"


def diversion_condition(entry: str) -> Condition | None:
    """The condition a ``Diversion`` entry's ``reason`` names (RFC 5806), or None."""
    _, _, params = entry.rpartition(">")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "reason":
            return CONDITION_OF_REASON.get(value.strip().strip('"').lower())
    return None


def mailbox_of(state: RouteState | None, condition: Condition | None = None) -> Mailbox | Route:
    """What the voicemail endpoint does with a call for this number: take a message into
    its mailbox (in mode 2; or, on ``condition``, for a voicemail fallback of that
    condition), or refuse it as ``decide_route`` would (404, 403), or with 480 when the
    number takes no message (any more)."""
    refused = _refused(state)
    if refused is not None or state is None:
        return refused or NOT_FOUND
    if state.setting.mode is Mode.VOICEMAIL and state.setting.param:
        return Mailbox(state.number, state.setting.param)
    if condition is not None:
        fallback = state.fallbacks.of(condition)
        if fallback.mode is Mode.VOICEMAIL and fallback.param:
            return Mailbox(state.number, fallback.param)
    return UNAVAILABLE
