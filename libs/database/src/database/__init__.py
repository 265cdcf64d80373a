"""PostgreSQL for Mirage: settings, the pool factory and the schema's migrations."""

from database.pool import Connection, DatabaseUnavailableError, Pool, create_pool
from database.settings import PostgresSettings

__all__ = ["Connection", "DatabaseUnavailableError", "Pool", "PostgresSettings", "create_pool"]
