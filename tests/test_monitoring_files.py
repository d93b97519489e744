"""``deploy/prometheus`` and ``deploy/grafana`` (integrations.md) speak of metrics that
exist: every name their queries use is one a node exposes (renvoi's, from a live app's
scrape) or one of Kamailio's, and the files are what Prometheus and Grafana load."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from renvoi.api.app import create_app
from renvoi.config import Settings
from renvoi.store.database import open_database
from renvoi.store.migrate import upgrade
from tests.api.test_metrics import AUTH, TOKEN

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
# A series name in PromQL: a metric, not a function (followed by "(") nor a label.
_NAME = re.compile(r"\b((?:renvoi|kamailio)_[a-zA-Z0-9_]+)\b(?!\s*\()")
# Kamailio's statistics the files use (xhttp_prom names every one kamailio_<group>_<name>,
# and the configuration's own gauges kamailio_<name>).
KAMAILIO = {"kamailio_core_rcv_requests_invite", "kamailio_routes_loaded"} | {
    f"kamailio_tmx_{answer}xx_transactions" for answer in range(2, 7)
}


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The series names a node exposes (histograms: their _bucket, _sum, _count)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("node"), metrics_token=TOKEN)
    upgrade(open_database(settings))
    with TestClient(create_app(settings)) as client:
        text = client.get("/metrics", headers=AUTH).text
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}


def names(query: str) -> set[str]:
    return set(_NAME.findall(query))


def test_the_scrape_configuration_has_both_jobs_and_the_rules() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"renvoi", "kamailio"}
    assert all(job["metrics_path"] == "/metrics" for job in jobs.values())
    assert config["rule_files"] == ["alerts.yml"]


def test_every_alert_asks_for_series_a_node_exposes(exposed: set[str]) -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {"RenvoiOutboxBacklogGrowing", "RenvoiCallsFailing", "RenvoiDatabaseUnavailable"} <= {
        rule["alert"] for rule in alerts
    }
    for rule in alerts:
        assert rule["expr"] and rule["annotations"]["summary"], rule["alert"]
        assert names(rule["expr"]) <= exposed | KAMAILIO, rule["alert"]


def test_every_dashboard_panel_asks_for_series_a_node_exposes(exposed: set[str]) -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "renvoi.json").read_text())
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    used: set[str] = set()
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            found = names(target["expr"])
            assert found and found <= exposed | KAMAILIO, (panel["title"], found - exposed)
            used |= found
    contract = {
        "renvoi_api_requests_total",
        "renvoi_api_request_duration_seconds_bucket",
        "renvoi_forwarding_changes_total",
        "renvoi_calls_total",
        "renvoi_voicemail_messages_total",
        "renvoi_notifications_total",
        "renvoi_outbox_pending",
        "renvoi_outbox_oldest_seconds",
    }
    assert contract <= used  # every metric of integrations.md has its panel
