"""Token usage read from the model's response: on the answer, on `reply.generated`, on `/metrics`."""

from __future__ import annotations

import uuid

from prometheus_client import CollectorRegistry

from contracts import GenerateReply, GenerateReplyData, ReplyGenerated
from generator.prompt import ChatMessage
from generator.replies import ReplyDraft, reply_events
from generator.reply_model import ModelMetrics, ModelRequest, OpenAIReplyModel
from generator.settings import ModelEndpoint

from .openai_stub import OpenAIStub

CHAT = (
    ChatMessage(role="system", content="Você é a Bia."),
    ChatMessage(role="user", content="oi, tudo bem?"),
)


async def test_the_answer_carries_the_usage_and_the_metrics_count_it(stub: OpenAIStub) -> None:
    registry = CollectorRegistry()
    model = OpenAIReplyModel(
        ModelEndpoint(
            api_key="k",
            base_url=stub.base_url,
            model="m",
            timeout_s=5,
            max_retries=0,
            max_tokens=None,
            max_connections=4,
        ),
        metrics=ModelMetrics(registry),
    )
    try:
        answer = await model.answer(ModelRequest(chat=CHAT, temperature=0.3))
    finally:
        await model.close()
    assert answer.prompt_tokens == 10
    assert answer.completion_tokens == max(1, len(answer.text) // 4)
    assert (
        registry.get_sample_value("mirage_generator_model_tokens_total", {"model": "m", "kind": "prompt"})
        == 10
    )
    count = registry.get_sample_value("mirage_generator_model_seconds_count", {"model": "m", "outcome": "ok"})
    assert count == 1


def test_reply_generated_publishes_the_tokens() -> None:
    request = GenerateReply(
        tenant_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        data=GenerateReplyData(
            conversation_id=uuid.uuid4(),
            instance_id=uuid.uuid4(),
            instance_name="loja",
            contact_id=uuid.uuid4(),
            reply_to="5511999990001@s.whatsapp.net",
            message_ids=(uuid.uuid4(),),
        ),
    )
    draft = ReplyDraft(
        kind="reply", text="olá", parts=("olá",), model="m", prompt_tokens=120, completion_tokens=7
    )
    generated = reply_events(request, draft, [0])[0]
    assert isinstance(generated, ReplyGenerated)
    assert (generated.data.prompt_tokens, generated.data.completion_tokens) == (120, 7)
