"""The generator against the real Kafka and PostgreSQL, with the real `openai` SDK talking to
a local OpenAI-compatible stub over a socket."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from contracts import ReplyGenerated, ReplyIntent, SendPurpose, SendText, Topic, stable_id
from database import Pool, PostgresSettings
from generator.fixed_texts import MODEL_FAILURE_TEXT
from generator.persona import DEFAULT_PERSONA
from generator.replies import ReplyGenerator
from generator.reply_model import OpenAIReplyModel, build_reply_model
from generator.settings import GeneratorSettings, ModelEndpoint, TypingSettings
from messaging import KafkaSettings, StagedEvent
from testkit import wait_until

from .conftest import (
    PersonaRow,
    Seeded,
    add_message,
    generator_settings,
    minutes_ago,
    publish,
    read_events,
    reply_request,
    running_generator,
    seed_conversation,
    seed_tenant,
    topic_size,
)
from .openai_stub import OpenAIStub

NO_DELAYS = TypingSettings(human_delays=False)


async def reply_row(pool: Pool, request_event_id: uuid.UUID) -> Any:
    return await pool.fetchrow("SELECT * FROM replies WHERE request_event_id = $1", request_event_id)


def of_type(records: Iterable[tuple[bytes, Any]], kind: type[Any]) -> list[tuple[bytes, Any]]:
    return [(key, event) for key, event in records if isinstance(event, kind)]


# -- the whole flow on Kafka -------------------------------------------------------------


async def test_a_request_on_kafka_becomes_a_stored_reply_its_event_and_one_send_per_part(
    db_pool: Pool, kafka_settings: KafkaSettings, postgres_settings: PostgresSettings, stub: OpenAIStub
) -> None:
    seeded = await seed_conversation(db_pool, persona=PersonaRow())
    await add_message(db_pool, seeded, "oi", at=minutes_ago(10))
    await add_message(db_pool, seeded, "Olá! Como posso ajudar?", at=minutes_ago(9), origin="mirage")
    burst = [
        await add_message(db_pool, seeded, "quero um tênis", at=minutes_ago(1)),
        await add_message(db_pool, seeded, "tamanho 38", at=minutes_ago(0.9)),
    ]
    stub.reply = lambda _: "Oi, Ana!\n\nTemos o tênis 38 sim, em duas cores.\n\nQuer que eu reserve?"
    event = reply_request(seeded, burst, delay_ms=5_000)
    typing = TypingSettings(ms_per_char=40, min_ms=800, max_ms=8_000, jitter=0.25)
    settings = generator_settings(kafka_settings, postgres_settings, stub=stub, typing=typing)

    async with running_generator(settings):
        await publish(kafka_settings, [event])
        [(generated_key, generated)] = await read_events(kafka_settings, Topic.REPLY_GENERATED, 1)
        sends = await read_events(kafka_settings, Topic.SEND_REQUESTED, 3)

    reply_id = stable_id("reply", event.event_id)
    assert isinstance(generated, ReplyGenerated)
    assert generated_key == seeded.conversation_id.bytes
    assert generated.event_id == stable_id("reply.generated", event.event_id)
    assert (generated.correlation_id, generated.causation_id) == (event.correlation_id, event.event_id)
    assert generated.data.reply_id == reply_id
    assert generated.data.parts == (
        "Oi, Ana!",
        "Temos o tênis 38 sim, em duas cores.",
        "Quer que eu reserve?",
    )
    assert generated.data.model == "persona-model"
    assert generated.data.persona_id == seeded.persona_id
    assert not generated.data.offline

    sends.sort(key=lambda record: record[1].data.part_index)
    for index, (key, send) in enumerate(sends):
        assert isinstance(send, SendText)
        assert key == seeded.conversation_id.bytes
        assert send.event_id == stable_id("send.requested", event.event_id, index)
        assert send.data.send_id == stable_id("send", event.event_id, index)
        assert (send.correlation_id, send.causation_id) == (event.correlation_id, event.event_id)
        assert send.data.text == generated.data.parts[index]
        assert send.data.to == seeded.reply_to
        assert (send.data.instance_id, send.data.instance_name) == (seeded.instance_id, seeded.instance_name)
        assert (send.data.conversation_id, send.data.contact_id) == (
            seeded.conversation_id,
            seeded.contact_id,
        )
        assert send.data.purpose == SendPurpose.REPLY
        assert send.data.app_origin == "bot"
        assert send.data.reply_id == reply_id
    delays = [send.data.typing_delay_ms for _, send in sends]
    # The guard's 5 s loop pause comes on top of the first part's own typing time.
    assert 5_000 + 800 <= delays[0] <= 5_000 + 8_000
    assert all(800 <= delay <= 8_000 for delay in delays[1:])

    row = await reply_row(db_pool, event.event_id)
    assert row["id"] == reply_id
    assert (row["kind"], row["model"], row["offline"], row["error"]) == (
        "reply",
        "persona-model",
        False,
        None,
    )
    assert list(row["parts"]) == list(generated.data.parts)
    assert row["text"] == "\n\n".join(generated.data.parts)
    assert list(row["message_ids"]) == burst
    assert row["persona_id"] == seeded.persona_id
    assert row["tenant_id"] == seeded.tenant_id

    [call] = stub.calls
    assert call.body["model"] == "persona-model"
    assert call.body["temperature"] == 0.5
    assert [(m["role"], m["content"]) for m in call.messages[1:]] == [
        ("user", "oi"),
        ("assistant", "Olá! Como posso ajudar?"),
        ("user", "quero um tênis\ntamanho 38"),
    ]
    assert call.messages[0]["role"] == "system"
    assert call.messages[0]["content"].startswith("Você é a Bia, atendente da Loja Teste.")


async def test_a_redelivered_request_produces_nothing_new(
    db_pool: Pool, kafka_settings: KafkaSettings, postgres_settings: PostgresSettings, stub: OpenAIStub
) -> None:
    seeded = await seed_conversation(db_pool)
    first = await add_message(db_pool, seeded, "oi", at=minutes_ago(2))
    second = await add_message(db_pool, seeded, "alguém aí?", at=minutes_ago(1))
    event = reply_request(seeded, [first])
    # Same conversation, so it is handled after the duplicate: once it is answered, so is the duplicate.
    sentinel = reply_request(seeded, [second])
    settings = generator_settings(kafka_settings, postgres_settings, stub=stub, typing=NO_DELAYS)

    async with running_generator(settings):
        await publish(kafka_settings, [event, event, sentinel])
        await wait_until(
            lambda: topic_size(kafka_settings, Topic.SEND_REQUESTED), timeout=60, message="the first sends"
        )
        records = await read_events(kafka_settings, Topic.SEND_REQUESTED, 2)

    assert {send.data.send_id for _, send in records} == {
        stable_id("send", event.event_id, 0),
        stable_id("send", sentinel.event_id, 0),
    }
    # The sentinel's send is on Kafka, and nothing of the duplicate came before it.
    assert await topic_size(kafka_settings, Topic.SEND_REQUESTED) == 2
    assert await topic_size(kafka_settings, Topic.REPLY_GENERATED) == 2
    assert len(stub.calls) == 2
    assert (
        await db_pool.fetchval("SELECT count(*) FROM replies WHERE request_event_id = $1", event.event_id)
        == 1
    )


async def test_many_conversations_wait_on_the_model_at_once_while_each_stays_in_order(
    db_pool: Pool, kafka_settings: KafkaSettings, postgres_settings: PostgresSettings, stub: OpenAIStub
) -> None:
    tenant_id = await seed_tenant(db_pool)
    singles = [await seed_conversation(db_pool, tenant_id=tenant_id) for _ in range(50)]
    ordered = [await seed_conversation(db_pool, tenant_id=tenant_id) for _ in range(3)]
    requests = []
    for number, seeded in enumerate(singles):
        message = await add_message(db_pool, seeded, f"single-{number}", at=minutes_ago(1))
        requests.append(reply_request(seeded, [message]))
    for number, seeded in enumerate(ordered):
        for turn in range(4):
            message = await add_message(
                db_pool, seeded, f"ordered-{number}-{turn}", at=minutes_ago(10 - turn)
            )
            requests.append(reply_request(seeded, [message]))
    stub.latency_s = 0.3
    stub.reply = lambda body: f"resposta para {body['messages'][-1]['content']}"
    settings = generator_settings(kafka_settings, postgres_settings, stub=stub, typing=NO_DELAYS)

    # Everything is on the topic before the generator starts: its first batch holds all of it.
    await publish(kafka_settings, requests)
    async with running_generator(settings):
        await wait_until(
            lambda: db_pool.fetchval(
                "SELECT count(*) = $2 FROM replies WHERE tenant_id = $1", tenant_id, len(requests)
            ),
            timeout=90,
            message="every reply",
        )

    assert stub.peak > 20, f"only {stub.peak} model calls were ever in flight at once"
    for number in range(3):
        calls = sorted(
            (call for call in stub.calls if call.last_user_text.startswith(f"ordered-{number}-")),
            key=lambda call: call.started,
        )
        assert [call.last_user_text for call in calls] == [f"ordered-{number}-{turn}" for turn in range(4)]
        for before, after in itertools.pairwise(calls):
            assert before.ended is not None
            assert after.started >= before.ended, "two requests of one conversation overlapped"
            # The model sees its own previous answer even before WhatsApp echoed it back.
            answers = [m["content"] for m in after.messages if m["role"] == "assistant"]
            assert any(f"resposta para {before.last_user_text}" in answer for answer in answers), answers


async def test_the_offline_generator_answers_when_no_model_is_configured(
    db_pool: Pool, kafka_settings: KafkaSettings, postgres_settings: PostgresSettings
) -> None:
    seeded = await seed_conversation(db_pool)
    message = await add_message(db_pool, seeded, "qual o horário de vocês?", at=minutes_ago(1))
    event = reply_request(seeded, [message])
    settings = generator_settings(kafka_settings, postgres_settings, stub=None, typing=NO_DELAYS)

    async with running_generator(settings) as app:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://generator"
        ) as http:
            ready = await http.get("/readyz")
        await publish(kafka_settings, [event])
        [(_, send)] = await read_events(kafka_settings, Topic.SEND_REQUESTED, 1)
        [(_, generated)] = await read_events(kafka_settings, Topic.REPLY_GENERATED, 1)

    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"postgres": "ok", "kafka": "ok"}
    assert send.data.text == (
        "Olá, Ana! Esta é uma resposta automática em modo offline (nenhum modelo de IA está configurado). "
        "Recebi sua mensagem: «qual o horário de vocês?». Em breve alguém da equipe continua o atendimento "
        "por aqui."
    )
    assert send.data.typing_delay_ms == 0
    assert (generated.data.offline, generated.data.model) == (True, "offline")
    row = await reply_row(db_pool, event.event_id)
    assert (row["kind"], row["offline"], row["model"]) == ("reply", True, "offline")


async def test_intents_and_bursts_without_text_are_answered_with_fixed_texts(
    db_pool: Pool, kafka_settings: KafkaSettings, postgres_settings: PostgresSettings, stub: OpenAIStub
) -> None:
    opted_out = await seed_conversation(db_pool)
    keyword = await add_message(db_pool, opted_out, "PARE", at=minutes_ago(1))
    voice = await seed_conversation(db_pool)
    audio = await add_message(db_pool, voice, None, at=minutes_ago(1), category="audio")
    opt_out = reply_request(opted_out, [keyword], intent=ReplyIntent.OPT_OUT_CONFIRMATION)
    without_text = reply_request(voice, [audio], without_text=True)
    settings = generator_settings(kafka_settings, postgres_settings, stub=stub, typing=NO_DELAYS)

    async with running_generator(settings):
        await publish(kafka_settings, [opt_out, without_text])
        records = await read_events(kafka_settings, Topic.SEND_REQUESTED, 2)

    sends = {send.causation_id: send for _, send in records}
    confirmation = sends[opt_out.event_id].data
    assert confirmation.purpose == SendPurpose.OPT_OUT_CONFIRMATION
    assert confirmation.text.startswith("Pronto! Você não vai mais receber mensagens nossas por aqui.")
    assert "é só enviar VOLTAR" in confirmation.text
    fallback = sends[without_text.event_id].data
    assert fallback.purpose == SendPurpose.REPLY
    assert fallback.text.startswith("Recebi seu áudio")
    assert stub.calls == []
    assert (await reply_row(db_pool, opt_out.event_id))["kind"] == "confirmation"
    assert (await reply_row(db_pool, without_text.event_id))["kind"] == "fallback"


async def test_a_failing_model_gets_the_contact_a_fallback_and_the_consumer_carries_on(
    db_pool: Pool, kafka_settings: KafkaSettings, postgres_settings: PostgresSettings, stub: OpenAIStub
) -> None:
    seeded = await seed_conversation(db_pool)
    first = await add_message(db_pool, seeded, "oi", at=minutes_ago(2))
    second = await add_message(db_pool, seeded, "oi de novo", at=minutes_ago(1))
    failing = reply_request(seeded, [first])
    later = reply_request(seeded, [second])
    stub.fail_status = 500
    settings = generator_settings(
        kafka_settings, postgres_settings, stub=stub, max_retries=1, typing=NO_DELAYS
    )

    async with running_generator(settings):
        await publish(kafka_settings, [failing])
        [(_, apology)] = await read_events(kafka_settings, Topic.SEND_REQUESTED, 1)
        stub.fail_status = None
        await publish(kafka_settings, [later])
        records = await read_events(kafka_settings, Topic.SEND_REQUESTED, 2)

    assert apology.causation_id == failing.event_id
    assert apology.data.text == MODEL_FAILURE_TEXT
    assert len([call for call in stub.calls if call.last_user_text == "oi"]) == 2  # the SDK retried once
    row = await reply_row(db_pool, failing.event_id)
    assert (row["kind"], row["model"]) == ("fallback", "fixed")
    assert "HTTP 500" in row["error"]
    answered = next(send for _, send in records if send.causation_id == later.event_id)
    assert answered.data.text.startswith("Olá! Você disse:")


async def test_in_dead_letter_mode_a_failing_model_dead_letters_the_request(
    db_pool: Pool, kafka_settings: KafkaSettings, postgres_settings: PostgresSettings, stub: OpenAIStub
) -> None:
    first = await seed_conversation(db_pool)
    second = await seed_conversation(db_pool)
    rejected = reply_request(first, [await add_message(db_pool, first, "oi", at=minutes_ago(1))])
    unavailable = reply_request(second, [await add_message(db_pool, second, "olá", at=minutes_ago(1))])
    settings = generator_settings(
        kafka_settings,
        postgres_settings,
        stub=stub,
        max_retries=0,
        on_failure="dead_letter",
        typing=NO_DELAYS,
    )
    dead_letters = kafka_settings.dead_letter(Topic.REPLY_REQUESTED, "generator")

    async with running_generator(settings):
        stub.fail_status = 401  # a bad key: retrying cannot help
        await publish(kafka_settings, [rejected])
        [(_, dead)] = await read_events(
            kafka_settings, dead_letters.removeprefix(kafka_settings.topic_prefix), 1
        )
        assert dead.event_id == rejected.event_id
        assert len(stub.calls) == 1
        stub.fail_status = 503  # an outage: the consumer retries it, then gives up
        await publish(kafka_settings, [unavailable])
        records = await read_events(kafka_settings, dead_letters.removeprefix(kafka_settings.topic_prefix), 2)

    assert {event.event_id for _, event in records} == {rejected.event_id, unavailable.event_id}
    assert len(stub.calls) == 1 + 3  # the consumer's three attempts
    assert await topic_size(kafka_settings, Topic.SEND_REQUESTED) == 0
    for event in (rejected, unavailable):
        assert await reply_row(db_pool, event.event_id) is None


# -- the service on PostgreSQL, without Kafka ------------------------------------------


class RecordingRelay:
    """Keeps what would have been published (the tests delete those outbox rows afterwards)."""

    def __init__(self) -> None:
        self.staged: list[StagedEvent] = []

    def notify(self, staged: Iterable[StagedEvent]) -> None:
        self.staged.extend(staged)


ServiceFactory = Callable[..., ReplyGenerator]


@pytest.fixture
async def make_service(db_pool: Pool, stub: OpenAIStub) -> AsyncIterator[ServiceFactory]:
    """Builds `ReplyGenerator`s bound to the test database and the stub."""
    built: list[tuple[ReplyGenerator, RecordingRelay]] = []

    def factory(**settings_values: Any) -> ReplyGenerator:
        settings = GeneratorSettings.model_validate(
            {
                "model": {"base_url": stub.base_url, "api_key": SecretStr("k"), "model": "default-model"},
                "typing": {"human_delays": False},
                **settings_values,
            }
        )
        endpoint = settings.model.endpoint({})
        assert isinstance(endpoint, ModelEndpoint)
        service = ReplyGenerator(settings, build_reply_model(endpoint))
        relay = RecordingRelay()
        service.bind(db_pool, relay)  # type: ignore[arg-type]
        built.append((service, relay))
        return service

    yield factory
    for service, relay in built:
        assert isinstance(service.model, OpenAIReplyModel)
        await service.model.close()
        # Nothing else may publish these rows (a later test's relay would sweep them).
        await db_pool.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [s.id for s in relay.staged])


async def test_the_burst_and_mirages_unechoed_replies_reach_the_prompt_within_the_window(
    db_pool: Pool, stub: OpenAIStub, make_service: ServiceFactory
) -> None:
    seeded = await seed_conversation(db_pool, persona=PersonaRow())
    for number in range(6):
        await add_message(db_pool, seeded, f"h{number}", at=minutes_ago(60 - number))
    await _earlier_reply(
        db_pool, seeded, ["Resposta um", "Parte dois"], at=minutes_ago(30), echoed={0: minutes_ago(29)}
    )
    await _earlier_reply(db_pool, seeded, ["Nunca entregue"], at=minutes_ago(20), failed={0})
    burst = [
        await add_message(db_pool, seeded, f"b{number}", at=minutes_ago(5 - number)) for number in range(3)
    ]
    await add_message(db_pool, seeded, "depois do burst", at=minutes_ago(1))
    service = make_service(reply={"context_messages": 6})

    await service.on_reply_requested(reply_request(seeded, burst))

    [call] = stub.calls
    assert [(m["role"], m["content"]) for m in call.messages[1:]] == [
        ("user", "h5"),
        ("assistant", "Resposta um\nParte dois"),
        ("user", "b0\nb1\nb2"),
    ]


async def _earlier_reply(
    pool: Pool,
    seeded: Seeded,
    parts: list[str],
    *,
    at: Any,
    echoed: dict[int, Any] | None = None,
    failed: set[int] | None = None,
) -> uuid.UUID:
    """A reply of an earlier request, its sends (sender's rows) and their echoes (ingest's rows)."""
    reply_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO replies (id, tenant_id, request_event_id, kind, conversation_id, instance_id,"
        " text, parts, model, created_at) VALUES ($1, $2, $3, 'reply', $4, $5, $6, $7, 'm', $8)",
        reply_id,
        seeded.tenant_id,
        uuid.uuid4(),
        seeded.conversation_id,
        seeded.instance_id,
        "\n\n".join(parts),
        parts,
        at,
    )
    for index, part in enumerate(parts):
        provider_id = uuid.uuid4().hex[:22].upper()
        status = "failed" if index in (failed or set()) else "sent"
        await pool.execute(
            "INSERT INTO sends (send_id, tenant_id, instance_id, instance_name, conversation_id, recipient,"
            " recipient_digits, text, purpose, reply_id, part_index, status, provider_message_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'reply', $9, $10, $11, $12)",
            uuid.uuid4(),
            seeded.tenant_id,
            seeded.instance_id,
            seeded.instance_name,
            seeded.conversation_id,
            seeded.reply_to,
            seeded.reply_to.split("@")[0],
            part,
            reply_id,
            index,
            status,
            provider_id if status == "sent" else None,
        )
        if index in (echoed or {}):
            await add_message(
                pool, seeded, part, at=(echoed or {})[index], origin="mirage", provider_id=provider_id
            )
    return reply_id


async def test_without_a_persona_the_default_pt_br_persona_and_model_answer(
    db_pool: Pool, stub: OpenAIStub, make_service: ServiceFactory
) -> None:
    seeded = await seed_conversation(db_pool)
    message = await add_message(db_pool, seeded, "oi", at=minutes_ago(1))
    event = reply_request(seeded, [message])

    await make_service().on_reply_requested(event)

    [call] = stub.calls
    assert call.messages[0]["content"].startswith(DEFAULT_PERSONA.system_prompt)
    assert (call.body["model"], call.body["temperature"]) == ("default-model", DEFAULT_PERSONA.temperature)
    row = await reply_row(db_pool, event.event_id)
    assert (row["persona_id"], row["model"]) == (None, "default-model")


async def test_the_personas_style_shapes_what_is_stored_and_sent(
    db_pool: Pool, stub: OpenAIStub, make_service: ServiceFactory
) -> None:
    seeded = await seed_conversation(db_pool, persona=PersonaRow(emoji=False, max_length=80))
    message = await add_message(db_pool, seeded, "tem desconto?", at=minutes_ago(1))
    stub.reply = lambda _: (
        "Oi! 😊 Temos sim.\n\nHoje tem 10% de desconto em tudo 🎉. "
        "E frete grátis acima de R$ 200 para todo o Brasil."
    )
    event = reply_request(seeded, [message])

    await make_service().on_reply_requested(event)

    row = await reply_row(db_pool, event.event_id)
    assert list(row["parts"]) == ["Oi! Temos sim.", "Hoje tem 10% de desconto em tudo."]
    assert len(row["text"]) <= 80


async def test_a_request_is_answered_once_even_when_two_deliveries_race(
    db_pool: Pool, stub: OpenAIStub, make_service: ServiceFactory
) -> None:
    seeded = await seed_conversation(db_pool)
    message = await add_message(db_pool, seeded, "oi", at=minutes_ago(1))
    event = reply_request(seeded, [message])
    service = make_service()
    # Both deliveries draft before either stores: only the claim can keep the second out.
    first_draft = await service.draft_reply(event)
    second_draft = await service.draft_reply(event)
    assert first_draft is not None
    assert second_draft is not None

    await service.store_reply(event, first_draft)
    await service.store_reply(event, second_draft)
    # Once stored, a later redelivery stops before the model.
    assert await service.draft_reply(event) is None

    relay = service.relay
    assert isinstance(relay, RecordingRelay)
    assert len(stub.calls) == 2
    assert (
        await db_pool.fetchval("SELECT count(*) FROM replies WHERE request_event_id = $1", event.event_id)
        == 1
    )
    # One reply.generated and one send, staged once.
    assert sorted(staged.topic for staged in relay.staged) == ["reply.generated", "send.requested"]
    assert (
        await db_pool.fetchval(
            "SELECT count(*) FROM outbox WHERE id = ANY($1::bigint[])", [staged.id for staged in relay.staged]
        )
        == 2
    )
