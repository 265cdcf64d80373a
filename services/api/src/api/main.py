"""Entrypoint: `python -m api.main` or `mirage-api`."""

from __future__ import annotations

from api.app import create_app
from api.settings import ApiSettings
from service_runtime import run_service, serve


async def _serve() -> None:
    settings = ApiSettings()
    await serve(create_app(settings), settings.runtime)


def main() -> None:
    """Run the api until SIGTERM/SIGINT."""
    run_service("mirage-api", _serve, env_prefix="MIRAGE_API_")


if __name__ == "__main__":
    main()
