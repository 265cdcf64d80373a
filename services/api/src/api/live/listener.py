"""Each api process hears every `instance.status_changed`, in a consumer group of its own.

A group unique to the process makes the topic a broadcast: every replica sees
every event and pushes it to its own streams. The group starts at the end of the
topic (a stream shows what happens from now on; `/events` sends a snapshot for
the past) and never commits: nothing is resumed after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from pydantic import ValidationError

from api.live.hub import LiveHub, live_event
from api.metrics import ApiMetrics
from contracts import InstanceStatusChanged, Topic, UnexpectedEventError, parse_event
from messaging import KafkaSettings

log = structlog.get_logger(__name__)


class _SeekToEnd(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment: start at the end, resolve the positions, then say the listener is ready."""

    def __init__(self, listener: StatusChangeListener) -> None:
        self.listener = listener

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Nothing to commit: this group never commits."""

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """Seek to the end of every assigned partition."""
        consumer = self.listener.consumer
        if consumer is None or not assigned:
            return
        await consumer.seek_to_end(*assigned)
        for partition in assigned:
            await consumer.position(partition)
        self.listener.ready.set()


class StatusChangeListener:
    """Consumes `instance.status_changed` and publishes it to the process's `LiveHub`."""

    def __init__(self, *, kafka: KafkaSettings, hub: LiveHub, metrics: ApiMetrics) -> None:
        self.kafka = kafka
        self.hub = hub
        self.metrics = metrics
        self.group_id = kafka.group(f"api-live-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        self.consumer: AIOKafkaConsumer | None = None
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Join the group and start pushing events."""
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.kafka.bootstrap_servers,
            group_id=self.group_id,
            client_id="mirage-api-live",
            enable_auto_commit=False,
            auto_offset_reset="latest",
            session_timeout_ms=self.kafka.session_timeout_ms,
            heartbeat_interval_ms=self.kafka.heartbeat_interval_ms,
            fetch_max_wait_ms=100,
        )
        self.consumer.subscribe([self.kafka.topic(Topic.INSTANCE_STATUS_CHANGED)], listener=_SeekToEnd(self))
        await self.consumer.start()
        self._task = asyncio.create_task(self._run(), name="live-status-listener")

    async def _run(self) -> None:
        assert self.consumer is not None
        while True:
            try:
                batches = await self.consumer.getmany(timeout_ms=500)
            except Exception as error:  # noqa: BLE001 - the live stream must outlive broker hiccups
                log.warning("live listener fetch failed", error=f"{type(error).__name__}: {error}")
                await asyncio.sleep(1.0)
                continue
            for records in batches.values():
                for record in records:
                    self._publish(record.value or b"")

    def _publish(self, payload: bytes) -> None:
        try:
            event = parse_event(payload, Topic.INSTANCE_STATUS_CHANGED)
        except (ValidationError, UnexpectedEventError):
            return  # the durable consumers dead-letter it; the live view just skips it
        if isinstance(event, InstanceStatusChanged):
            self.metrics.live_events.inc()
            self.hub.publish(live_event(event))

    async def stop(self) -> None:
        """Leave the group."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None
