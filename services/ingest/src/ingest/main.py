"""Entrypoint: `python -m ingest.main` or `mirage-ingest`."""

from __future__ import annotations

from ingest.app import create_app
from ingest.settings import IngestSettings
from service_runtime import run_service, serve


async def _serve() -> None:
    settings = IngestSettings()
    await serve(create_app(settings), settings.runtime)


def main() -> None:
    """Run ingest until SIGTERM/SIGINT."""
    run_service("mirage-ingest", _serve, env_prefix="MIRAGE_INGEST_")


if __name__ == "__main__":
    main()
