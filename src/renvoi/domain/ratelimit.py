"""Token buckets: the arithmetic of the contract's rate limits (code 19), clock passed in.

A bucket holds up to ``burst`` tokens and gains ``rate`` a second; a request takes one.
The per-key limit (default 50/s, bursts of 200) and the per-address limit on unknown keys
(30 in a burst, then refusal until it refills) are both buckets; where they are kept is
the API's business (``api/ratelimit.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class TokenBucket:
    """A token bucket, full when created.

    Args:
        rate: tokens gained a second.
        burst: the most tokens it holds.
        now: the clock reading at creation (any monotonic seconds).
    """

    rate: float
    burst: float
    tokens: float
    stamp: float

    @classmethod
    def full(cls, *, rate: float, burst: float, now: float) -> TokenBucket:
        return cls(rate=rate, burst=burst, tokens=burst, stamp=now)

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def available(self, now: float) -> bool:
        """Whether a token is there, without taking it."""
        self._refill(now)
        return self.tokens >= 1.0

    def take(self, now: float) -> bool:
        """Take a token if there is one; say whether there was."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def retry_after(self, now: float) -> int:
        """Whole seconds until a token is back (the ``Retry-After`` value, at least 1)."""
        self._refill(now)
        missing = max(0.0, 1.0 - self.tokens)
        return max(1, math.ceil(missing / self.rate)) if self.rate > 0 else 3600

    def is_full(self, now: float) -> bool:
        """Whether the bucket has refilled, so that its holder may forget it."""
        self._refill(now)
        return self.tokens >= self.burst
