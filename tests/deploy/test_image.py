"""The service images, verified without a container engine.

There is no Docker here, so the image is checked in three ways: hadolint lints the Dockerfile;
BuildKit's own parser (PyPI `dockerfile`) reads its structure (stages, user, health check, labels);
and the builder stage's `uv sync` line, taken from the Dockerfile itself, is run into a temporary
virtualenv for each service, which must import the service as an unprivileged user with nothing
writable and hold none of the development tools.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The first test of a fresh machine waits for the one-time tool builds (Helm: minutes).
pytestmark = [pytest.mark.deploy, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
# Where the build context comes from (the repository root; the builder's COPYs pick from it).
CONTEXT = Path(os.environ.get("MIRAGE_IMAGE_CONTEXT", ROOT))
SERVICES = [
    "api",
    "ingest",
    "guard",
    "generator",
    "sender",
    "outreach",
    "scheduler",
    "analytics",
    "simulator",
]
# What the image's user is: the chart's runAsUser too.
IMAGE_UID = 10001
DEV_DISTRIBUTIONS = {
    "pytest",
    "pytest_asyncio",
    "pytest_timeout",
    "hypothesis",
    "mypy",
    "ruff",
    "import_linter",
    "schemathesis",
    "respx",
    "mirage_testkit",
    "playwright",
}
PARSE = (
    "import dockerfile, json, sys\n"
    "print(json.dumps([{'cmd': c.cmd, 'flags': list(c.flags), 'value': list(c.value), 'original': c.original}"
    " for c in dockerfile.parse_file(sys.argv[1])]))"
)


def run(args: list[str | Path]) -> subprocess.CompletedProcess[str]:
    """Run a short command, capturing its output."""
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def instructions(tool: Callable[[str], Path]) -> list[dict[str, Any]]:
    """The Dockerfile as BuildKit's parser reads it."""
    venv = tool("pytools")
    result = run([venv / "bin" / "python", "-c", PARSE, DOCKERFILE])
    assert result.returncode == 0, result.stderr
    parsed: list[dict[str, Any]] = json.loads(result.stdout)
    return parsed


def stages(instructions: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Instructions by stage name (FROM ... AS name)."""
    out: dict[str, list[dict[str, Any]]] = {}
    current: list[dict[str, Any]] = []
    for ins in instructions:
        if ins["cmd"] == "FROM":
            current = []
            out[ins["value"][-1]] = current
        current.append(ins)
    return out


def test_hadolint_is_clean(tool: Callable[[str], Path]) -> None:
    venv = tool("pytools")
    result = run([venv / "bin" / "hadolint", "--failure-threshold", "info", DOCKERFILE])
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_slim_non_root_with_healthcheck_and_labels(instructions: list[dict[str, Any]]) -> None:
    by_stage = stages(instructions)
    assert list(by_stage) == ["uv", "builder", "runtime"]
    args = {i["value"][0].split("=")[0]: i["value"][0] for i in instructions if i["cmd"] == "ARG"}
    assert args["PYTHON_IMAGE"] == "PYTHON_IMAGE=python:3.11-slim-bookworm"
    runtime = by_stage["runtime"]
    assert runtime[0]["value"][0] == "${PYTHON_IMAGE}"
    (user,) = [i for i in runtime if i["cmd"] == "USER"]
    assert user["value"] == [f"{IMAGE_UID}:{IMAGE_UID}"]
    # The runtime stage takes only the builder's virtualenv, never the sources.
    copies = [i for i in runtime if i["cmd"] == "COPY"]
    assert [c["value"] for c in copies] == [["/opt/mirage/venv", "/opt/mirage/venv"]]
    assert "--from=builder" in copies[0]["flags"]
    (health,) = [i for i in runtime if i["cmd"] == "HEALTHCHECK"]
    assert "/livez" in " ".join(health["value"])
    labels = " ".join(" ".join(i["value"]) for i in runtime if i["cmd"] == "LABEL")
    for key in ("title", "description", "version", "revision", "created"):
        assert f"org.opencontainers.image.{key}" in labels
    env = " ".join(" ".join(i["value"]) for i in runtime if i["cmd"] == "ENV")
    assert "PYTHONDONTWRITEBYTECODE" in env  # the root filesystem is read-only in the cluster
    (entrypoint,) = [i for i in runtime if i["cmd"] == "ENTRYPOINT"]
    assert 'exec python -m "${MIRAGE_SERVICE}.main"' in entrypoint["value"][2]


def uv_sync_command(instructions: list[dict[str, Any]], service: str) -> tuple[list[str], dict[str, str]]:
    """The builder stage's `uv sync` argv and ENV, with ${SERVICE} filled in."""
    builder = stages(instructions)["builder"]
    env: dict[str, str] = {}
    for ins in builder:
        if ins["cmd"] == "ENV":
            values = ins["value"]
            env |= dict(zip(values[::2], values[1::2], strict=True))
    (sync,) = [i for i in builder if i["cmd"] == "RUN" and "uv sync" in i["value"][0]]
    command = re.search(r"uv sync[^&;]*", sync["value"][0])
    assert command is not None
    argv = shlex.split(command.group(0).replace("${SERVICE}", service))
    return argv, env


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """A directory the unprivileged image user can traverse (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="mirage-image-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def build_context(instructions: list[dict[str, Any]], scratch: Path) -> Path:
    """What the builder stage's COPY instructions put in its WORKDIR, minus what the dockerignore drops."""
    ignore_file = DOCKERFILE.with_name("Dockerfile.dockerignore")
    # Only `**/name` exclusions appear below the allow-list; a new kind of rule must be taught here.
    rules = [
        line for line in ignore_file.read_text().splitlines() if line and not line.startswith(("#", "!"))
    ]
    assert all(rule == "*" or rule.startswith("**/") for rule in rules), rules
    ignore = shutil.ignore_patterns(*(rule.removeprefix("**/").rstrip("/") for rule in rules if rule != "*"))
    allowed = {line[1:].rstrip("/") for line in ignore_file.read_text().splitlines() if line.startswith("!")}
    target = scratch / "context"
    copies = [i for i in stages(instructions)["builder"] if i["cmd"] == "COPY" and not i["flags"]]
    for copy in copies:
        *sources, _destination = copy["value"]
        for source in sources:
            assert source in allowed, f"COPY {source} is excluded by {ignore_file.name}"
            origin = CONTEXT / source
            if origin.is_dir():
                shutil.copytree(origin, target / source, ignore=ignore)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target / source)
    return target


