"""deploy/observability: the Grafana dashboard and the Prometheus alert rules name only metrics
that some service really exports (each service's app is built and its registry read)."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

OBSERVABILITY = Path(__file__).resolve().parents[3] / "deploy" / "observability"
SERVICES = {
    "ingest": ("ingest.app", "ingest.settings", "IngestSettings"),
    "guard": ("guard.app", "guard.settings", "GuardSettings"),
    "generator": ("generator.app", "generator.settings", "GeneratorSettings"),
    "sender": ("sender.app", "sender.settings", "SenderSettings"),
    "api": ("api.app", "api.settings", "ApiSettings"),
    "analytics": ("analytics.app", "analytics.settings", "AnalyticsSettings"),
    "outreach": ("outreach.app", "outreach.settings", "OutreachSettings"),
    "scheduler": ("scheduler.app", "scheduler.settings", "SchedulerSettings"),
}
# Metrics the dashboards use that another change is adding. Listed here, the check expects
# them *not* to be exported yet, so an entry has to go once they are (none pending today).
PENDING: dict[str, str] = {}
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created", ""),
    "gauge": ("",),
    "info": ("_info",),
}
_METRIC = re.compile(r"\bmirage_[a-zA-Z0-9_:]+")


@pytest.fixture(scope="module")
def exported() -> dict[str, str]:
    """Every series name some service's `/metrics` can carry, and the service."""
    names: dict[str, str] = {}
    for service, (app_module, settings_module, settings_class) in SERVICES.items():
        settings = getattr(importlib.import_module(settings_module), settings_class)()
        app = importlib.import_module(app_module).create_app(settings)
        for family in app.state.host.registry.collect():
            for suffix in _SUFFIXES.get(family.type, ("",)):
                names[family.name + suffix] = service
    return names


def _expressions() -> list[tuple[str, str]]:
    rules = yaml.safe_load((OBSERVABILITY / "alerts.yaml").read_text())
    dashboard: dict[str, Any] = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    return [
        (f"alert {rule['alert']}", rule["expr"]) for group in rules["groups"] for rule in group["rules"]
    ] + [
        (f"panel {panel['title']}", target["expr"])
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


def test_every_expression_names_metrics_a_service_exports(exported: dict[str, str]) -> None:
    problems = []
    for where, expression in _expressions():
        metrics = set(_METRIC.findall(expression))
        if not metrics:
            problems.append(f"{where}: names no Mirage metric")
        problems += [
            f"{where}: {metric} is exported by no service"
            for metric in sorted(metrics - set(PENDING))
            if metric not in exported
        ]
    assert not problems, "\n".join(problems)


def test_pending_metrics_are_not_exported_yet(exported: dict[str, str]) -> None:
    landed = {metric: exported[metric] for metric in PENDING if metric in exported}
    assert not landed, f"{landed} are exported now: remove them from PENDING"


def test_the_rules_cover_what_an_operator_must_be_woken_for() -> None:
    rules = yaml.safe_load((OBSERVABILITY / "alerts.yaml").read_text())
    expressions = {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}
    wanted = {
        "mirage_consumer_stalled": "a stalled consumer",
        'mirage_consumer_records_total{outcome="dead_lettered"}': "dead letters growing",
        "mirage_outbox_age_seconds": "an old outbox",
        "mirage_sender_sends_total": "the send failure ratio",
        "mirage_instance_connected": "a disconnected number",
    }
    for fragment, meaning in wanted.items():
        assert any(fragment in expression for expression in expressions.values()), meaning
    for rule in (rule for group in rules["groups"] for rule in group["rules"]):
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert rule["annotations"]["summary"]


def test_the_dashboard_is_a_grafana_model_with_a_datasource_variable() -> None:
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    assert dashboard["uid"]
    assert dashboard["schemaVersion"] >= 36
    variables = {item["name"]: item for item in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
