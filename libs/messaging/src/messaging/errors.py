"""How a consumer tells a failing dependency from a failing event, by exception type.

An *infrastructure* failure (PostgreSQL, Redis or Kafka unreachable or shutting
down, a socket error, a timeout) says nothing about the event: retrying it later
will succeed once the dependency is back, so it is retried in its lane for as
long as it takes and never dead-lettered. Anything else is the event's own
failure: retried a few times, then dead-lettered.
"""

from __future__ import annotations

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from redis import exceptions as redis_errors


class PermanentFailure(Exception):  # noqa: N818 - reads as what the handler reports
    """A handler's verdict that retrying this event cannot help: dead-letter it now."""


# Families, not leaf names: a driver's new subclass of a connection error is covered.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    # The operating system and the event loop: sockets, DNS, timeouts.
    OSError,  # includes ConnectionError and its subclasses
    TimeoutError,  # asyncio.TimeoutError is TimeoutError since 3.11
    # PostgreSQL: the connection is gone or refused, the server is shutting down or
    # restarting, out of connections/disk/memory, or a transaction lost a race.
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.TransactionRollbackError,
    # Redis: the connection, a timeout, a server still loading its data set.
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.BusyLoadingError,
    redis_errors.TryAgainError,
    # Kafka: the client cannot reach the cluster.
    KafkaConnectionError,
    KafkaTimeoutError,
)


def is_infrastructure_error(error: BaseException) -> bool:
    """True for a failure of a dependency (retry until it is back), not of the event."""
    if isinstance(error, INFRASTRUCTURE_ERRORS):
        return True
    # Kafka marks the errors that go away on their own (leader moves, not enough replicas).
    return isinstance(error, KafkaError) and bool(getattr(error, "retriable", False))
