"""Entrypoint: `python -m outreach.main` or `mirage-outreach`."""

from __future__ import annotations

from outreach.app import create_app
from outreach.settings import OutreachSettings
from service_runtime import run_service, serve


async def _serve() -> None:
    settings = OutreachSettings()
    await serve(create_app(settings), settings.runtime)


def main() -> None:
    """Run the outreach until SIGTERM/SIGINT."""
    run_service("mirage-outreach", _serve, env_prefix="MIRAGE_OUTREACH_")


if __name__ == "__main__":
    main()
