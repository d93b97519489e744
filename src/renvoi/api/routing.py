"""``/internal/v1/``: what Kamailio asks on every call, and what it reports back.

Not for customers, and not on the API's listener: ``internal_app`` is served on
``RENVOI_INTERNAL_LISTEN`` alone, where no proxy header is read, so no proxy in front of
the API can reach it. There it answers loopback clients, or any client presenting
``RENVOI_ROUTE_TOKEN`` when that is set (others get 404, as if it did not exist). The
route endpoint is on every call's path: its answer comes from the route shelf of the
state cache (``store/statecache.py``) and the decision from ``domain.routing``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

import orjson
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute
from starlette.types import ASGIApp

from renvoi import metrics
from renvoi.api import errors
from renvoi.api.bodies import MAX_BODY, read_body
from renvoi.api.deps import (
    Services,
    bearer_matches,
    from_this_machine,
    platform_number,
    services_of,
)
from renvoi.api.envelope import render
from renvoi.api.middleware import RequestContext
from renvoi.domain.modes import Condition
from renvoi.domain.routing import (
    NOT_FOUND,
    Route,
    action_named,
    count_diversions,
    decide_route,
)
from renvoi.errors import ContractError

log = structlog.get_logger("renvoi.routing")

# Longer Call-IDs are routed but not recorded (the column's width).
MAX_CALL_ID = 255
# A Call-ID never holds NUL (RFC 3261 §25.1), and PostgreSQL's text cannot: a Call-ID
# that holds it is routed but not recorded, a caller that holds it is recorded as
# unknown, a report that names it refuses its batch. Recorded, either failed its whole
# batch of call records on PostgreSQL, again at every try.
NUL = "\x00"


def _internal_caller(request: Request, services: Services) -> bool:
    """Kamailio: presenting the route token when one is set; else connected from
    loopback, directly (this listener reads no proxy header, and refuses a request that
    carries one)."""
    token = services.settings.route_token
    if token is not None:
        return bearer_matches(request.headers.get("authorization"), token)
    return from_this_machine(request)


# A route's action as renvoi_calls_total names it (integrations.md).
_COUNTED_AS = {
    "forward": "forward",
    "voicemail": "voicemail",
    "normal": "normal",
    "reject": "refused",
}


def _hidden() -> Response:
    """Not found: the internal API does not exist for other callers. A new Response per
    request: middleware adds headers to the one it is given."""
    return Response(status_code=404)


def _bad(why: str, *, status: int = 400) -> Response:
    return Response(orjson.dumps({"detail": why}), status, media_type="application/json")


def _recordable(call_id: str) -> bool:
    """A Call-ID that a call record can hold (the route's and the reports' one rule)."""
    return 0 < len(call_id) <= MAX_CALL_ID and NUL not in call_id


def _call_id(request: Request) -> str | None:
    value = request.query_params.get("call_id")
    return value if value is not None and _recordable(value) else None


def _caller(request: Request) -> str | None:
    value = request.query_params.get("caller")
    return value if value and NUL not in value else None


async def route(request: Request) -> Response:
    """``GET /internal/v1/route/{number}?call_id=&caller=&diversion=``: what a new call
    must do (forward, voicemail, normal, or reject with a status); with ``call_id`` the
    call is recorded, behind the answer (``store/calllog.py``)."""
    services = services_of(request)
    if not _internal_caller(request, services):
        return _hidden()
    number: str = request.path_params["number"]
    query = request.query_params
    e164, state = await platform_number(
        services.routes, number, region=services.settings.default_region
    )
    decision = decide_route(
        state, diversions=count_diversions(query.get("diversion")), targets=services.sip_targets
    )
    call_id = _call_id(request)
    if call_id and e164 and decision != NOT_FOUND:
        services.call_log.routed(
            e164=e164, call_id=call_id, caller=_caller(request), route=decision
        )
        if services.settings.metrics:
            metrics.calls.labels(_COUNTED_AS[decision.action], metrics.NO_DIVERSION).inc()
    log.info("route", number=e164 or number, action=decision.action, status=decision.status)
    return render(route_answer(decision))


def route_answer(route: Route) -> dict[str, object]:
    """The route endpoint's answer: flat, every field always there (Kamailio reads each
    with ``jansson_get``); a condition without a fallback has empty strings."""
    answer: dict[str, object] = {
        "action": route.action,
        "status": route.status,
        "reason": route.reason,
        "uri": route.uri or "",
        "diversion": route.diversion or "",
        "ring_seconds": route.ring_seconds,
        **_NO_FALLBACK,
    }
    for condition, divert in route.fallbacks:
        name = _FALLBACK_FIELD[condition]
        answer[name] = divert.uri
        answer[f"{name}_diversion"] = divert.diversion
    return answer


# The route answer's field for each condition's fallback (Kamailio's names), and those
# fields of a route without fallbacks.
_FALLBACK_FIELD = {
    Condition.BUSY: "busy",
    Condition.NO_ANSWER: "no_answer",
    Condition.UNAVAILABLE: "unavailable",
}
_NO_FALLBACK = {
    field: "" for name in _FALLBACK_FIELD.values() for field in (name, f"{name}_diversion")
}


@dataclass(frozen=True)
class CallReport:
    """One line of a batch of reports: a call's final status, its hang-up (``status``
    None), or the fallback it was taken to (``diverted``, and where)."""

    call_id: str
    status: int | None = None
    diverted: Condition | None = None
    diverted_to: str = ""
    routed: Routed | None = None


@dataclass(frozen=True)
class Routed:
    """A call's start as Kamailio routed it: to which number, from whom, and how."""

    e164: str
    caller: str | None
    route: Route


