"""Entrypoint: `python -m analytics.main` or `mirage-analytics` (serve), `mirage-analytics rebuild`."""

from __future__ import annotations

import sys

from analytics.app import create_app
from analytics.rebuild import rebuild
from analytics.settings import AnalyticsSettings
from service_runtime import configure_logging, run_service, serve

_USAGE = "usage: mirage-analytics [serve | rebuild]"


async def _serve() -> None:
    settings = AnalyticsSettings()
    await serve(create_app(settings), settings.runtime)


async def _rebuild() -> None:
    settings = AnalyticsSettings()
    configure_logging("analytics", level=settings.runtime.log_level, json_lines=settings.runtime.log_json)
    report = await rebuild(settings)
    print(  # noqa: T201 - the command's result, for the operator
        f"rebuilt {report.schema} from {report.records} records in {report.seconds:.1f}s"
        f" (consumer groups {report.group_prefix}*)"
    )


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM/SIGINT, or rebuild the stats tables from Kafka and exit."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "serve"
    if command == "serve":
        run_service("mirage-analytics", _serve, env_prefix="MIRAGE_ANALYTICS_")
    elif command == "rebuild":
        run_service("mirage-analytics rebuild", _rebuild, env_prefix="MIRAGE_ANALYTICS_")
    else:
        print(_USAGE, file=sys.stderr)  # noqa: T201
        raise SystemExit(2)


if __name__ == "__main__":
    main()
