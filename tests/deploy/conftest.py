"""Fixtures of the deploy tests: tools built from the registries (cached), and the rendered chart.

Every tool comes from `deploy/tools/tool.sh`, which builds it once and caches it under
`.local/tools/` by version. A tool that cannot be built fails the test that needs it, naming the
tool and the build's last lines: nothing here is skipped.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "mirage"
TOOL_SH = ROOT / "deploy" / "tools" / "tool.sh"
# The three values files the chart ships, by name: the tests run each check on each.
VALUES_FILES: dict[str, list[Path]] = {
    "default": [],
    "production": [CHART / "values-production.yaml"],
    "minimal": [CHART / "values-minimal.yaml"],
}
# A build from scratch (Helm: minutes) must finish inside one test's budget.
TOOL_BUILD_TIMEOUT_S = 1800


def build_tool(name: str) -> Path:
    """The path `deploy/tools/tool.sh NAME` prints, building the tool first if needed."""
    try:
        result = subprocess.run(
            [str(TOOL_SH), name],
            capture_output=True,
            text=True,
            timeout=TOOL_BUILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"deploy/tools/tool.sh {name} did not finish within {TOOL_BUILD_TIMEOUT_S} s")
    if result.returncode != 0:
        tail = "\n".join(result.stderr.splitlines()[-15:])
        pytest.fail(f"could not build the deploy tool {name!r} (deploy/tools/tool.sh {name}):\n{tail}")
    path = Path(result.stdout.strip().splitlines()[-1])
    if not path.exists():
        pytest.fail(f"deploy/tools/tool.sh {name} printed {path}, which does not exist")
    return path


def run(
    args: list[str | Path], *, timeout: float = 120, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """Run a command and capture its output (never raises on a non-zero exit)."""
    return subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False
    )


# helm template's output by (binary, values, sets): many tests read the same rendering.
_RENDERED: dict[tuple[object, ...], str] = {}


@dataclass(frozen=True)
class Helm:
    """The Helm v4 binary, bound to the chart under test."""

    binary: Path
    chart: Path = CHART
    values_names: tuple[str, ...] = tuple(VALUES_FILES)

    @staticmethod
    def run(args: list[str | Path], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a command from the repository root (see `run`)."""
        return run(args, timeout=timeout)

    def values_args(self, values: str, sets: tuple[str, ...] = ()) -> list[str | Path]:
        """`-f` and `--set` arguments for one of VALUES_FILES plus extra `--set`s."""
        args: list[str | Path] = []
        for path in VALUES_FILES[values]:
            args += ["-f", path]
        for assignment in sets:
            args += ["--set", assignment]
        return args

    def template_text(self, values: str = "default", *sets: str) -> str:
        """The rendered manifests as text (rendered once per arguments); fails the test if rendering fails."""
        key = (self.binary, values, *sets)
        if key not in _RENDERED:
            _RENDERED[key] = self._render(values, sets)
        return _RENDERED[key]

    def _render(self, values: str, sets: tuple[str, ...]) -> str:
        result = run(
            [
                self.binary,
                "template",
                "mirage",
                CHART,
                "--namespace",
                "mirage",
                *self.values_args(values, sets),
            ]
        )
        if result.returncode != 0:
            pytest.fail(f"helm template ({values}, {sets}) failed:\n{result.stderr}")
        return result.stdout

    def template(self, values: str = "default", *sets: str) -> list[dict[str, Any]]:
        """The rendered manifests as objects."""
        return [doc for doc in yaml.safe_load_all(self.template_text(values, *sets)) if doc]

    def template_error(self, values: str, *sets: str) -> str:
        """The error of a rendering that must fail; fails the test if it renders."""
        result = run(
            [
                self.binary,
                "template",
                "mirage",
                CHART,
                "--namespace",
                "mirage",
                *self.values_args(values, sets),
            ]
        )
        if result.returncode == 0:
            pytest.fail(f"helm template ({values}, {sets}) rendered, but it should have been refused")
        return result.stderr


@pytest.fixture(scope="session")
def tool() -> Callable[[str], Path]:
    """`build_tool`, for tests that need a tool of their own (hadolint, actionlint, ...)."""
    return build_tool


@pytest.fixture(scope="session")
def helm() -> Helm:
    """Helm v4, built from the Go module proxy once (cached under .local/tools)."""
    return Helm(build_tool("helm"))


@pytest.fixture(scope="session")
def kubeconform() -> Path:
    """kubeconform, built from the Go module proxy once."""
    return build_tool("kubeconform")


@pytest.fixture(scope="session")
def schema_locations() -> list[str]:
    """kubeconform `-schema-location`s: Kubernetes 1.37, the operators' CRDs, and our own schemas."""
    k8s = build_tool("k8s-schemas")
    crds = build_tool("crd-schemas") / "schemas"
    own = Path(__file__).parent / "schemas"
    return [
        f"{k8s}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
        f"{crds}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
        f"{own}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
    ]