def parse_reports(body: bytes) -> list[CallReport] | None:
    """The reports of a batch, one per line: ``<status> <Call-ID>`` for a call's final
    status (100 to 699), ``end <Call-ID>`` for its hang-up, ``divert <condition> <URI>
    <Call-ID>`` for a fallback taken, ``route <E.164> <action> <status> <condition|->
    <URI|-> =<caller, URL-encoded> <Call-ID>`` for the start of a call Kamailio routed
    from its own memory. A Call-ID never holds a line break (RFC 3261
    §25.1), so lines need no escaping; it is the rest of the line. ``None`` if any line
    is bad: Kamailio writes them, so a bad one is a bug to see, not a report to guess
    at (logged)."""
    reports: list[CallReport] = []
    # Split on line feeds only: str.splitlines would also split a Call-ID at the
    # exotic separators (\x1c, \x85, \u2028...) that a caller may have put in it.
    for line in body.decode("utf-8", "replace").split("\n"):
        if not line:
            continue
        kind, _, rest = line.partition(" ")
        report = _report(kind, rest)
        if report is None or not _recordable(report.call_id):
            log.error("bad_call_report", line=line[:300])
            return None
        reports.append(report)
    return reports


def _report(kind: str, rest: str) -> CallReport | None:
    if kind == "route":
        return _routed(rest)
    if kind == "end":
        return CallReport(rest)
    if kind == "divert":
        name, _, rest = rest.partition(" ")
        uri, _, call_id = rest.partition(" ")
        condition = Condition.named(name)
        if condition is None or not uri or NUL in uri:
            return None
        return CallReport(call_id, diverted=condition, diverted_to=uri)
    if kind.isascii() and kind.isdigit() and 100 <= int(kind) <= 699:
        return CallReport(rest, status=int(kind))
    return None


def _routed(rest: str) -> CallReport | None:
    fields = rest.split(" ", 6)
    if len(fields) != 7:
        return None
    e164, action, status, diverted, uri, caller, call_id = fields
    known = action_named(action)
    if known is None or not status.isascii() or not status.isdigit() or not caller.startswith("="):
        return None
    condition = None if diverted == "-" else Condition.named(diverted)
    if condition is None and diverted != "-":
        return None
    if NUL in e164 or NUL in uri:  # written by renvoi: a bug to see
        return None
    route = Route(known, status=int(status), uri=None if uri == "-" else uri, diverted=condition)
    # The caller is whatever the From header said: recorded as unknown when it holds what
    # no record can, never a reason to refuse the batch it came in (as for the route).
    shown = unquote(caller[1:])
    return CallReport(
        call_id, routed=Routed(e164, shown if shown and NUL not in shown else None, route)
    )


async def call_reports(request: Request) -> Response:
    """``POST /internal/v1/calls/reports``: what became of routed calls, in batches.

    Kamailio queues each call's start, final status, fallback and hang-up and posts them
    from a timer process (``kamailio.cfg``, route ``REPORTS``), so that no worker waits
    on a report.
    """
    services = services_of(request)
    if not _internal_caller(request, services):
        return _hidden()
    try:
        body = await read_body(request)
    except ContractError:
        return _bad(f"at most {MAX_BODY} bytes of reports", status=413)
    reports = parse_reports(body)
    if reports is None:
        return _bad(
            "one report per line: '<status 100-699> <Call-ID>', 'end <Call-ID>', "
            "'divert <condition> <URI> <Call-ID>' or 'route <E.164> <action> <status> "
            "<condition|-> <URI|-> =<caller> <Call-ID>'"
        )
    for report in reports:
        if report.routed is not None:
            started = report.routed
            services.call_log.routed(
                e164=started.e164,
                call_id=report.call_id,
                caller=started.caller,
                route=started.route,
            )
            if services.settings.metrics:
                metrics.calls.labels(_COUNTED_AS[started.route.action], metrics.NO_DIVERSION).inc()
        elif report.diverted is not None:
            services.call_log.diverted(report.call_id, report.diverted, report.diverted_to)
            if services.settings.metrics:
                leg = (
                    "voicemail"
                    if services.sip_targets.voicemail in report.diverted_to
                    else "forward"
                )
                metrics.calls.labels(leg, report.diverted.value).inc()
        elif report.status is None:
            services.call_log.ended(report.call_id)
        else:
            services.call_log.outcome(report.call_id, report.status)
    return render({"reports": len(reports)})


def internal_app(services: Services) -> ASGIApp:
    """The internal listener's application: the two endpoints, sharing the API's
    services (caches, call log) in the same process.

    Plain Starlette routes, outside FastAPI's dependency injection and validation: they
    are on every call's path, and that machinery costs more than their work. Not in the
    OpenAPI page (customers never call them); docs/calls.md documents them.
    """
    app = Starlette(
        routes=[
            StarletteRoute("/internal/v1/route/{number}", route, methods=["GET"]),
            StarletteRoute("/internal/v1/calls/reports", call_reports, methods=["POST"]),
        ],
    )
    errors.install(app)  # the contract's envelope for faults: 503 and code 20
    app.state.services = services
    return RequestContext(app)
