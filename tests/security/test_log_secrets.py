"""Secrets never appear in logs: every log the end-to-end suite (and the chaos run) wrote is scanned.

Runs after `tests/e2e` in `make test` (pytest collects `tests/security` after `tests/e2e`), while
the session's database still holds the instances those services ran with, so besides the
shapes of secrets (API keys, JWTs, the development keys) it looks for the exact webhook secrets
and Evolution instance tokens of this run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from database import Pool
from testkit.infra import REPO_ROOT

LOG_ROOTS = (REPO_ROOT / ".local" / "e2e-logs", REPO_ROOT / ".local" / "chaos")
# The development keys every end-to-end stack runs with (testkit.stack): a log line showing one
# would show a production key just the same.
DEVELOPMENT_SECRETS = ("sk-simulator", "sim-global-key")
SHAPES = {
    "api key": re.compile(r"mrg_live_[A-Za-z0-9_\-]{16,}"),
    "JWT": re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
    "bearer credential": re.compile(r"(?i)bearer\s+[A-Za-z0-9_\-\.]{20,}"),
    "hub signature": re.compile(r"sha256=[0-9a-f]{64}"),
}


@dataclass(frozen=True)
class Finding:
    """A secret found in a log line."""

    path: Path
    line: int
    kind: str
    excerpt: str


def scan(paths: Iterable[Path], known: Iterable[str]) -> list[Finding]:
    """Every line of `paths` that holds a secret of a known shape or one of the `known` values."""
    exact = sorted({value for value in known if value and len(value) >= 8}, key=len, reverse=True)
    findings: list[Finding] = []
    for path in paths:
        with path.open(errors="replace") as lines:
            for number, text in enumerate(lines, start=1):
                for kind, pattern in SHAPES.items():
                    found = pattern.search(text)
                    if found:
                        findings.append(Finding(path, number, kind, _mask(found.group(0))))
                findings.extend(
                    Finding(path, number, "known secret", _mask(value)) for value in exact if value in text
                )
    return findings


def _mask(value: str) -> str:
    return value[:6] + "…" if len(value) > 6 else "…"


def log_files() -> list[Path]:
    """Every service log the end-to-end and chaos runs left."""
    return sorted(path for root in LOG_ROOTS if root.exists() for path in root.rglob("*.log"))


def test_the_scanner_finds_every_kind_of_secret(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    lines = [
        '{"event": "fine", "instance": "demo-1"}',
        '{"event": "leak", "key": "mrg_live_' + "A" * 43 + '"}',
        "authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJpYXQiOjE3MDAwMDAwMDB9.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
        "x-hub-signature-256: sha256=" + "ab" * 32,
        "webhook secret is per-instance-secret-value-123",
        "model key sk-simulator",
    ]
    log.write_text("\n".join(lines) + "\n")
    found = scan([log], ["per-instance-secret-value-123", *DEVELOPMENT_SECRETS])
    assert {finding.line for finding in found} == {2, 3, 4, 5, 6}
    assert {finding.kind for finding in found} >= {"api key", "JWT", "hub signature", "known secret"}
    assert all("mrg_live_" + "A" * 10 not in finding.excerpt for finding in found)


async def test_no_log_of_the_end_to_end_and_chaos_runs_holds_a_secret(db_pool: Pool) -> None:
    files = log_files()
    if not files:
        pytest.skip("no end-to-end logs yet: run tests/e2e first (make test does)")
    rows = await db_pool.fetch("SELECT webhook_secret, token FROM instances")
    known = [*DEVELOPMENT_SECRETS]
    for row in rows:
        known += [row["webhook_secret"] or "", row["token"] or ""]
    findings = scan(files, known)
    report = "\n".join(
        f"{finding.path.relative_to(REPO_ROOT)}:{finding.line}: {finding.kind} {finding.excerpt}"
        for finding in findings[:50]
    )
    assert findings == [], f"{len(findings)} secrets in {len(files)} logs:\n{report}"
