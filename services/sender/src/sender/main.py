"""Entrypoint: `python -m sender.main` or `mirage-sender`."""

from __future__ import annotations

from sender.app import create_app
from sender.settings import SenderSettings
from service_runtime import run_service, serve


async def _serve() -> None:
    settings = SenderSettings()
    await serve(create_app(settings), settings.runtime)


def main() -> None:
    """Run the sender until SIGTERM/SIGINT."""
    run_service("mirage-sender", _serve, env_prefix="MIRAGE_SENDER_")


if __name__ == "__main__":
    main()
