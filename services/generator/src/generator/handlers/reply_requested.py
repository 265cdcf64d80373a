"""`reply.requested` → `ReplyGenerator.on_reply_requested` (consumer group `generator`)."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from contracts import GenerateReply, Topic
from generator.replies import CONSUMER, ReplyGenerator
from generator.settings import GeneratorSettings
from messaging import KeyedConsumer


def reply_requested_consumer(
    broker: KafkaBroker, settings: GeneratorSettings, generator: ReplyGenerator
) -> KeyedConsumer[GenerateReply]:
    """The consumer that answers people: concurrent across conversations, in order within one."""
    return KeyedConsumer(
        broker=broker,
        settings=settings.kafka,
        topic=Topic.REPLY_REQUESTED,
        consumer=CONSUMER,
        accepts=(GenerateReply,),
        handler=generator.on_reply_requested,
        max_concurrency=settings.max_concurrent_conversations,
    )
