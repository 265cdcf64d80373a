"""A consumer whose handler never finishes: the test kills it with SIGKILL mid-handler."""

from __future__ import annotations

import asyncio
import os

from pydantic import SecretStr

from contracts import MessageReceived, Topic
from messaging import KafkaSettings, KeyedConsumer, MessagingRuntime, create_broker
from redis_client import RedisSettings, create_redis


async def main() -> None:
    settings = KafkaSettings(
        bootstrap_servers=os.environ["TEST_KAFKA_BOOTSTRAP"],
        topic_prefix=os.environ["TEST_TOPIC_PREFIX"],
        group_prefix=os.environ["TEST_TOPIC_PREFIX"],
        partitions=3,
        session_timeout_ms=6_000,
        heartbeat_interval_ms=1_000,
    )
    redis_settings = RedisSettings(
        url=SecretStr(os.environ["TEST_REDIS_URL"]), key_prefix=os.environ["TEST_REDIS_PREFIX"]
    )
    redis = await create_redis(redis_settings)

    async def handle(event: MessageReceived) -> None:
        await redis.set(redis_settings.key(f"started:{event.event_id}"), "1")
        await asyncio.sleep(3600)

    broker = create_broker(settings, client_id="crashing-consumer")
    consumer = KeyedConsumer(
        broker=broker,
        settings=settings,
        topic=Topic.MESSAGE_RECEIVED,
        consumer="crash-test",
        handler=handle,
    )
    runtime = MessagingRuntime(broker=broker, settings=settings, consumers=[consumer])
    runtime.register()
    await runtime.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
