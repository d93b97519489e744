"""The contract's rate limits (code 19), kept in this process.

Two kinds of bucket (``domain.ratelimit.TokenBucket``): one per API key (default 50/s,
bursts of 200), and one per client address that counts unknown keys only (default 30 in
a burst). When an address's bucket is empty, every request from it is refused, whatever
its key, until the bucket refills a token.

Limits are per process: with N workers or N nodes a key gets up to N times its rate. That
is the price of keeping the request path off the network; an installation that needs a
global limit puts it in its load balancer.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from renvoi.config import Settings
from renvoi.domain.ratelimit import TokenBucket
from renvoi.errors import RateLimitedError

# Past this many buckets, full (idle) ones are dropped so that memory stays bounded.
_SWEEP_AT = 10_000


class Limiter:
    """Per-key and per-address buckets.

    Args:
        settings: the rates and bursts.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._key_rate = settings.rate_key_per_second
        self._key_burst = float(settings.rate_key_burst)
        self._bad_rate = settings.rate_bad_key_per_second
        self._bad_burst = float(settings.rate_bad_key_burst)
        self._keys: dict[str, TokenBucket] = {}
        self._addresses: dict[str, TokenBucket] = {}

    def check_address(self, address: str) -> None:
        """Refuse every request from an address that has sent too many unknown keys.

        Raises:
            RateLimitedError: code 19.
        """
        bucket = self._addresses.get(address)
        now = self._clock()
        if bucket is not None and not bucket.available(now):
            raise RateLimitedError(bucket.retry_after(now))

    def bad_key(self, address: str) -> None:
        """Count an unknown key from ``address``."""
        now = self._clock()
        bucket = self._addresses.get(address)
        if bucket is None:
            self._sweep(self._addresses, now)
            bucket = TokenBucket.full(rate=self._bad_rate, burst=self._bad_burst, now=now)
            self._addresses[address] = bucket
        bucket.take(now)

    def check_key(self, key_id: str) -> None:
        """Take a token for a known key.

        Raises:
            RateLimitedError: code 19.
        """
        now = self._clock()
        bucket = self._keys.get(key_id)
        if bucket is None:
            self._sweep(self._keys, now)
            bucket = TokenBucket.full(rate=self._key_rate, burst=self._key_burst, now=now)
            self._keys[key_id] = bucket
        if not bucket.take(now):
            raise RateLimitedError(bucket.retry_after(now))

    @staticmethod
    def _sweep(buckets: dict[str, TokenBucket], now: float) -> None:
        if len(buckets) >= _SWEEP_AT:
            for name in [name for name, bucket in buckets.items() if bucket.is_full(now)]:
                del buckets[name]
