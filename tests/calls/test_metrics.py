"""integrations.md through real calls: after API changes and calls through Kamailio,
renvoi's ``/metrics`` counts them with the right labels, and Kamailio's own statistics
answer on ``RENVOI_KAMAILIO_METRICS_LISTEN``."""

from __future__ import annotations

import httpx2
import pytest

from renvoi.store.database import Database
from tests.api.test_metrics import samples, value
from tests.calls.test_forwarding import A, answered_at, call, finished_calls, set_forwarding
from tests.harness import Tenant
from tests.harness.platform import Platform
from tests.test_monitoring_files import KAMAILIO

pytestmark = pytest.mark.slow


def test_calls_are_counted_and_kamailio_answers_the_scrape(
    platform: Platform, tenant: Tenant, database: Database
) -> None:
    set_forwarding(platform, tenant, type=1, param="06 12 34 56 78")
    carrier = answered_at(platform, platform.trunk_port, [r"^INVITE "])
    call(platform, A, 200)
    assert carrier.wait() == 0
    finished_calls(database, A, 1)

    found = samples(httpx2.get(platform.api + "/metrics").text)  # loopback, direct
    assert value(found, "renvoi_calls_total", action="forward", diverted="none") == 1
    assert value(found, "renvoi_calls_total", action="refused", diverted="none") == 0
    assert value(found, "renvoi_forwarding_changes_total", type="1", condition="none") == 1
    assert value(found, "renvoi_api_requests_total", endpoint="/v1/vn/callforward", code="1") == 1

    listen = platform.server.env["RENVOI_KAMAILIO_METRICS_LISTEN"]
    kamailio = httpx2.get(f"http://{listen}/metrics")
    assert kamailio.status_code == 200
    invites = [
        line.split()[1]
        for line in kamailio.text.splitlines()
        if line.startswith("kamailio_core_rcv_requests_invite ")
    ]
    assert invites and float(invites[0]) >= 1
    assert httpx2.get(f"http://{listen}/other").status_code == 404
    # deploy/'s queries name Kamailio's statistics as this Kamailio exposes them.
    exposed = {line.split()[0] for line in kamailio.text.splitlines() if line[:1] != "#" and line}
    assert KAMAILIO <= exposed
