"""Weekly and monthly archives on top of barman's recovery-window retention.

barman-cloud (and so CloudNativePG's Barman Cloud plugin) has one retention rule, a recovery
window: every base backup older than it is deleted. Backups marked with `barman-cloud-backup-keep`
are exempt. This script keeps the first completed backup of each ISO week for `--weeks` weeks and
of each calendar month for `--months` months, as `standalone` archives (restorable to their own end,
without the WAL in between), and releases the archives it made once they age out. Backups kept
by hand with `--target full` are never touched.

It needs only the Python standard library and the barman-cloud commands, so it runs in the Barman
Cloud plugin's sidecar image (a CronJob of the chart) and in `make backup-drill`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

ARCHIVE_TARGET = "standalone"


@dataclass(frozen=True)
class Backup:
    """A completed base backup in the object store."""

    backup_id: str
    begin: datetime


def choose_archives(backups: list[Backup], now: datetime, weeks: int, months: int) -> dict[str, str]:
    """The backups to keep, by id, with why: the first of each recent ISO week and calendar month."""
    chosen: dict[str, str] = {}
    seen_weeks: set[tuple[int, int]] = set()
    seen_months: set[tuple[int, int]] = set()
    current_month = now.year * 12 + now.month
    for backup in sorted(backups, key=lambda b: b.begin):
        year, week, _ = backup.begin.isocalendar()
        if (year, week) not in seen_weeks:
            seen_weeks.add((year, week))
            if now - backup.begin < timedelta(weeks=weeks):
                chosen[backup.backup_id] = "weekly"
        month = (backup.begin.year, backup.begin.month)
        if month not in seen_months:
            seen_months.add(month)
            if current_month - (backup.begin.year * 12 + backup.begin.month) < months:
                chosen[backup.backup_id] = "monthly"
    return chosen


def parse_backups(listing: str) -> list[Backup]:
    """The DONE backups of `barman-cloud-backup-list --format json`."""
    backups = []
    for item in json.loads(listing)["backups_list"]:
        if item.get("status") != "DONE":
            continue
        begin = datetime.fromisoformat(item["begin_time_iso"])
        if begin.tzinfo is None:
            begin = begin.replace(tzinfo=UTC)
        backups.append(Backup(backup_id=item["backup_id"], begin=begin))
    return backups


def _barman(command: str, args: list[str], bin_dir: str) -> str:
    path = os.path.join(bin_dir, command) if bin_dir else command
    result = subprocess.run([path, *args], capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise SystemExit(f"{command} {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def main(argv: list[str] | None = None) -> int:
    """Mark and release archives; prints one line per change."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("destination", help="the object store path, e.g. s3://bucket/mirage")
    parser.add_argument("server", help="the server name in the store (CloudNativePG: the cluster's name)")
    parser.add_argument("--weeks", type=int, default=8, help="weekly archives to keep")
    parser.add_argument("--months", type=int, default=12, help="monthly archives to keep")
    parser.add_argument("--endpoint-url", default="", help="S3 endpoint (S3-compatible stores)")
    parser.add_argument("--bin-dir", default="", help="where the barman-cloud commands are (default: PATH)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    args = parser.parse_args(argv)

    cloud = ["--endpoint-url", args.endpoint_url] if args.endpoint_url else []
    where = [args.destination, args.server]
    listing = _barman("barman-cloud-backup-list", [*cloud, "--format", "json", *where], args.bin_dir)
    backups = parse_backups(listing)
    chosen = choose_archives(backups, datetime.now(UTC), args.weeks, args.months)
    for backup in backups:
        status = _barman(
            "barman-cloud-backup-keep", [*cloud, "--status", *where, backup.backup_id], args.bin_dir
        )
        kept = status.strip().removeprefix("Keep: ")
        if backup.backup_id in chosen and kept == "nokeep":
            action = ["--target", ARCHIVE_TARGET]
            sys.stdout.write(f"keep {backup.backup_id} ({chosen[backup.backup_id]} archive)\n")
        elif backup.backup_id not in chosen and kept == ARCHIVE_TARGET:
            action = ["--release"]
            sys.stdout.write(f"release {backup.backup_id} (aged out)\n")
        else:
            continue
        if not args.dry_run:
            _barman("barman-cloud-backup-keep", [*cloud, *action, *where, backup.backup_id], args.bin_dir)
    sys.stdout.write(f"{len(chosen)} archives among {len(backups)} backups\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
