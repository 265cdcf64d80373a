"""The Helm chart, rendered under pytest for its three values files (Airflow-style chart tests)."""

from __future__ import annotations

import base64
import importlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from api.warmup.scheduler_link import SchedulerLinkSettings
from contracts import Topic
from messaging import consumer_groups
from scheduler.settings import SchedulerSettings

if TYPE_CHECKING:
    from tests.deploy.conftest import Helm

# The first test of a fresh machine waits for the one-time tool builds (Helm: minutes).
pytestmark = [pytest.mark.deploy, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "mirage"
VALUES = ["default", "production", "minimal"]
PIPELINE = {"api", "ingest", "guard", "generator", "sender", "outreach", "scheduler", "analytics"}
PORTS = {
    "api": 8000,
    "ingest": 8001,
    "simulator": 8002,
    "guard": 8003,
    "generator": 8004,
    "sender": 8005,
    "outreach": 8006,
    "scheduler": 8007,
    "analytics": 8008,
}
# The settings class each component's process builds, to check the wiring end to end.
SETTINGS_CLASSES = {
    "api": "api.settings:ApiSettings",
    "ingest": "ingest.settings:IngestSettings",
    "guard": "guard.settings:GuardSettings",
    "generator": "generator.settings:GeneratorSettings",
    "sender": "sender.settings:SenderSettings",
    "outreach": "outreach.settings:OutreachSettings",
    "scheduler": "scheduler.settings:SchedulerSettings",
    "analytics": "analytics.settings:AnalyticsSettings",
    "simulator": "simulator.settings:SimulatorSettings",
}


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """The rendered objects of one kind, by name."""
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def kubeconform_args(kubeconform: Path, locations: list[str]) -> list[str | Path]:
    """kubeconform, strict, every error reported, against Kubernetes 1.37 and the CRD schemas."""
    args: list[str | Path] = [
        kubeconform,
        "-strict",
        "-summary",
        "-output",
        "json",
        "-kubernetes-version",
        "1.37.0",
    ]
    for location in locations:
        args += ["-schema-location", location]
    return args


def validate(
    helm: Helm, kubeconform: Path, locations: list[str], manifest: str, tmp_path: Path
) -> dict[str, Any]:
    """kubeconform's JSON report for one manifest file."""
    path = tmp_path / "rendered.yaml"
    path.write_text(manifest)
    result = helm.run([*kubeconform_args(kubeconform, locations), path])
    report: dict[str, Any] = json.loads(result.stdout)
    report["returncode"] = result.returncode
    return report


@pytest.mark.parametrize("values", VALUES)
def test_lint_strict(helm: Helm, values: str) -> None:
    result = helm.run([helm.binary, "lint", "--strict", helm.chart, *helm.values_args(values)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", VALUES)
def test_every_rendered_object_is_valid(
    helm: Helm, kubeconform: Path, schema_locations: list[str], values: str, tmp_path: Path
) -> None:
    manifest = helm.template_text(values)
    report = validate(helm, kubeconform, schema_locations, manifest, tmp_path)
    problems = [r for r in report["resources"] if r["status"] != "statusValid"]
    assert not problems, json.dumps(problems, indent=1)
    assert report["returncode"] == 0
    # Every object was checked against a schema: none was skipped for want of one.
    rendered = [doc for doc in yaml.safe_load_all(manifest) if doc]
    assert report["summary"]["valid"] == len(rendered)
    assert report["summary"]["skipped"] == 0


def test_validation_catches_a_misspelt_field(
    helm: Helm, kubeconform: Path, schema_locations: list[str], tmp_path: Path
) -> None:
    """The validation can fail: a typo in a Deployment and in a CloudNativePG Cluster are both reported."""
    docs = helm.template("production")
    deployment = next(doc for doc in docs if doc["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    cluster = next(doc for doc in docs if doc["kind"] == "Cluster")
    cluster["spec"]["instance"] = 3
    topic = next(doc for doc in docs if doc["kind"] == "KafkaTopic")
    topic["spec"]["replicas"] = "three"
    report = validate(helm, kubeconform, schema_locations, yaml.safe_dump_all(docs), tmp_path)
    invalid = {(r["kind"], r["name"]) for r in report["resources"] if r["status"] == "statusInvalid"}
    assert invalid == {
        ("Deployment", deployment["metadata"]["name"]),
        ("Cluster", cluster["metadata"]["name"]),
        ("KafkaTopic", topic["metadata"]["name"]),
    }


def test_values_schema_refuses_unknown_and_malformed_values(helm: Helm) -> None:
    assert "additional properties 'replica' not allowed" in helm.template_error(
        "default", "components.api.replica=3"
    )
    # CloudNativePG's schedules have six fields; a five-field cron would silently mean something else.
    assert "does not match pattern" in helm.template_error(
        "production", "postgres.backup.schedules.daily=0 3 * * *"
    )


@pytest.mark.parametrize("values", VALUES)
def test_one_deployment_per_enabled_service_with_probes_and_hardening(helm: Helm, values: str) -> None:
    docs = helm.template(values)
    deployments = by_kind(docs, "Deployment")
    components = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in deployments.values()}
    assert set(components) >= PIPELINE, sorted(components)
    for name, deployment in components.items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["command"] == ["python", "-m", f"{name}.main"]
        assert container["ports"] == [{"name": "http", "containerPort": PORTS[name], "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["resources"]["requests"]["cpu"]
        assert container["resources"]["limits"]["memory"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["securityContext"]["runAsNonRoot"] is True
        # The only writable place is /tmp, an emptyDir.
        assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
        assert pod["volumes"][0]["emptyDir"]


@pytest.mark.parametrize(
    ("values", "sets"),
    [*((v, ()) for v in VALUES), ("default", ("components.simulator.enabled=true",))],
    ids=[*VALUES, "default+simulator"],
)
def test_every_setting_reaches_the_service_settings(
    helm: Helm, values: str, sets: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Build each service's real settings class from exactly the environment its pod gets."""
    docs = helm.template(values, *sets)
    assert ("components.simulator.enabled=true" in sets) == any(
        d["metadata"]["name"] == "mirage-simulator" for d in by_kind(docs, "Deployment").values()
    )
    config_maps = by_kind(docs, "ConfigMap")
    secrets = by_kind(docs, "Secret")
    for deployment in by_kind(docs, "Deployment").values():
        name = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        environ: dict[str, str] = {}
        # An existing Secret (production) is not rendered: its values are the operator's to check.
        all_secrets_rendered = True
        for source in container["envFrom"]:
            if "configMapRef" in source:
                environ |= config_maps[source["configMapRef"]["name"]].get("data") or {}
            elif source["secretRef"]["name"] not in secrets:
                all_secrets_rendered = False
            else:
                secret = secrets[source["secretRef"]["name"]]
                environ |= secret.get("stringData") or {}
                environ |= {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        # Values from other Secrets (CloudNativePG's, Valkey's) stand in as placeholders.
        for var in container["env"]:
            environ[var["name"]] = var.get("value", f"from-{var['name'].lower()}")
        for key in [key for key in os.environ if key.startswith(("MIRAGE_", "OTEL_"))]:
            monkeypatch.delenv(key, raising=False)
        for key, value in environ.items():
            monkeypatch.setenv(key, value.replace("$(MIRAGE_VALKEY_PASSWORD)", "secret"))
        module, _, cls = SETTINGS_CLASSES[name].partition(":")
        settings = getattr(importlib.import_module(module), cls)()
        assert settings.runtime.port == PORTS[name]
        assert settings.runtime.host == "0.0.0.0"
        if hasattr(settings, "kafka"):
            assert settings.kafka.bootstrap_servers == environ["MIRAGE_KAFKA__BOOTSTRAP_SERVERS"]
        if hasattr(settings, "postgres"):
            assert settings.postgres.dsn.get_secret_value() == environ["MIRAGE_POSTGRES__DSN"]
        if hasattr(settings, "redis"):
            assert settings.redis.url.get_secret_value().startswith("redis://")
        if name == "api" and all_secrets_rendered and settings.runtime.environment != "development":
            assert settings.default_secrets_in_use() == []


def test_every_service_has_its_component() -> None:
    """Each package under services/ is a component of the default values (the chart, the image
    matrix and the CI/CD workflow cover the same services)."""
    services = {path.parent.name for path in (ROOT / "services").glob("*/pyproject.toml")}
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values["components"]) == services
    assert services == PIPELINE | {"simulator"}
    for name, component in values["components"].items():
        assert component["port"] == PORTS[name], name


def test_a_component_is_one_values_entry(helm: Helm) -> None:
    """A new service needs only a components entry: Deployment, Service, HPA, PDB, policy."""
    docs = helm.template("default", "components.billing.port=8010")
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"):
        assert "mirage-billing" in by_kind(docs, kind), kind
    container = by_kind(docs, "Deployment")["mirage-billing"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "billing.main"]
    assert {"name": "MIRAGE_BILLING_RUNTIME__PORT", "value": "8010"} in container["env"]


def test_a_component_can_turn_a_default_off(helm: Helm) -> None:
    """`false` in a component overrides `true` in `default:` (Sprig's mergeOverwrite would not)."""
    docs = helm.template("default", "components.ingest.pdb.enabled=false")
    assert "mirage-ingest" not in by_kind(docs, "PodDisruptionBudget")
    assert "mirage-guard" in by_kind(docs, "PodDisruptionBudget")


def test_migration_job_runs_before_install_and_upgrade(helm: Helm) -> None:
    docs = helm.template("default")
    job = by_kind(docs, "Job")["mirage-migrate"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["mirage-migrate", "upgrade"]
    assert container["env"][0]["valueFrom"]["secretKeyRef"] == {
        "name": "mirage-migrate",
        "key": "MIRAGE_POSTGRES__DSN",
    }
    # The DSN's Secret is itself a hook that exists before the Job (hooks precede the release's Secret).
    secret = by_kind(docs, "Secret")["mirage-migrate"]
    assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < 0


def test_existing_secret_replaces_the_chart_secret(helm: Helm) -> None:
    docs = helm.template("default", "secrets.existingSecret=mirage-prod")
    assert "mirage-secrets" not in by_kind(docs, "Secret")
    for deployment in by_kind(docs, "Deployment").values():
        refs = [
            s["secretRef"]["name"]
            for s in deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
            if "secretRef" in s
        ]
        assert refs == ["mirage-prod"]
    job = by_kind(docs, "Job")["mirage-migrate"]
    assert (
        job["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["name"]
        == "mirage-prod"
    )


def test_separate_ingresses_for_webhook_and_api(helm: Helm) -> None:
    ingresses = by_kind(helm.template("production"), "Ingress")
    backends = {
        name: ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
        for name, ing in ingresses.items()
    }
    assert backends == {"mirage-webhook": "mirage-ingest", "mirage-api": "mirage-api"}


def test_autoscaling_and_disruption_budgets(helm: Helm) -> None:
    docs = helm.template("production")
    hpas, scaled = by_kind(docs, "HorizontalPodAutoscaler"), by_kind(docs, "ScaledObject")
    # KEDA scales the generator on lag; its CPU HPA would fight KEDA's own, so there is none.
    assert "mirage-generator" in scaled
    assert "mirage-generator" not in hpas
    lag = scaled["mirage-generator"]["spec"]["triggers"][0]["metadata"]
    assert lag["topic"] == "reply.requested"
    assert lag["consumerGroup"] == "generator"
    assert lag["bootstrapServers"] == "mirage-kafka-kafka-bootstrap:9092"
    for name in ("mirage-api", "mirage-ingest", "mirage-guard", "mirage-sender"):
        assert hpas[name]["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        assert "replicas" not in by_kind(docs, "Deployment")[name]["spec"]
    assert set(by_kind(docs, "PodDisruptionBudget")) >= {"mirage-api", "mirage-ingest", "mirage-generator"}
    minimal = helm.template("minimal")
    assert not by_kind(minimal, "HorizontalPodAutoscaler")
    assert not by_kind(minimal, "PodDisruptionBudget")


def test_every_lag_trigger_watches_a_consumer_group_the_services_really_run(helm: Helm) -> None:
    """KEDA reads the lag of the group it is told: a name the services do not use scales nothing."""
    running = {(group.topic.value, group.group) for group in consumer_groups()}
    components = yaml.safe_load((CHART / "values.yaml").read_text())["components"]
    with_triggers = [
        name for name, values in components.items() if (values.get("keda") or {}).get("triggers")
    ]
    assert with_triggers
    docs = helm.template("production", *(f"components.{name}.keda.enabled=true" for name in with_triggers))
    scaled_objects = by_kind(docs, "ScaledObject")
    assert set(scaled_objects) == {f"mirage-{name}" for name in with_triggers}
    for name, scaled in scaled_objects.items():
        for trigger in (trigger for trigger in scaled["spec"]["triggers"] if trigger["type"] == "kafka"):
            watched = (trigger["metadata"]["topic"], trigger["metadata"]["consumerGroup"])
            assert watched in running, f"{name} scales on {watched}, which no service consumes as"


def test_production_kafka_topics_cover_every_contract_topic(helm: Helm) -> None:
    docs = helm.template("production")
    topics = by_kind(docs, "KafkaTopic")
    assert {t["spec"]["topicName"] for t in topics.values()} == {str(topic) for topic in Topic}
    for topic in topics.values():
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == 2
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "mirage-kafka"
    (pool,) = by_kind(docs, "KafkaNodePool").values()
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    (kafka,) = by_kind(docs, "Kafka").values()
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1"
    assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == 2


def test_production_postgres_archives_wal_and_backs_up_daily(helm: Helm) -> None:
    docs = helm.template("production")
    (cluster,) = by_kind(docs, "Cluster").values()
    (store,) = by_kind(docs, "ObjectStore").values()
    (plugin,) = cluster["spec"]["plugins"]
    assert plugin == {
        "name": "barman-cloud.cloudnative-pg.io",
        "isWALArchiver": True,
        "parameters": {"barmanObjectName": store["metadata"]["name"]},
    }
    assert "backup" not in cluster["spec"]  # the deprecated in-tree barmanObjectStore
    assert store["spec"]["configuration"]["destinationPath"].startswith("s3://")
    assert store["spec"]["retentionPolicy"] == "30d"
    (daily,) = by_kind(docs, "ScheduledBackup").values()
    assert daily["spec"]["method"] == "plugin"
    assert daily["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert daily["spec"]["schedule"] == "0 0 3 * * *"
    # The services and the migration read the application user's URI that CloudNativePG writes.
    job = by_kind(docs, "Job")["mirage-migrate"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    dsn_ref = job["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]
    assert dsn_ref == {"name": "mirage-pg-app", "key": "uri"}
    # Neither an uninstall nor turning the toggle off deletes the database or its backup settings.
    for obj in (cluster, store):
        assert obj["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_dsn_secret_switches_every_reader_to_a_restored_cluster(helm: Helm) -> None:
    """The runbook's switch-over after a point-in-time recovery (docs/runbooks/restore.md, step 6)."""
    docs = helm.template("production", "postgres.cluster.dsnSecret=mirage-pg-restore-app")
    job = by_kind(docs, "Job")["mirage-migrate"]["spec"]["template"]["spec"]["containers"][0]
    assert job["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "mirage-pg-restore-app"
    for deployment in by_kind(docs, "Deployment").values():
        env = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["MIRAGE_POSTGRES__DSN"]["valueFrom"]["secretKeyRef"]["name"] == "mirage-pg-restore-app"
    assert "mirage-pg" in by_kind(docs, "Cluster")  # the damaged cluster stays for the post-mortem


def test_production_valkey_is_persistent_and_password_protected(helm: Helm) -> None:
    docs = helm.template("production")
    valkey = by_kind(docs, "StatefulSet")["mirage-valkey"]
    args = valkey["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "--appendonly yes" in args
    assert "--requirepass" in args
    assert valkey["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "16Gi"
    api = by_kind(docs, "Deployment")["mirage-api"]["spec"]["template"]["spec"]["containers"][0]
    url = next(v["value"] for v in api["env"] if v["name"] == "MIRAGE_REDIS__URL")
    assert url == "redis://:$(MIRAGE_VALKEY_PASSWORD)@mirage-valkey:6379/0"


def test_network_policies_admit_ingress_only_where_exposed(helm: Helm) -> None:
    policies = by_kind(helm.template("production"), "NetworkPolicy")
    namespace_peers = {
        name: [peer for peer in p["spec"]["ingress"][0]["from"] if "namespaceSelector" in peer]
        for name, p in policies.items()
    }
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    assert len(namespace_peers["mirage-ingest"]) == 2  # the ingress controller's, Prometheus'
    assert len(namespace_peers["mirage-api"]) == 2
    # Not exposed: only Prometheus reaches them from another namespace.
    assert namespace_peers["mirage-guard"] == [monitoring]
    assert namespace_peers["mirage-sender"] == [monitoring]
    assert "mirage-valkey" in policies


def test_network_policies_admit_prometheus_only_to_components_it_scrapes(helm: Helm) -> None:
    policies = by_kind(
        helm.template("default", "serviceMonitor.enabled=true"),
        "NetworkPolicy",
    )
    peers = {name: p["spec"]["ingress"][0]["from"] for name, p in policies.items()}
    assert any("namespaceSelector" in peer for peer in peers["mirage-api"])
    assert not any("namespaceSelector" in peer for peer in peers["mirage-guard"])


def test_production_scrapes_every_component(helm: Helm) -> None:
    """The shipped alert rules read the consumers', the sender's and the generator's metrics."""
    docs = helm.template("production")
    monitors = by_kind(docs, "ServiceMonitor")
    assert set(monitors) == set(by_kind(docs, "Deployment"))
    assert {"mirage-guard", "mirage-sender", "mirage-generator", "mirage-analytics"} <= set(monitors)
    assert monitors["mirage-sender"]["spec"]["endpoints"][0]["path"] == "/metrics"


def test_service_monitor_only_for_components_with_metrics(helm: Helm) -> None:
    monitors = by_kind(helm.template("default", "serviceMonitor.enabled=true"), "ServiceMonitor")
    assert set(monitors) == {"mirage-api"}
    assert monitors["mirage-api"]["spec"]["endpoints"][0]["path"] == "/metrics"


def test_images_are_per_service_and_tagged_by_values(helm: Helm) -> None:
    docs = helm.template("default", "default.image.registry=ghcr.io/acme", "default.image.tag=abc123")
    images = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
        for d in by_kind(docs, "Deployment").values()
    }
    assert images["mirage-api"] == "ghcr.io/acme/mirage-api:abc123"
    assert images["mirage-sender"] == "ghcr.io/acme/mirage-sender:abc123"


def test_production_keeps_weekly_and_monthly_archives(helm: Helm) -> None:
    """barman's retention is one window; a CronJob keeps the first backup of each week and month."""
    docs = helm.template("production")
    cron = by_kind(docs, "CronJob")["mirage-pg-archives"]
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:2] == ["python3", "/scripts/archive_keeper.py"]
    assert container["command"][-2:] == ["s3://mirage-backups/production", "mirage-pg"]
    assert container["command"][2:6] == ["--weeks", "8", "--months", "12"]
    script = by_kind(docs, "ConfigMap")["mirage-pg-archive-keeper"]["data"]["archive_keeper.py"]
    assert script == (helm.chart / "files" / "archive_keeper.py").read_text()
    assert "mirage-pg-archives" not in by_kind(helm.template("default"), "CronJob")


def _environ_of(docs: list[dict[str, Any]], deployment: str) -> dict[str, str]:
    """A Deployment's environment from its ConfigMaps, rendered Secrets and `env` (secretKeyRefs resolved)."""
    config_maps, secrets = by_kind(docs, "ConfigMap"), by_kind(docs, "Secret")
    container = by_kind(docs, "Deployment")[deployment]["spec"]["template"]["spec"]["containers"][0]
    environ: dict[str, str] = {}
    for source in container["envFrom"]:
        if "configMapRef" in source:
            environ |= config_maps[source["configMapRef"]["name"]].get("data") or {}
    for var in container["env"]:
        if "value" in var:
            environ[var["name"]] = var["value"]
        elif "secretKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["secretKeyRef"]
            if ref["name"] in secrets:
                data = secrets[ref["name"]].get("data") or {}
                environ[var["name"]] = base64.b64decode(data[ref["key"]]).decode()
    return environ


@pytest.mark.parametrize("values", VALUES)
def test_api_ticks_reach_this_releases_scheduler_with_its_token(
    helm: Helm, values: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warm-up tick (docs/warmup.md): the api calls the scheduler Service's control route
    with the bearer token the scheduler checks, both read by the services' own settings classes."""
    docs = helm.template(values)
    service = by_kind(docs, "Service")["mirage-scheduler"]
    api_env = _environ_of(docs, "mirage-api")
    scheduler_env = _environ_of(docs, "mirage-scheduler")
    for key in [key for key in os.environ if key.startswith("MIRAGE_")]:
        monkeypatch.delenv(key, raising=False)
    for key, value in api_env.items():
        monkeypatch.setenv(key, value)
    link = SchedulerLinkSettings()
    assert link.url == f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    assert link.url == "http://mirage-scheduler:8007"
    for key in api_env:
        monkeypatch.delenv(key)
    for key, value in scheduler_env.items():
        monkeypatch.setenv(key, value)
    control = SchedulerSettings().control_token
    assert link.token is not None
    assert control is not None
    assert len(control.get_secret_value()) >= 32
    assert link.token.get_secret_value() == control.get_secret_value()


def test_scheduler_link_follows_the_values(helm: Helm) -> None:
    """An explicit URL wins; no scheduler, no link and no token; an existing Secret replaces the chart's."""
    docs = helm.template("default", "components.api.config.scheduler.url=http://elsewhere:9000")
    assert (
        by_kind(docs, "ConfigMap")["mirage-api"]["data"]["MIRAGE_API_SCHEDULER__URL"]
        == "http://elsewhere:9000"
    )
    docs = helm.template("default", "components.scheduler.enabled=false")
    assert "MIRAGE_API_SCHEDULER__URL" not in (by_kind(docs, "ConfigMap")["mirage-api"].get("data") or {})
    assert "mirage-scheduler-control" not in by_kind(docs, "Secret")
    api = by_kind(docs, "Deployment")["mirage-api"]["spec"]["template"]["spec"]["containers"][0]
    assert not [v for v in api["env"] if v["name"] == "MIRAGE_API_SCHEDULER__TOKEN"]
    docs = helm.template("production", "schedulerControl.token.existingSecret=mirage-control")
    assert "mirage-scheduler-control" not in by_kind(docs, "Secret")
    for deployment, var in (
        ("mirage-api", "MIRAGE_API_SCHEDULER__TOKEN"),
        ("mirage-scheduler", "MIRAGE_SCHEDULER_CONTROL_TOKEN"),
    ):
        env = by_kind(docs, "Deployment")[deployment]["spec"]["template"]["spec"]["containers"][0]["env"]
        (ref,) = [v["valueFrom"]["secretKeyRef"] for v in env if v["name"] == var]
        assert ref == {"name": "mirage-control", "key": "token"}
