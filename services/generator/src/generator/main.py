"""Entrypoint: `python -m generator.main` or `mirage-generator`."""

from __future__ import annotations

from generator.app import create_app
from generator.settings import GeneratorSettings
from service_runtime import run_service, serve


async def _serve() -> None:
    settings = GeneratorSettings()
    await serve(create_app(settings), settings.runtime)


def main() -> None:
    """Run the generator until SIGTERM/SIGINT."""
    run_service("mirage-generator", _serve, env_prefix="MIRAGE_GENERATOR_")


if __name__ == "__main__":
    main()
