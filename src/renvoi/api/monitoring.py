"""``GET /metrics``: the node's figures in Prometheus's text format (integrations.md),
for a scraper on this machine, or one presenting ``RENVOI_METRICS_TOKEN``."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from renvoi import metrics
from renvoi.api.deps import (
    ServicesDep,
    bearer_matches,
    check_address,
    count_bad_key,
    from_this_machine,
)
from renvoi.errors import StoreError
from renvoi.store import voicemail

log = structlog.get_logger("renvoi.metrics")

router = APIRouter(tags=["monitoring"])


@router.get("/metrics", include_in_schema=False)
async def get_metrics(request: Request, services: ServicesDep) -> Response:
    """Every process's counts, and the outbox's backlog read now. A caller that is
    neither on this machine (directly) nor holding the token gets 401, counted against
    its address like an unknown API key."""
    if not from_this_machine(request):
        check_address(services, request)
        token = services.settings.metrics_token
        if token is None or not bearer_matches(request.headers.get("authorization"), token):
            count_bad_key(services, request)
            raise HTTPException(401, headers={"WWW-Authenticate": "Bearer"})
    metrics.prime(request.app.counted_paths)  # every series, whichever process answers
    try:
        backlog = await run_in_threadpool(voicemail.backlog, services.db, datetime.now(UTC))
    except StoreError as exc:
        # The counts matter most when the database is down: they are answered without
        # the backlog, which only the database knows (the code-20 count tells why).
        log.warning("metrics_without_backlog", error=str(exc))
        backlog = None
    return Response(metrics.exposition(backlog), media_type=metrics.CONTENT_TYPE)
