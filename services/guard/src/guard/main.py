"""Entrypoint: `python -m guard.main` or `mirage-guard`."""

from __future__ import annotations

from guard.app import create_app
from guard.settings import GuardSettings
from service_runtime import run_service, serve


async def _serve() -> None:
    settings = GuardSettings()
    await serve(create_app(settings), settings.runtime)


def main() -> None:
    """Run the guard until SIGTERM/SIGINT."""
    run_service("mirage-guard", _serve, env_prefix="MIRAGE_GUARD_")


if __name__ == "__main__":
    main()
