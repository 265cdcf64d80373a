"""Entrypoint: `python -m scheduler.main` or `mirage-scheduler` (and `mirage-scheduler preview`)."""

from __future__ import annotations

import sys

from scheduler import preview_cli
from scheduler.app import create_app
from scheduler.settings import SchedulerSettings
from service_runtime import run_service, serve


async def _serve() -> None:
    settings = SchedulerSettings()
    await serve(create_app(settings), settings.runtime)


def main() -> None:
    """Run the scheduler until SIGTERM/SIGINT, or the `preview` command."""
    if sys.argv[1:2] == ["preview"]:
        raise SystemExit(preview_cli.main(sys.argv[2:]))
    run_service("mirage-scheduler", _serve, env_prefix="MIRAGE_SCHEDULER_")


if __name__ == "__main__":
    main()
