"""Composition root of the guard: its only place that wires dependencies."""

from __future__ import annotations

import os
from collections.abc import Mapping

from fastapi import FastAPI

from contracts import Topic
from guard.burst_flusher import BurstFlusher
from guard.debounce import DebounceStore
from guard.loop_counter import LoopCounter
from guard.media_fetch import MediaFetcher
from guard.media_understanding import MediaMetrics, MediaUnderstanding
from guard.redis_keys import GuardRedisKeys
from guard.service import CONSUMER, PRODUCER, Guard
from guard.settings import GuardSettings
from guard.transcription import build_transcriber
from messaging import MessagingRuntime, Outbox, OutboxRelay, create_broker
from service_runtime import PeriodicTask, ServiceHost, configure_logging, configure_tracing

PRODUCES = (Topic.REPLY_REQUESTED, Topic.CONVERSATION_BLOCKED, Topic.CONTACT_OPTED_OUT, Topic.ADMIN_ALERT)


def create_app(settings: GuardSettings, *, environ: Mapping[str, str] | None = None) -> FastAPI:
    """Build the guard process: the `message.received` consumer (with its media step), the
    outbox relay, the burst flusher and the media retention sweep, behind `/livez`,
    `/readyz` and `/metrics`. `environ` is where `OPENAI_API_KEY`/`OPENAI_BASE_URL` are
    looked up as fallbacks for the transcription endpoint (the process environment unless given)."""
    configure_logging("guard", level=settings.runtime.log_level, json_lines=settings.runtime.log_json)
    configure_tracing("mirage-guard")
    host = ServiceHost("guard", GuardSettings)
    policy = settings.policy
    transcriber = build_transcriber(settings.transcription, os.environ if environ is None else environ)
    media = MediaUnderstanding(
        settings=settings.media,
        fetcher=MediaFetcher(settings.media, settings.evolution),
        transcriber=transcriber,
        metrics=MediaMetrics(host.registry),
    )
    guard = Guard(policy=policy, outbox=Outbox(PRODUCER, namespace=settings.kafka.topic_prefix), media=media)
    broker = create_broker(settings.kafka, client_id="mirage-guard")
    messaging = MessagingRuntime(
        broker=broker,
        settings=settings.kafka,
        produces=PRODUCES,
        metrics=host.messaging_metrics,
    )
    messaging.consume(Topic.MESSAGE_RECEIVED, CONSUMER, guard.on_message_received)
    messaging.register()

    async def startup() -> None:
        # Closed last: lanes finish their fetches and transcriptions first.
        host.on_close(media.close)
        pool = await host.open_pool(settings.postgres)
        media.bind(pool)
        redis = await host.open_redis(settings.redis)
        keys = GuardRedisKeys(settings.redis)
        debounce = DebounceStore(
            redis,
            keys,
            window_ms=policy.debounce_window_ms,
            max_wait_ms=policy.debounce_max_wait_ms,
            lease_ms=policy.claim_lease_ms,
        )
        relay = OutboxRelay(
            pool=pool, settings=settings.kafka, producer=PRODUCER, metrics=host.messaging_metrics
        )
        messaging.relay = relay
        guard.bind(
            pool=pool,
            relay=relay,
            loop_counter=LoopCounter(redis, keys, ttl_s=policy.loop_counter_ttl_s),
            debounce=debounce,
        )
        await host.start_messaging(messaging)
        flusher = BurstFlusher(
            store=debounce,
            answer=guard.answer_burst,
            repair=guard.reschedule_unanswered,
            poll_interval_s=policy.flush_poll_interval_ms / 1000,
            idle_poll_interval_s=policy.flush_idle_poll_interval_ms / 1000,
            batch_size=policy.flush_batch_size,
            retry_delay_ms=policy.flush_retry_delay_ms,
            repair_interval_s=policy.repair_interval_s,
            stop_timeout_s=settings.kafka.graceful_timeout_s,
        )
        debounce.on_scheduled(flusher.due_in)
        await flusher.start()
        # Closed first at shutdown: no burst is claimed once consumers and relay stop.
        host.on_close(flusher.stop)
        retention = PeriodicTask(
            "guard-media-retention", media.expire, interval_s=settings.media.retention_sweep_interval_s
        )
        retention.start()
        host.on_close(retention.stop)

    return host.create_app(title="Mirage guard", startup=startup)
