"""Webhook URLs and event bodies (``domain/webhooks.py``)."""

from __future__ import annotations

import json

import pytest

from renvoi.domain.webhooks import FORWARDING_CHANGED, event_body, is_webhook_url


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.example/renvoi", True),
        ("http://127.0.0.1:9000/hook", True),
        ("ftp://hooks.example/renvoi", False),
        ("https://", False),
        ("hooks.example/renvoi", False),
        ("", False),
    ],
)
def test_a_webhook_is_an_http_url_with_a_host(url: str, ok: bool) -> None:
    assert is_webhook_url(url) is ok


def test_an_event_names_itself_first_in_compact_json() -> None:
    body = event_body(FORWARDING_CHANGED, number="+33757000001", param="é")
    assert body == '{"event":"forwarding.changed","number":"+33757000001","param":"é"}'
    assert json.loads(body)["event"] == "forwarding.changed"
