"""What a user would write: FastAPI, a pydantic body, the SQLAlchemy ORM, no contract.

``NAIVE_DATABASE_URL=... uvicorn bench.references.naive:app``. The tutorial shape: a sync
endpoint (FastAPI runs it in its thread pool), a session per request, the key looked up by
its hash, the number loaded and updated, committed. None of the contract's checks (number
and destination parsing, fraud classes, loop refusal, history, rate limits, cache
invalidation): it does less than renvoi, on the same database and schema.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from renvoi.store.models import ApiKey, Number

engine = create_engine(os.environ["NAIVE_DATABASE_URL"], pool_size=16)
app = FastAPI()


class Change(BaseModel):
    apiKey: str
    number: str
    type: int
    param: str = ""


@app.post("/v1/vn/callforward")
def set_callforward(change: Change) -> dict[str, object]:
    digest = hashlib.sha256(change.apiKey.encode()).hexdigest()
    with Session(engine) as session, session.begin():
        key = session.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).one_or_none()
        if key is None:
            raise HTTPException(401)
        number = session.scalars(
            select(Number).where(Number.e164 == change.number, Number.account_id == key.account_id)
        ).one_or_none()
        if number is None:
            raise HTTPException(404)
        number.mode = change.type
        number.param = change.param or None
        number.updated_at = datetime.now(UTC)
    return {"success": True, "code": 1, "message": "Callforward enabled"}
