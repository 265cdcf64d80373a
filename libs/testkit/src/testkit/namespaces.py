"""Namespaces: the prefix of the Kafka topics, consumer groups and Redis keys one test owns.

Every namespace a test process hands out is remembered, so the session can remove
what it created when it ends: thousands of leftover topics from earlier runs would
otherwise slow every later broker start and fill the disk.
"""

from __future__ import annotations

import uuid

from pydantic import SecretStr

from messaging import KafkaSettings, delete_topics_with_prefixes
from redis_client import RedisSettings, create_redis

_issued: set[str] = set()


def new_namespace(kind: str) -> str:
    """A fresh namespace starting with `kind` (a letter or short word), remembered for clean-up."""
    namespace = f"{kind}{uuid.uuid4().hex[:10]}"
    _issued.add(namespace)
    return namespace


def issued_namespaces() -> frozenset[str]:
    """The namespaces this process handed out."""
    return frozenset(_issued)


async def remove_namespaces(
    kafka_bootstrap: str, redis_url: str, namespaces: frozenset[str]
) -> tuple[int, int]:
    """Delete the topics (`<ns>.`) and Redis keys (`<ns>:`) of `namespaces`; how many of each."""
    if not namespaces:
        return 0, 0
    topics = await delete_topics_with_prefixes(
        KafkaSettings(bootstrap_servers=kafka_bootstrap),
        [f"{namespace}." for namespace in namespaces],
        client_id="mirage-tests-cleanup",
    )
    redis = await create_redis(RedisSettings(url=SecretStr(redis_url)))
    prefixes = tuple(f"{namespace}:".encode() for namespace in namespaces)
    keys = 0
    try:
        # One pass over the keyspace for every namespace at once.
        batch: list[bytes] = []
        async for key in redis.scan_iter(count=1000):
            if key.startswith(prefixes):
                batch.append(key)
            if len(batch) >= 500:
                keys += await redis.unlink(*batch)
                batch.clear()
        if batch:
            keys += await redis.unlink(*batch)
    finally:
        await redis.aclose()
    for namespace in namespaces:
        _issued.discard(namespace)
    return len(topics), keys
