"""Webhook URLs, and the events renvoi posts to them."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

FORWARDING_CHANGED = "forwarding.changed"
VOICEMAIL_MESSAGE = "voicemail.message"


def is_webhook_url(url: str) -> bool:
    """An http:// or https:// URL with a host: what a webhook may be."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def event_body(event: str, **fields: Any) -> str:
    """An event as it is posted: compact JSON, ``event`` first."""
    return json.dumps({"event": event, **fields}, separators=(",", ":"), ensure_ascii=False)
