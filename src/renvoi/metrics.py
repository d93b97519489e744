"""What an operator monitors renvoi with (integrations.md): counted in each process,
exposed in Prometheus's text format on scrape, summed over a node's processes.

Each process counts in memory, or, when ``PROMETHEUS_MULTIPROC_DIR`` is set (``renvoi
serve`` and ``renvoi voicemail serve`` set it before anything imports this module), in
a file of its own there, which a scrape reads with every other process's:
prometheus_client's multi-process mode. Every series exists from start-up at zero, so that
dashboards and alerts never meet a missing one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from renvoi.domain.codes import Code
from renvoi.domain.modes import Condition, Mode

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
NO_CODE = "none"  # an answer without the envelope (a recording, the docs, a 404 of Starlette)
NO_DIVERSION = "none"
UNMATCHED = "unmatched"  # a path no route serves: one series for them all
CHANNELS = ("email", "webhook")
CALL_ACTIONS = ("forward", "voicemail", "normal", "refused")
NOTICE_RESULTS = ("sent", "retry", "failed")
CONDITIONS = (NO_DIVERSION, *(condition.value for condition in Condition))
CODES = (*(str(int(code)) for code in Code), NO_CODE)

# Buckets from 100 µs (a cached read answers in well under a millisecond) to 10 s.
_LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip

api_requests = Counter(
    "renvoi_api_requests",
    "API requests answered, by route template and the contract's code.",
    ["endpoint", "code"],
)
api_duration = Histogram(
    "renvoi_api_request_duration_seconds",
    "Time to answer an API request, by route template.",
    ["endpoint"],
    buckets=_LATENCY_BUCKETS,
)
forwarding_changes = Counter(
    "renvoi_forwarding_changes",
    "Forwarding changes made, by new type and condition (none: the primary setting).",
    ["type", "condition"],
)
calls = Counter(
    "renvoi_calls",
    "Calls routed, by action; a fallback's leg by the condition that diverted it.",
    ["action", "diverted"],
)
kamailio_pushes = Counter(
    "renvoi_kamailio_pushes",
    "Changes pushed to a Kamailio, by node and result (ok, failed).",
    ["node", "result"],
)
voicemail_messages = Counter("renvoi_voicemail_messages", "Voicemail messages stored.")
notifications = Counter(
    "renvoi_notifications",
    "Notifications tried, by channel and result.",
    ["channel", "result"],
)


# The series of each request's labels, looked up once: ``labels()`` costs as much again
# as the count itself, on every request.
_requests: dict[tuple[str, str], Any] = {}
_durations: dict[str, Any] = {}


def count_request(endpoint: str, code: str, seconds: float) -> None:
    """An API request answered: its count and its time."""
    counted = _requests.get((endpoint, code))
    if counted is None:
        counted = _requests[endpoint, code] = api_requests.labels(endpoint, code)
    timed = _durations.get(endpoint)
    if timed is None:
        timed = _durations[endpoint] = api_duration.labels(endpoint)
    counted.inc()
    timed.observe(seconds)


def prime(endpoints: Iterable[str]) -> None:
    """Create every series at zero: each code of each endpoint, and the others'
    known label values."""
    for endpoint in (*endpoints, UNMATCHED):
        api_duration.labels(endpoint)
        for code in CODES:
            api_requests.labels(endpoint, code)
    for mode in Mode:
        for condition in CONDITIONS:
            forwarding_changes.labels(str(int(mode)), condition)
    for action in CALL_ACTIONS:
        for diverted in CONDITIONS:
            calls.labels(action, diverted)
    for channel in CHANNELS:
        for result in NOTICE_RESULTS:
            notifications.labels(channel, result)


def exposition(outbox: Mapping[str, tuple[int, float]] | None) -> bytes:
    """The text a scrape answers: every process's counts, and the outbox's backlog
    (``{channel: (pending, age of the oldest in seconds)}``) read at this scrape (None:
    the database could not say; the backlog's series are left out, not made up)."""
    if MULTIPROCESS_ENV in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        counted = generate_latest(registry)
    else:
        counted = generate_latest(REGISTRY)
    if outbox is None:
        return counted
    backlog = CollectorRegistry()
    backlog.register(_Backlog(outbox))
    return counted + generate_latest(backlog)


class _Backlog(Collector):
    """The outbox's gauges, from the database at scrape time: one reader for a node,
    whichever process answers the scrape."""

    def __init__(self, outbox: Mapping[str, tuple[int, float]]) -> None:
        self._outbox = outbox

    def collect(self) -> Iterable[GaugeMetricFamily]:
        pending = GaugeMetricFamily(
            "renvoi_outbox_pending", "Notifications waiting to be sent.", labels=["channel"]
        )
        oldest = GaugeMetricFamily(
            "renvoi_outbox_oldest_seconds",
            "Age of the oldest notification waiting to be sent (0: none waits).",
            labels=["channel"],
        )
        for channel in CHANNELS:
            count, age = self._outbox.get(channel, (0, 0.0))
            pending.add_metric([channel], count)
            oldest.add_metric([channel], age)
        yield pending
        yield oldest
