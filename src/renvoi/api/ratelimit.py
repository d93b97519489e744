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

# Buckets are swept (full, idle ones forgotten) once there are this many, and then
# whenever their number has doubled since the last sweep left them.
_SWEEP_AT = 10_000


class _Buckets:
    """Token buckets by name (an API key's id, a client address), all of one rate.

    Memory stays bounded by forgetting full buckets: forgetting one loses nothing, a
    new one starts full. A sweep reads every bucket, so it runs only once the number of
    buckets has doubled since the last one left them: a crowd of addresses, none idle
    long enough to be full, then costs each new bucket a constant share of the sweeps,
    not a read of every other bucket.
    """

    def __init__(self, *, rate: float, burst: float) -> None:
        self._rate = rate
        self._burst = burst
        self._held: dict[str, TokenBucket] = {}
        self._sweep_at = _SWEEP_AT

    def __len__(self) -> int:
        return len(self._held)

    def get(self, name: str) -> TokenBucket | None:
        return self._held.get(name)

    def of(self, name: str, now: float) -> TokenBucket:
        """``name``'s bucket: the one kept, or a new full one, kept from now on."""
        bucket = self._held.get(name)
        if bucket is not None:
            return bucket
        if len(self._held) >= self._sweep_at:
            for idle in [n for n, kept in self._held.items() if kept.is_full(now)]:
                del self._held[idle]
            self._sweep_at = max(_SWEEP_AT, 2 * len(self._held))
        bucket = TokenBucket.full(rate=self._rate, burst=self._burst, now=now)
        self._held[name] = bucket
        return bucket


class Limiter:
    """Per-key and per-address buckets.

    Args:
        settings: the rates and bursts.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._keys = _Buckets(
            rate=settings.rate_key_per_second, burst=float(settings.rate_key_burst)
        )
        self._addresses = _Buckets(
            rate=settings.rate_bad_key_per_second, burst=float(settings.rate_bad_key_burst)
        )

    @property
    def held(self) -> int:
        """How many buckets this process keeps (its memory)."""
        return len(self._keys) + len(self._addresses)

    def check_address(self, address: str) -> None:
        """Refuse every request from an address that has sent too many unknown keys.

        Raises:
            RateLimitedError: code 19.
        """
        bucket = self._addresses.get(address)
        now = self._clock()
        if bucket is not None and not bucket.available(now):
            raise RateLimitedError(bucket.retry_after(now))

    def bad_key(self, address: str) -> bool:
        """Count an unknown key from ``address``; say whether that locked it out."""
        now = self._clock()
        bucket = self._addresses.of(address, now)
        return bucket.take(now) and not bucket.available(now)

    def check_key(self, key_id: str) -> None:
        """Take a token for a known key.

        Raises:
            RateLimitedError: code 19.
        """
        now = self._clock()
        bucket = self._keys.of(key_id, now)
        if not bucket.take(now):
            raise RateLimitedError(bucket.retry_after(now))
