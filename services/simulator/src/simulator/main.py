"""Entrypoint: `python -m simulator.main` or `mirage-simulator`."""

from __future__ import annotations

from service_runtime import run_service, serve
from simulator.app import create_app
from simulator.settings import SimulatorSettings


async def _serve() -> None:
    settings = SimulatorSettings()
    await serve(create_app(settings), settings.runtime)


def main() -> None:
    """Run the simulator until SIGTERM/SIGINT."""
    run_service("mirage-simulator", _serve, env_prefix="MIRAGE_SIM_")


if __name__ == "__main__":
    main()
