"""Start-up checks and topic creation against the Kafka cluster."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from messaging.settings import KafkaSettings

_TOPIC_ALREADY_EXISTS = 36
# Topics per DeleteTopics request.
_DELETE_BATCH = 200


class KafkaUnavailableError(RuntimeError):
    """The Kafka cluster did not answer within the connect timeout."""


async def _open_admin(settings: KafkaSettings, client_id: str) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=client_id,
        request_timeout_ms=int(settings.connect_timeout_s * 1000),
    )
    try:
        await asyncio.wait_for(admin.start(), timeout=settings.connect_timeout_s)
    except (TimeoutError, KafkaError, OSError) as error:
        await admin.close()
        reason = "timed out" if isinstance(error, TimeoutError) else str(error) or type(error).__name__
        raise KafkaUnavailableError(
            f"Kafka at {settings.bootstrap_servers} is unreachable: {reason}"
        ) from error
    except BaseException:
        # Cancelled (a bounded health check gave up): never leak the half-open client.
        await asyncio.shield(admin.close())
        raise
    return admin


async def cluster_metadata(settings: KafkaSettings, client_id: str = "mirage-probe") -> dict[str, Any]:
    """Ask the cluster for its metadata (a readiness check and a start-up check)."""
    admin = await _open_admin(settings, client_id)
    try:
        return await asyncio.wait_for(admin.describe_cluster(), timeout=settings.connect_timeout_s)
    finally:
        await admin.close()


async def ensure_topics(
    settings: KafkaSettings, topics: Iterable[str], *, client_id: str = "mirage-admin"
) -> None:
    """Create the (physical) topics that do not exist yet, with the configured partitions,
    replication factor and `min.insync.replicas` (existing topics are left as they are).

    Connects even when there is nothing to create: start-up relies on it to fail
    fast on an unreachable cluster before the broker's clients are built.
    """
    wanted = sorted(set(topics))
    admin = await _open_admin(settings, client_id)
    try:
        if not wanted:
            return
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if not missing:
            return
        response = await admin.create_topics(
            [
                NewTopic(
                    name=name,
                    num_partitions=settings.partitions,
                    replication_factor=settings.replication_factor,
                    topic_configs={"min.insync.replicas": str(settings.min_insync_replicas)},
                )
                for name in missing
            ]
        )
        for topic_error in response.topic_errors:
            name, code = topic_error[0], topic_error[1]
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                message = topic_error[2] if len(topic_error) > 2 else ""
                raise KafkaError(f"cannot create topic {name!r}: error {code} {message}")
    finally:
        await admin.close()


async def delete_topics_with_prefixes(
    settings: KafkaSettings, prefixes: Iterable[str], *, client_id: str = "mirage-admin"
) -> list[str]:
    """Delete every topic whose name starts with one of `prefixes`; the names deleted.

    For namespaced installations that are done with (a test run, a benchmark): their
    topics would otherwise pile up and slow every later broker start.
    """
    wanted = tuple(prefix for prefix in set(prefixes) if prefix)
    if not wanted:
        return []
    admin = await _open_admin(settings, client_id)
    try:
        doomed = sorted(name for name in await admin.list_topics() if name.startswith(wanted))
        for start in range(0, len(doomed), _DELETE_BATCH):
            await admin.delete_topics(doomed[start : start + _DELETE_BATCH])
        return doomed
    finally:
        await admin.close()
