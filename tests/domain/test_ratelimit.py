"""Token bucket arithmetic with a clock passed in."""

from __future__ import annotations

from renvoi.domain.ratelimit import TokenBucket


def test_bucket_allows_a_burst_then_refuses() -> None:
    bucket = TokenBucket.full(rate=1.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after(0.0) == 1


def test_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket.full(rate=2.0, burst=2, now=0.0)
    assert bucket.take(0.0) and bucket.take(0.0)
    assert not bucket.available(0.2)
    assert bucket.available(0.5)
    assert bucket.is_full(100.0) and bucket.tokens == 2


def test_bucket_retry_after_rounds_up_slow_rates() -> None:
    bucket = TokenBucket.full(rate=0.5, burst=1, now=0.0)
    assert bucket.take(0.0)
    assert bucket.retry_after(0.0) == 2


def test_bucket_ignores_a_clock_going_back() -> None:
    bucket = TokenBucket.full(rate=1.0, burst=1, now=10.0)
    assert bucket.take(10.0)
    assert not bucket.take(5.0)
