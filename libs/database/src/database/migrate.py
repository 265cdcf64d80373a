"""Apply the schema with Alembic: `mirage-migrate [upgrade|downgrade REV|current|history]`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from database.settings import PostgresSettings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
DSN_ENV = "MIRAGE_POSTGRES__DSN"


def alembic_config(dsn: str) -> Config:
    """An Alembic configuration for `dsn` (a plain `postgresql://` URL)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1).replace(
        "postgres://", "postgresql+asyncpg://", 1
    )
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(dsn: str, revision: str = "head") -> None:
    """Bring the database at `dsn` up to `revision` (blocking: from async code, use a thread)."""
    command.upgrade(alembic_config(dsn), revision)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="mirage-migrate", description=__doc__)
    parser.add_argument("action", choices=["upgrade", "downgrade", "current", "history"])
    parser.add_argument("revision", nargs="?", default=None)
    parser.add_argument("--dsn", default=os.environ.get(DSN_ENV, PostgresSettings().dsn.get_secret_value()))
    args = parser.parse_args(argv)
    config = alembic_config(args.dsn)
    try:
        if args.action == "upgrade":
            command.upgrade(config, args.revision or "head")
        elif args.action == "downgrade":
            command.downgrade(config, args.revision or "-1")
        elif args.action == "current":
            command.current(config)
        else:
            command.history(config)
    except (OSError, ConnectionError) as error:
        print(f"mirage-migrate: cannot reach PostgreSQL ({DSN_ENV}): {error}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
