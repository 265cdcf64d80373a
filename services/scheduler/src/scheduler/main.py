"""Entrypoint: `python -m scheduler.main` or `mirage-scheduler`."""

from __future__ import annotations

from scheduler.app import create_app
from scheduler.settings import SchedulerSettings
from service_runtime import run_service, serve


async def _serve() -> None:
    settings = SchedulerSettings()
    await serve(create_app(settings), settings.runtime)


def main() -> None:
    """Run the scheduler until SIGTERM/SIGINT."""
    run_service("mirage-scheduler", _serve, env_prefix="MIRAGE_SCHEDULER_")


if __name__ == "__main__":
    main()
