"""``GET /metrics`` (integrations.md): the contract's metrics with the right labels, every
series from start-up, who may read them, and a node's processes summed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from renvoi import metrics
from renvoi.api.app import create_app
from renvoi.config import Settings
from renvoi.store import voicemail
from renvoi.store.database import Database
from tests.harness import Tenant, start_server

TOKEN = "metrics-token-for-the-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
A = "+33757000001"
URL = "/v1/vn/callforward"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def watched(database_url: str, database: Database) -> Iterator[TestClient]:
    settings = Settings(database_url=database_url, metrics_token=TOKEN)
    with TestClient(create_app(settings, db=database)) as client:
        yield client


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


def test_requests_and_changes_are_counted_with_their_endpoint_and_code(
    watched: TestClient, tenant: Tenant
) -> None:
    before = scrape(watched)
    change = {"apiKey": tenant.key, "number": A, "type": 1, "param": "0612345678"}
    assert watched.post(URL, json=change).json()["code"] == 1
    assert watched.post(URL, json=change).json()["code"] == 16
    assert watched.post(URL + "?_format=xml", json={**change, "type": 0}).status_code == 200
    fallback = {**change, "condition": "noAnswer", "type": 2, "param": "ann@example.com"}
    assert watched.post(URL + "/conditional", json=fallback).json()["code"] == 3
    assert watched.get(URL, params={"apiKey": tenant.key, "number": A}).json()["code"] == 200
    assert watched.get("/v1/vn/history/nowhere").status_code == 404
    after = scrape(watched)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "renvoi_api_requests_total"
    assert grew(requests, endpoint=URL, code="1") == 1
    assert grew(requests, endpoint=URL, code="16") == 1
    assert grew(requests, endpoint=URL, code="2") == 1  # read from the XML form
    assert grew(requests, endpoint=URL + "/conditional", code="3") == 1
    assert grew(requests, endpoint=URL, code="200") == 1
    assert grew(requests, endpoint=metrics.UNMATCHED, code="4") == 1
    changes = "renvoi_forwarding_changes_total"
    assert grew(changes, type="1", condition="none") == 1
    assert grew(changes, type="0", condition="none") == 1
    assert grew(changes, type="2", condition="noAnswer") == 1
    duration = "renvoi_api_request_duration_seconds_count"
    assert grew(duration, endpoint=URL) == 4
    assert value(after, "renvoi_outbox_pending", channel="email") == 0


def test_every_series_exists_from_start_up(watched: TestClient) -> None:
    found = scrape(watched)
    for action in metrics.CALL_ACTIONS:
        for diverted in metrics.CONDITIONS:
            assert ("renvoi_calls_total", (("action", action), ("diverted", diverted))) in found
    for channel in metrics.CHANNELS:
        for result in metrics.NOTICE_RESULTS:
            key = ("renvoi_notifications_total", (("channel", channel), ("result", result)))
            assert key in found
        assert ("renvoi_outbox_oldest_seconds", (("channel", channel),)) in found
    for code in metrics.CODES:
        assert ("renvoi_api_requests_total", (("code", code), ("endpoint", URL))) in found
    assert ("renvoi_voicemail_messages_total", ()) in found


def test_the_backlog_is_the_outbox_read_at_the_scrape(
    watched: TestClient, database: Database, tenant: Tenant
) -> None:
    queued = datetime.now(UTC) - timedelta(minutes=10)
    with database.write() as conn:
        voicemail.queue_event(conn, tenant.account_id, '{"event":"x"}', at=queued)
    found = scrape(watched)
    assert value(found, "renvoi_outbox_pending", channel="webhook") == 1
    assert 590 < value(found, "renvoi_outbox_oldest_seconds", channel="webhook") < 3600


def test_strangers_get_401_and_the_token_opens(watched: TestClient) -> None:
    """The test client is no loopback caller: it needs the token."""
    assert watched.get("/metrics").status_code == 401
    wrong = watched.get("/metrics", headers={"Authorization": "Bearer wrong-token-here"})
    assert wrong.status_code == 401 and wrong.json()["success"] is False
    assert watched.get("/metrics", headers=AUTH).status_code == 200


@pytest.mark.slow
def test_two_workers_are_summed_and_a_proxied_caller_is_refused(
    database_url: str, database: Database, tenant: Tenant, tmp_path: Path
) -> None:
    """A real node with two workers: their counts come from both processes' files; on
    this machine a direct caller reads them, one whose request came through a proxy
    does not."""
    server = start_server(database_url, tmp_path, workers=2)
    try:
        with httpx2.Client(base_url=server.url) as client:
            for n in range(20):
                change = {
                    "apiKey": tenant.key,
                    "number": A,
                    "type": 1 - n % 2,
                    "param": "0612345678",
                }
                with httpx2.Client(base_url=server.url) as fresh:  # new connections
                    assert fresh.post(URL, json=change).json()["code"] in (1, 2)
            found = samples(client.get("/metrics").text)
            proxied = client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
        assert value(found, "renvoi_api_requests_total", endpoint=URL, code="1") == 10
        assert value(found, "renvoi_api_requests_total", endpoint=URL, code="2") == 10
        assert value(found, "renvoi_forwarding_changes_total", type="1", condition="none") == 10
        pids = {path.stem.rpartition("_")[2] for path in (tmp_path / "metrics").glob("*.db")}
        assert len(pids) >= 2  # each worker counts in a file of its own
        assert proxied.status_code == 401
    finally:
        server.stop()


def test_the_counts_are_answered_when_the_database_is_not(tmp_path: Path) -> None:
    """Monitoring matters most then: without the backlog, which only it knows."""
    settings = Settings(data_dir=tmp_path, metrics_token=TOKEN)  # never migrated
    with TestClient(create_app(settings)) as client:
        response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert "renvoi_api_requests_total" in response.text
    assert "renvoi_outbox_pending" not in response.text
