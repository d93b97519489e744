"""FastAPI's native OpenTelemetry: off by default (RENVOI_OPENTELEMETRY), and when on, a
request whose query string carries an API key is never observed (a span records the
query)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace

from renvoi.api.app import create_app
from renvoi.config import Settings
from renvoi.store.database import Database
from tests.harness import Tenant

URL = "/v1/vn/callforward"


class Recording(trace.TracerProvider):
    """A process's set-up tracer provider, which keeps the attributes of each span."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []

    def get_tracer(self, *_args: Any, **_kwargs: Any) -> trace.Tracer:
        spans = self.spans

        class Tracer(trace.NoOpTracer):
            def start_span(self, name: str, *args: Any, **kwargs: Any) -> trace.Span:
                spans.append(dict(kwargs.get("attributes") or {}))
                return super().start_span(name, *args, **kwargs)

        return Tracer()


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Recording:
    recording = Recording()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: recording)
    return recording


def test_off_by_default_even_with_a_provider_set_up(
    settings: Settings, database: Database, tenant: Tenant, provider: Recording
) -> None:
    with TestClient(create_app(settings, db=database)) as client:
        body = client.get(
            URL, params={"number": tenant.numbers[0]}, headers={"X-Api-Key": tenant.key}
        )
        assert body.json()["code"] == 200
    assert provider.spans == []


def test_on_it_traces_requests_but_never_one_with_a_key_in_its_query(
    settings: Settings, database: Database, tenant: Tenant, provider: Recording
) -> None:
    observed = settings.model_copy(update={"opentelemetry": True})
    number = tenant.numbers[0]
    with TestClient(create_app(observed, db=database)) as client:
        headers = {"X-Api-Key": tenant.key}
        assert client.get(URL, params={"number": number}, headers=headers).json()["code"] == 200
        assert len(provider.spans) == 1
        assert provider.spans[0]["url.query"] == f"number=%2B{number[1:]}"
        for query in (f"apiKey={tenant.key}&number={number}", f"api%4Bey={tenant.key}"):
            client.get(f"{URL}?{query}")
    assert len(provider.spans) == 1
    assert all(tenant.key not in str(span) for span in provider.spans)
