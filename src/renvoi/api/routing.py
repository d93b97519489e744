"""``/internal/v1/``: what Kamailio asks on every call, and what it reports back.

Not for customers: answered to loopback clients, or to any client presenting
``RENVOI_ROUTE_TOKEN``. The route endpoint is on every call's path: its answer comes from
the route cache (``store/routecache.py``) and the decision from ``domain.routing``.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from starlette.responses import Response

from renvoi.api.deps import ServicesDep, bearer_matches, client_address
from renvoi.api.envelope import render
from renvoi.domain.numbers import normalize_number
from renvoi.domain.routing import NOT_FOUND, Route, count_diversions, decide_route

log = structlog.get_logger("renvoi.routing")


async def internal_caller(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """Kamailio, on loopback or with the route token."""
    token = services.settings.route_token
    if token is not None:
        if bearer_matches(authorization, token):
            return
    else:
        try:
            if ipaddress.ip_address(client_address(request)).is_loopback:
                return
        except ValueError:
            pass
    raise HTTPException(404)


router = APIRouter(
    prefix="/internal/v1", tags=["internal"], dependencies=[Depends(internal_caller)]
)


# Parsing a number with phonenumbers costs more than the rest of a cached look-up, and
# the same few numbers are called again and again: remember the parse (a pure function).
_e164 = functools.lru_cache(maxsize=65_536)(normalize_number)


def _route_body(route: Route) -> dict[str, object]:
    return {
        "action": route.action,
        "status": route.status,
        "reason": route.reason,
        "uri": route.uri or "",
        "diversion": route.diversion or "",
    }


@router.get("/route/{number}", summary="What a call to a number must do (Kamailio)")
async def route(
    number: str,
    services: ServicesDep,
    diversion: Annotated[str | None, Query(description="The INVITE's Diversion values.")] = None,
    call_id: Annotated[str | None, Query(description="The INVITE's Call-ID.")] = None,
    caller: Annotated[str | None, Query(description="The caller (From user).")] = None,
) -> Response:
    """The route of a new call: forward, voicemail, normal, or reject with a status.

    With ``call_id``, the call is recorded (behind the answer: ``store/calllog.py``)."""
    e164 = _e164(number, region=services.settings.default_region)
    state = await services.routes.lookup(e164) if e164 else None
    decision = decide_route(
        state, diversions=count_diversions(diversion), targets=services.sip_targets
    )
    if call_id and e164 and decision is not NOT_FOUND:
        services.call_log.routed(e164=e164, call_id=call_id, caller=caller, route=decision)
    log.info("route", number=e164 or number, action=decision.action, status=decision.status)
    return render(_route_body(decision))


CallId = Annotated[str, Query(min_length=1, max_length=255, description="The call's Call-ID.")]


@router.post("/calls/outcome", summary="A routed call's final status (Kamailio)")
async def call_outcome(
    services: ServicesDep, call_id: CallId, status: Annotated[int, Query(ge=100, le=699)]
) -> Response:
    """Record the final SIP status of a routed call."""
    services.call_log.outcome(call_id, status)
    return render({"ok": True})


@router.post("/calls/end", summary="A call hung up (Kamailio saw the BYE)")
async def call_end(services: ServicesDep, call_id: CallId) -> Response:
    """Record the end of the answered call with this Call-ID."""
    services.call_log.ended(call_id)
    return render({"ok": True})
