"""The integration tier really runs against Apache Kafka 4.x (KRaft), PostgreSQL and Redis."""

from __future__ import annotations

import asyncpg
from pydantic import SecretStr

from messaging import KafkaSettings, cluster_metadata
from redis_client import RedisSettings, create_redis
from testkit import Infra, pinned_kafka_version


async def test_the_broker_is_the_pinned_apache_kafka_4(infra: Infra) -> None:
    assert infra.kafka_version == pinned_kafka_version()
    assert int(infra.kafka_version.split(".")[0]) >= 4, "Kafka 4.x runs only in KRaft mode"
    metadata = await cluster_metadata(KafkaSettings(bootstrap_servers=infra.kafka_bootstrap))
    assert metadata["brokers"], metadata


async def test_postgres_and_redis_answer(infra: Infra) -> None:
    conn = await asyncpg.connect(infra.postgres_admin_dsn)
    try:
        assert await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()
    redis = await create_redis(RedisSettings(url=SecretStr(infra.redis_url)))
    try:
        assert await redis.ping()
    finally:
        await redis.aclose()
