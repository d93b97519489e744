"""Health endpoints for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from renvoi.api.deps import ServicesDep
from renvoi.api.envelope import render
from renvoi.store.database import Database

router = APIRouter(tags=["health"])


@router.get("/health")
async def live() -> Response:
    """The process answers (liveness)."""
    return render({"status": "ok"})


def _ping(db: Database) -> None:
    with db.read() as conn:
        conn.execute(text("SELECT 1"))


@router.get("/health/ready")
async def ready(services: ServicesDep) -> Response:
    """The process can reach its database (readiness); 503 with code 20 otherwise."""
    await run_in_threadpool(_ping, services.db)  # StoreUnavailableError → 503 by the registry
    return render({"status": "ok", "database": "ok"})
