"""The CI/CD workflow (actionlint, built from the Go module proxy) and the deploy scripts."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

# The first test of a fresh machine waits for the one-time tool builds (Helm: minutes).
pytestmark = [pytest.mark.deploy, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
SCRIPTS = [
    ROOT / "deploy" / "tools" / "tool.sh",
    ROOT / "deploy" / "k8s-e2e" / "run.sh",
    ROOT / "deploy" / "k8s-e2e" / "smoke.sh",
    ROOT / "deploy" / "backup" / "drill.sh",
]


def test_actionlint_is_clean(tool: Callable[[str], Path]) -> None:
    assert WORKFLOWS, "no workflow under .github/workflows"
    actionlint = tool("actionlint")
    result = subprocess.run(
        [str(actionlint), "-no-color", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pipeline_order_and_rollback() -> None:
    """tests -> images -> staging -> smoke -> production, whose /health gate rolls back on failure."""
    workflow: dict[str, Any] = yaml.safe_load((ROOT / ".github" / "workflows" / "ci-cd.yaml").read_text())
    jobs = workflow["jobs"]
    assert jobs["images"]["needs"] == ["test", "k8s-e2e", "pip-audit"]
    assert jobs["staging"]["needs"] == "images"
    assert jobs["smoke-staging"]["needs"] == "staging"
    assert jobs["production"]["needs"] == "smoke-staging"
    assert any(step.get("run") == "bash .ci/run" for step in jobs["test"]["steps"])
    for job in ("staging", "production"):
        deploy = next(s["run"] for s in jobs[job]["steps"] if "helm upgrade --install" in s.get("run", ""))
        assert "--rollback-on-failure" in deploy
        assert "--wait" in deploy
        assert '"$GITHUB_SHA"' in deploy
    steps = {step.get("name"): step for step in jobs["production"]["steps"]}
    assert "/health" in steps["Post-deploy /health gate"]["run"]
    assert "helm rollback" in steps["Roll production back"]["run"]
    assert steps["Notify"]["if"] == "always()"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_deploy_scripts_parse(script: Path) -> None:
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert script.stat().st_mode & 0o111, f"{script} is not executable"


def test_pip_audit_reads_the_lock_file() -> None:
    """Issue 13: pip-audit on the lock file, every pinned package with its hash, strict."""
    workflow: dict[str, Any] = yaml.safe_load((ROOT / ".github" / "workflows" / "ci-cd.yaml").read_text())
    (audit,) = [s["run"] for s in workflow["jobs"]["pip-audit"]["steps"] if "pip-audit" in s.get("run", "")]
    assert "uv export --frozen --all-packages" in audit
    assert "--no-hashes" not in audit
    assert "uvx --python 3.11 pip-audit==" in audit
    for flag in ("--require-hashes", "--disable-pip", "--strict"):
        assert flag in audit, flag


def test_images_cover_every_service() -> None:
    """One image per service under services/, each with the port its settings default to."""
    workflow: dict[str, Any] = yaml.safe_load((ROOT / ".github" / "workflows" / "ci-cd.yaml").read_text())
    matrix = workflow["jobs"]["images"]["strategy"]["matrix"]["include"]
    services = {path.parent.name for path in (ROOT / "services").glob("*/pyproject.toml")}
    assert {entry["service"] for entry in matrix} == services
    values = yaml.safe_load((ROOT / "deploy" / "helm" / "mirage" / "values.yaml").read_text())
    for entry in matrix:
        assert entry["port"] == values["components"][entry["service"]]["port"], entry
