"""Run a multi-statement SQL script inside Alembic's migration transaction.

SQLAlchemy's asyncpg dialect prepares every statement, and PostgreSQL refuses to
prepare several commands at once; asyncpg's own `execute` without arguments uses
the simple query protocol, which takes a whole script.
"""

from __future__ import annotations

from typing import Any

from alembic import op
from sqlalchemy.util import await_only


def execute_script(sql: str) -> None:
    """Execute `sql` (any number of statements) in the current migration's transaction."""
    bind = op.get_bind()
    # Makes the dialect open its transaction on this connection first, so the
    # script below runs inside it and commits with the version bump.
    bind.exec_driver_sql("SELECT 1")
    driver_connection: Any = bind.connection.driver_connection
    await_only(driver_connection.execute(sql))
