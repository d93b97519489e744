"""``/internal/v1/``: what Kamailio asks on every call, and what it reports back.

Not for customers: answered to loopback clients, or to any client presenting
``RENVOI_ROUTE_TOKEN`` (others get 404, as if it did not exist). The route endpoint is on
every call's path: its answer comes from the route cache (``store/routecache.py``) and
the decision from ``domain.routing``.
"""

from __future__ import annotations

import functools
import ipaddress

import orjson
import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute

from renvoi.api.deps import Services, bearer_matches, client_address
from renvoi.api.envelope import render
from renvoi.domain.numbers import normalize_number
from renvoi.domain.routing import NOT_FOUND, count_diversions, decide_route

log = structlog.get_logger("renvoi.routing")


def _internal_caller(request: Request, services: Services) -> bool:
    """Kamailio: on loopback, or presenting the route token."""
    token = services.settings.route_token
    if token is not None:
        return bearer_matches(request.headers.get("authorization"), token)
    try:
        return ipaddress.ip_address(client_address(request)).is_loopback
    except ValueError:
        return False


# Parsing a number with phonenumbers costs more than the rest of a cached look-up, and
# the same few numbers are called again and again: remember the parse (a pure function).
_e164 = functools.lru_cache(maxsize=65_536)(normalize_number)


def _hidden() -> Response:
    """Not found: the internal API does not exist for other callers. A new Response per
    request: middleware adds headers to the one it is given."""
    return Response(status_code=404)


def _bad(why: str) -> Response:
    return Response(orjson.dumps({"detail": why}), 400, media_type="application/json")


def _call_id(request: Request) -> str | None:
    value = request.query_params.get("call_id")
    return value if value and len(value) <= 255 else None


async def route(request: Request) -> Response:
    """``GET /internal/v1/route/{number}?call_id=&caller=&diversion=``: what a new call
    must do (forward, voicemail, normal, or reject with a status); with ``call_id`` the
    call is recorded, behind the answer (``store/calllog.py``)."""
    services: Services = request.app.state.services
    if not _internal_caller(request, services):
        return _hidden()
    number: str = request.path_params["number"]
    query = request.query_params
    e164 = _e164(number, region=services.settings.default_region)
    state = await services.routes.lookup(e164) if e164 else None
    decision = decide_route(
        state, diversions=count_diversions(query.get("diversion")), targets=services.sip_targets
    )
    call_id = _call_id(request)
    if call_id and e164 and decision is not NOT_FOUND:
        services.call_log.routed(
            e164=e164, call_id=call_id, caller=query.get("caller"), route=decision
        )
    log.info("route", number=e164 or number, action=decision.action, status=decision.status)
    return render(
        {
            "action": decision.action,
            "status": decision.status,
            "reason": decision.reason,
            "uri": decision.uri or "",
            "diversion": decision.diversion or "",
        }
    )


async def call_outcome(request: Request) -> Response:
    """``POST /internal/v1/calls/outcome?call_id=&status=``: a routed call's final status."""
    services: Services = request.app.state.services
    if not _internal_caller(request, services):
        return _hidden()
    call_id, status = _call_id(request), request.query_params.get("status", "")
    if call_id is None or not status.isdigit() or not 100 <= int(status) <= 699:
        return _bad("call_id (1 to 255 characters) and status (100 to 699) are required")
    services.call_log.outcome(call_id, int(status))
    return render({"ok": True})


async def call_end(request: Request) -> Response:
    """``POST /internal/v1/calls/end?call_id=``: the answered call hung up (a BYE)."""
    services: Services = request.app.state.services
    if not _internal_caller(request, services):
        return _hidden()
    call_id = _call_id(request)
    if call_id is None:
        return _bad("call_id (1 to 255 characters) is required")
    services.call_log.ended(call_id)
    return render({"ok": True})


# Plain Starlette routes, outside FastAPI's dependency injection and validation: they
# are on every call's path (three requests a call), and measured, that machinery cost
# more than the work. Not in the OpenAPI page (customers never call them); the README's
# "Calls" section documents them.
routes = [
    StarletteRoute("/internal/v1/route/{number}", route, methods=["GET"]),
    StarletteRoute("/internal/v1/calls/outcome", call_outcome, methods=["POST"]),
    StarletteRoute("/internal/v1/calls/end", call_end, methods=["POST"]),
]
