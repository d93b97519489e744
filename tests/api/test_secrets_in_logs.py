"""API keys never reach the logs, whatever the request carries them in."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from renvoi.store.database import Database
from tests.harness import Tenant, start_server

pytestmark = pytest.mark.slow


def test_keys_are_not_logged_even_at_debug_level(
    database_url: str, database: Database, tenant: Tenant, tmp_path: Path
) -> None:
    server = start_server(database_url, tmp_path, extra_env={"RENVOI_LOG_LEVEL": "DEBUG"})
    wrong = "rv_" + "w" * 32
    try:
        api = server.url + "/v1/vn/callforward"
        for key in (tenant.key, wrong):
            httpx2.post(api, json={"apiKey": key, "number": "+33757000001", "type": 0})
            httpx2.post(api, data={"apiKey": key, "number": "+33757000001", "type": "x"})
            httpx2.get(api, params={"apiKey": key, "number": "+33757000001"})
            httpx2.get(api, params={"number": "+33757000001"}, headers={"X-Api-Key": key})
        httpx2.post(api, content=b'{"apiKey": "' + wrong.encode() + b'", broken')
    finally:
        server.stop()
    logged = server.log.read_text()
    assert '"path": "/v1/vn/callforward"' in logged  # the requests were logged
    assert tenant.key not in logged and wrong not in logged
    assert tenant.key[8:] not in logged  # nor a recognisable part of it
