"""Bad configuration stops a service at once with one line that names the setting to fix."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from testkit import Infra

pytestmark = pytest.mark.e2e


def _start(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module],
        env={**os.environ, "OTEL_SDK_DISABLED": "true", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("module", "env", "setting"),
    [
        (
            "guard.main",
            {
                "MIRAGE_GUARD_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1",
                "MIRAGE_GUARD_KAFKA__CONNECT_TIMEOUT_S": "3",
            },
            "MIRAGE_GUARD_KAFKA__BOOTSTRAP_SERVERS",
        ),
        (
            "sender.main",
            {"MIRAGE_SENDER_POSTGRES__DSN": "postgresql://mirage:wrong-password@127.0.0.1:15432/mirage"},
            "MIRAGE_SENDER_POSTGRES__DSN",
        ),
        (
            "ingest.main",
            {"MIRAGE_INGEST_RUNTIME__PORT": "not-a-port"},
            "MIRAGE_INGEST_RUNTIME__PORT",
        ),
    ],
    ids=["unreachable-broker", "wrong-database-credentials", "malformed-setting"],
)
def test_bad_configuration_fails_fast_with_one_line_naming_the_setting(
    infra: Infra, module: str, env: dict[str, str], setting: str
) -> None:
    result = _start(module, env)
    assert result.returncode == 2, result.stderr
    service = module.split(".", 1)[0]
    failure = [line for line in result.stderr.splitlines() if f"mirage-{service}: cannot start:" in line]
    assert len(failure) == 1, result.stderr
    assert setting in failure[0]
    assert "Traceback" not in result.stderr
