"""Personalised campaign messages: what a rewrite must keep, the prompt, and the message
written through the process (the model's rewrite, or the template when the rewrite lost a fact)."""

from __future__ import annotations

import uuid

from contracts import (
    PersonaliseMessageData,
    RequestPersonalisation,
    SendPurpose,
    SendText,
    SendTextData,
    Topic,
)
from database import Pool, PostgresSettings
from generator.campaign_messages import TEMPLATE_MODEL, facts_of, kept_facts, personalise_chat
from generator.persona import DEFAULT_PERSONA
from messaging import KafkaSettings

from .conftest import (
    PersonaRow,
    generator_settings,
    publish,
    read_events,
    running_generator,
    seed_conversation,
)
from .openai_stub import OpenAIStub

ORIGINAL = "Oi Ana! A pizza grande sai por R$ 39,90 até 25/12. Peça em https://loja.example/pedido?x=1."


def test_a_rewrite_keeps_every_number_date_and_link() -> None:
    assert facts_of(ORIGINAL) == ["39,90", "25/12", "https://loja.example/pedido?x=1"]
    assert facts_of("Escreva para vendas@loja.example ou ligue 11 3333-4444.") == [
        "vendas@loja.example",
        "11",
        "3333-4444",
    ]
    kept = "Ana, a grande está R$ 39,90 até 25/12 — pede aqui: https://loja.example/pedido?x=1 😉"
    assert kept_facts(ORIGINAL, kept) == []
    assert kept_facts(ORIGINAL, "Ana, a grande está R$ 39,99 até 25/12! https://loja.example/pedido?x=1") == [
        "39,90"
    ]
    assert kept_facts(ORIGINAL, "Ana, pizza em promoção, corre!") == [
        "39,90",
        "25/12",
        "https://loja.example/pedido?x=1",
    ]
    assert kept_facts("Sem números aqui.", "Nada de números.") == []


def test_the_prompt_is_the_persona_then_the_rules_with_the_message_as_the_users() -> None:
    chat = personalise_chat(
        DEFAULT_PERSONA, ORIGINAL, {"name": "Ana", "city": "Recife", "vip": True, "tags": [1]}
    )
    assert [m.role for m in chat] == ["system", "user"]
    system = chat[0].content
    assert system.startswith(DEFAULT_PERSONA.system_prompt)
    assert "every fact exactly as written" in system
    assert "Brazilian Portuguese" in system
    assert f"At most {DEFAULT_PERSONA.max_length} characters" in system
    assert "- name: Ana" in system
    assert "- city: Recife" in system
    assert "vip" not in system, "only plain values are shown"
    assert "tags" not in system
    assert chat[1].content == ORIGINAL


def _request(tenant: uuid.UUID, instance: uuid.UUID, name: str, text: str) -> RequestPersonalisation:
    campaign = uuid.uuid4()
    return RequestPersonalisation(
        tenant_id=tenant,
        correlation_id=campaign,
        data=PersonaliseMessageData(
            send=SendTextData(
                send_id=uuid.uuid4(),
                instance_id=instance,
                instance_name=name,
                to="5511999990002",
                text=text,
                purpose=SendPurpose.OUTREACH,
                campaign_id=campaign,
                target_id=uuid.uuid4(),
            ),
            template="Oi {{name}}! ...",
            variables={"name": "Ana"},
        ),
    )


async def test_a_campaign_message_is_rewritten_once_and_a_rewrite_that_loses_a_fact_is_not_sent(
    db_pool: Pool, kafka_settings: KafkaSettings, postgres_settings: PostgresSettings, stub: OpenAIStub
) -> None:
    seeded = await seed_conversation(db_pool, persona=PersonaRow())
    settings = generator_settings(kafka_settings, postgres_settings, stub=stub)
    rewritten = "Ana, a grande tá R$ 39,90 até 25/12! Pede aqui: https://loja.example/pedido?x=1"
    stub.reply = lambda body: (
        rewritten if "Ana" in body["messages"][-1]["content"] else "Bia, pizza em promoção!"
    )
    good = _request(seeded.tenant_id, seeded.instance_id, seeded.instance_name, ORIGINAL)
    lossy_text = "Oi Bia! A pizza grande sai por R$ 39,90 até 25/12."
    lossy = _request(seeded.tenant_id, seeded.instance_id, seeded.instance_name, lossy_text)
    async with running_generator(settings):
        await publish(kafka_settings, [good, good, lossy])
        records = await read_events(kafka_settings, Topic.SEND_REQUESTED, 2)
    sends = {event.data.send_id: event for _, event in records if isinstance(event, SendText)}
    assert set(sends) == {good.data.send.send_id, lossy.data.send.send_id}
    assert sends[good.data.send.send_id].data == good.data.send.model_copy(update={"text": rewritten})
    assert sends[lossy.data.send.send_id].data == lossy.data.send, "the template's own text went out"

    rows = {
        row["id"]: row
        for row in await db_pool.fetch(
            "SELECT id, kind, text, model, error, persona_id FROM replies WHERE id = ANY($1::uuid[])",
            list(sends),
        )
    }
    assert len(rows) == 2, "the duplicate request wrote nothing more"
    written = rows[good.data.send.send_id]
    assert (written["kind"], written["text"], written["error"]) == ("campaign", rewritten, None)
    assert written["persona_id"] == seeded.persona_id
    refused = rows[lossy.data.send.send_id]
    assert (refused["text"], refused["model"]) == (lossy_text, TEMPLATE_MODEL)
    assert refused["error"] == "the rewrite dropped 39,90, 25/12"
    # The model wrote in the number's persona, with the message as the user's.
    [call] = [call for call in stub.calls if call.last_user_text == ORIGINAL]
    assert call.messages[0]["content"].startswith(PersonaRow().system_prompt)