def as_image_user(argv: list[str]) -> list[str]:
    """argv run as the image's uid when we are root (as in CI); unchanged otherwise."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to run as the image's user"
    return [setpriv, f"--reuid={IMAGE_UID}", f"--regid={IMAGE_UID}", "--clear-groups", *argv]


@pytest.mark.parametrize("service", SERVICES)
def test_service_installs_imports_read_only_and_without_dev_tools(
    instructions: list[dict[str, Any]], scratch: Path, build_context: Path, service: str
) -> None:
    argv, env = uv_sync_command(instructions, service)
    assert {"--frozen", "--no-dev", "--no-editable"} <= set(argv), argv
    venv = scratch / service
    uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    build_env = (
        os.environ
        | env
        | {
            "UV_PROJECT_ENVIRONMENT": str(venv),
            # The image's interpreter is /usr/local/bin/python3.11; here the machine's 3.11 stands in.
            "UV_PYTHON": shutil.which("python3.11") or "/usr/bin/python3.11",
        }
    )
    build_env.pop("VIRTUAL_ENV", None)
    result = subprocess.run(
        ["nice", "-n", "19", uv, *argv[1:]],
        cwd=build_context,
        env=build_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    site = next(venv.glob("lib/python3.11/site-packages"))
    installed = {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}
    assert f"mirage_{service}" in installed
    assert not installed & DEV_DISTRIBUTIONS, sorted(installed & DEV_DISTRIBUTIONS)
    # --no-editable: the workspace packages live in site-packages, nothing points back at the sources.
    for pth in site.glob("*.pth"):
        assert str(build_context) not in pth.read_text(), pth
    if service == "api":
        assert (venv / "bin" / "mirage-migrate").exists()  # the migration hook runs it from this image

    # Everything is readable by the image's user (files are root-owned in the image) ...
    for path in venv.rglob("*"):
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode):
            assert mode & stat.S_IROTH, path
    # ... and nothing is writable: the import must not need to write (.pyc were compiled at build).
    subprocess.run(["chmod", "-R", "a-w", str(venv)], check=True)
    probe = subprocess.run(
        as_image_user([str(venv / "bin" / "python"), "-c", f"import {service}.main, sys; print(sys.prefix)"]),
        cwd="/tmp",
        env={"PATH": f"{venv}/bin:/usr/bin:/bin", "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    subprocess.run(["chmod", "-R", "u+w", str(venv)], check=True)
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert probe.stdout.strip() == str(venv)
