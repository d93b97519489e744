"""The rate limiter's memory: idle buckets are forgotten, busy ones never, and a crowd of
addresses does not make each new one read all the others (``api/ratelimit.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from renvoi.api import ratelimit
from renvoi.api.app import create_app
from renvoi.api.ratelimit import Limiter
from renvoi.config import Settings
from renvoi.domain.ratelimit import TokenBucket
from renvoi.errors import RateLimitedError
from renvoi.store.database import Database


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limiter(tmp_path: Path, clock: Clock) -> Limiter:
    settings = Settings(data_dir=tmp_path, rate_bad_key_burst=3, rate_bad_key_per_second=1.0)
    return Limiter(settings, clock=clock)


def test_idle_buckets_are_forgotten_once_there_are_many(limiter: Limiter, clock: Clock) -> None:
    for i in range(ratelimit._SWEEP_AT):
        limiter.bad_key(f"10.0.{i // 256}.{i % 256}")
    assert limiter.held == ratelimit._SWEEP_AT
    clock.now += 60  # every bucket has refilled: nothing to remember
    limiter.bad_key("192.0.2.1")
    assert limiter.held == 1


def test_a_blocked_address_stays_blocked_among_a_crowd(limiter: Limiter) -> None:
    for _ in range(3):
        limiter.bad_key("192.0.2.1")
    for i in range(3 * ratelimit._SWEEP_AT):  # sweeps meanwhile; the clock stands still
        limiter.bad_key(f"2001:db8::{i:x}")
    with pytest.raises(RateLimitedError):
        limiter.check_address("192.0.2.1")
    limiter.check_address("192.0.2.2")  # never counted: not refused


def test_a_crowd_of_busy_addresses_is_swept_in_constant_time_each(
    limiter: Limiter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No address's bucket refills (the clock stands still), so no sweep forgets any:
    each bucket must still be read a bounded number of times, not once per newcomer
    (which would be 10,000 reads a new address past the first sweep)."""
    crowd = 5 * ratelimit._SWEEP_AT
    reads = 0
    full = TokenBucket.is_full

    def counted(bucket: TokenBucket, now: float) -> bool:
        nonlocal reads
        reads += 1
        assert reads <= 2 * crowd, "a sweep on every new bucket"
        return full(bucket, now)

    monkeypatch.setattr(TokenBucket, "is_full", counted)
    for i in range(crowd):
        limiter.bad_key(f"2001:db8::{i:x}")
    assert limiter.held == crowd  # all still counting against their address
    assert reads > 0  # the sweeps ran, and forgot nothing


@pytest.mark.parametrize(("forwarded", "warned"), [(None, True), ("198.51.100.7", False)])
def test_a_proxy_that_sends_no_client_address_is_named_when_locked_out(
    database_url: str, database: Database, forwarded: str | None, warned: bool
) -> None:
    """Behind a proxy that sends no ``X-Forwarded-For``, every customer shares its
    address, so its unknown keys lock them all out (the contract's per-address limit).
    The operator is told which proxy must send the header."""
    settings = Settings(database_url=database_url, forwarded_allow_ips="*", rate_bad_key_burst=2)
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    body = {"apiKey": "rv_unknown", "number": "+33757000001", "type": 0}
    with TestClient(create_app(settings, db=database)) as client, capture_logs() as logged:
        answers = [
            client.post("/v1/vn/callforward", json=body, headers=headers).status_code
            for _ in range(3)
        ]
    assert answers == [401, 401, 429]
    assert any(entry["event"] == "proxy_locked_out" for entry in logged) is warned
