"""Every rule of the guard against the real PostgreSQL and Redis, one message at a time.

The guard's handler is called directly (the Kafka path has its own tests) with the
debounce off, so each answer is staged in the message's own transaction; the outbox
rows are read back under a producer name of the test's own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from contracts import (
    AdminAlert,
    AlertCause,
    ChatKind,
    ContactOptedIn,
    ContactOptedOut,
    ConversationBlocked,
    Envelope,
    GenerateReply,
    MessageCategory,
    MessageReceived,
    ReplyIntent,
    stable_id,
    utc_now,
)
from database import Pool
from guard import repository as guard_repository
from guard.facts import MessageFacts
from guard.output_events import reply_request_id
from guard.settings import GuardPolicy
from messaging import PermanentFailure
from redis_client import RedisSettings

from .conftest import Chat, GuardUnderTest, build_guard, decision_of, new_chat, staged_events, store_message

LOOP_DELAY_MS = 7_000


@pytest.fixture
def under_test(db_pool: Pool, redis: Redis, redis_settings: RedisSettings, namespace: str) -> GuardUnderTest:
    policy = GuardPolicy(debounce_window_ms=0, loop_reply_delay_ms=LOOP_DELAY_MS)
    return build_guard(db_pool, redis, redis_settings, policy, producer=f"guard-test-{namespace}")


async def outputs(under_test: GuardUnderTest, pool: Pool, chat: Chat) -> list[Envelope]:
    return await staged_events(pool, under_test.producer, chat.tenant_id)


def replies(events: list[Envelope]) -> list[GenerateReply]:
    return [event for event in events if isinstance(event, GenerateReply)]


async def decide(under_test: GuardUnderTest, event: MessageReceived) -> None:
    await under_test.guard.on_message_received(event)


async def insert_send(
    pool: Pool,
    chat: Chat,
    text: str,
    *,
    provider_message_id: str | None,
    age: timedelta = timedelta(0),
    instance_id: uuid.UUID | None = None,
) -> None:
    """A row of the sender's registry, as the sender writes it."""
    await pool.execute(
        "INSERT INTO sends (send_id, tenant_id, instance_id, instance_name, conversation_id, contact_id,"
        " recipient, recipient_digits, text, purpose, status, in_flight, provider_message_id,"
        " created_at, updated_at)"
        " VALUES ($1, $2, $3, 'sender', $4, $5, $6, $7, $8, 'reply', $9, $10, $11,"
        " now() - $12::interval, now() - $12::interval)",
        uuid.uuid4(),
        chat.tenant_id,
        instance_id or chat.instance_id,
        chat.conversation_id,
        chat.contact_id,
        chat.reply_to,
        chat.phone,
        text,
        "sending" if provider_message_id is None else "sent",
        provider_message_id is None,
        provider_message_id,
        age,
    )


async def set_controls(pool: Pool, chat: Chat, assignment: str) -> None:
    """The operator's override, as the api writes it (`assignment` is test-owned SQL)."""
    await pool.execute(
        "INSERT INTO conversation_controls (conversation_id, tenant_id) VALUES ($1, $2)"
        " ON CONFLICT (conversation_id) DO NOTHING",
        chat.conversation_id,
        chat.tenant_id,
    )
    await pool.execute(
        f"UPDATE conversation_controls SET {assignment}, updated_at = now() WHERE conversation_id = $1",
        chat.conversation_id,
    )


async def guard_state(pool: Pool, chat: Chat) -> dict[str, object] | None:
    row = await pool.fetchrow(
        "SELECT * FROM conversation_guard_state WHERE conversation_id = $1", chat.conversation_id
    )
    return None if row is None else dict(row)


async def test_a_contact_message_gets_one_reply_request_and_the_decision_is_recorded(
    under_test: GuardUnderTest, db_pool: Pool
) -> None:
    chat = await new_chat(db_pool)
    event = await store_message(db_pool, chat, "Oi, tudo bem? Qual o preço?")
    await decide(under_test, event)

    expected_id = reply_request_id(chat.conversation_id, event.data.message_id)
    assert await decision_of(db_pool, event.data.message_id) == ("reply", "contact_message", expected_id)
    [reply] = await outputs(under_test, db_pool, chat)
    assert isinstance(reply, GenerateReply)
    assert reply.event_id == expected_id
    assert reply.correlation_id == event.correlation_id
    assert reply.causation_id == event.event_id
    assert reply.tenant_id == chat.tenant_id
    assert reply.data.message_ids == (event.data.message_id,)
    assert reply.data.reply_to == chat.reply_to
    assert reply.data.instance_name == chat.instance_name
    assert reply.data.intent is ReplyIntent.ANSWER
    assert reply.data.delay_ms == 0
    assert reply.data.without_text is False
    assert [item.id for item in under_test.relay.notified] != []
    assert (
        await db_pool.fetchval(
            "SELECT count(*) FROM processed_events WHERE consumer = 'guard' AND event_id = $1", event.event_id
        )
        == 1
    )


async def test_audio_without_text_is_answered_as_without_text(
    under_test: GuardUnderTest, db_pool: Pool
) -> None:
    chat = await new_chat(db_pool)
    event = await store_message(db_pool, chat, None, category=MessageCategory.AUDIO)
    await decide(under_test, event)
    [reply] = replies(await outputs(under_test, db_pool, chat))
    assert reply.data.without_text is True


async def test_a_redelivered_event_records_nothing_twice_and_requests_nothing_twice(
    under_test: GuardUnderTest, db_pool: Pool
) -> None:
    chat = await new_chat(db_pool)
    event = await store_message(db_pool, chat, "PARE")
    await decide(under_test, event)
    await decide(under_test, event)
    await decide(under_test, MessageReceived.model_validate_json(event.to_json_bytes()))

    assert (
        await db_pool.fetchval(
            "SELECT count(*) FROM guard_decisions WHERE message_id = $1", event.data.message_id
        )
        == 1
    )
    assert (
        await db_pool.fetchval("SELECT count(*) FROM consent_events WHERE contact_id = $1", chat.contact_id)
        == 1
    )
    produced = await outputs(under_test, db_pool, chat)
    assert sorted(event.type for event in produced) == ["admin.alert", "contact.opted_out", "reply.requested"]


async def test_a_message_that_was_never_stored_is_dead_lettered(
    under_test: GuardUnderTest, db_pool: Pool
) -> None:
    chat = await new_chat(db_pool)
    event = await store_message(db_pool, chat)
    ghost = event.model_copy(
        update={"event_id": uuid.uuid4(), "data": event.data.model_copy(update={"message_id": uuid.uuid4()})}
    )
    with pytest.raises(PermanentFailure, match="not stored"):
        await decide(under_test, ghost)
    # The claim rolled back with the failure: nothing says it was processed.
    assert not await db_pool.fetchval(
        "SELECT count(*) FROM processed_events WHERE event_id = $1", ghost.event_id
    )


class TestOwnMessages:
    async def test_an_id_mirage_sent_from_any_instance_is_ignored(
        self, under_test: GuardUnderTest, db_pool: Pool
    ) -> None:
        chat = await new_chat(db_pool)
        # A warm-up message sent by another of Mirage's instances (another tenant's, even)
        # arrives here with the same WhatsApp id.
        sender_side = await new_chat(db_pool)
        provider_id = f"3EB0{uuid.uuid4().hex[:18].upper()}"
        await insert_send(db_pool, sender_side, "bom dia!", provider_message_id=provider_id)
        event = await store_message(db_pool, chat, "bom dia!", provider_message_id=provider_id)
        await decide(under_test, event)
        assert await decision_of(db_pool, event.data.message_id) == ("ignored", "own_message", None)
        assert await outputs(under_test, db_pool, chat) == []

    async def test_app_origin_bot_is_ignored(self, under_test: GuardUnderTest, db_pool: Pool) -> None:
        chat = await new_chat(db_pool)
        event = await store_message(db_pool, chat, "turno do aquecimento", app_origin="bot", script_id="r1")
        await decide(under_test, event)
        assert await decision_of(db_pool, event.data.message_id) == ("ignored", "own_message", None)
        assert await outputs(under_test, db_pool, chat) == []

    async def test_a_message_ingest_stored_as_mirages_is_ignored_and_pauses_nothing(
        self, under_test: GuardUnderTest, db_pool: Pool
    ) -> None:
        chat = await new_chat(db_pool)
        event = await store_message(db_pool, chat, "Olá!", from_me=True, origin="mirage")
        await decide(under_test, event)
        assert await decision_of(db_pool, event.data.message_id) == ("ignored", "own_message", None)
        assert await guard_state(db_pool, chat) is None

    async def test_a_message_from_another_of_mirages_numbers_is_ignored(
        self, under_test: GuardUnderTest, db_pool: Pool
    ) -> None:
        partner = await new_chat(db_pool)
        owner_jid = await db_pool.fetchval(
            "SELECT owner_jid FROM instances WHERE id = $1", partner.instance_id
        )
        chat = await new_chat(db_pool, tenant_id=partner.tenant_id, phone=owner_jid.split("@")[0])
        event = await store_message(db_pool, chat, "oi, tudo certo?")
        await decide(under_test, event)
        assert await decision_of(db_pool, event.data.message_id) == ("ignored", "own_number", None)


class TestHumanTakeover:
    async def test_the_operator_typing_pauses_the_bot_until_the_operator_resumes_it(
        self, under_test: GuardUnderTest, db_pool: Pool
    ) -> None:
        chat = await new_chat(db_pool)
        typed = await store_message(db_pool, chat, "Oi Ana, aqui é o João da loja", from_me=True)
        await decide(under_test, typed)
        assert await decision_of(db_pool, typed.data.message_id) == ("paused", "human_takeover", None)
        state = await guard_state(db_pool, chat)
        assert state is not None
        assert state["pause_reason"] == "human_takeover"
        assert state["paused_until"] - state["paused_at"] == timedelta(minutes=30)  # type: ignore[operator]

        inbound = await store_message(db_pool, chat, "oi João")
        await decide(under_test, inbound)
        assert await decision_of(db_pool, inbound.data.message_id) == ("paused", "conversation_paused", None)
        assert await outputs(under_test, db_pool, chat) == []

        await set_controls(db_pool, chat, "resumed_at = now()")
        after = await store_message(db_pool, chat, "ainda está aí?")
        await decide(under_test, after)
        assert (await decision_of(db_pool, after.data.message_id) or ("",))[0] == "reply"

    async def test_a_state_row_created_concurrently_is_waited_for_and_read_once_committed(
        self, under_test: GuardUnderTest, db_pool: Pool
    ) -> None:
        """The decision's own statement cannot lock a row another transaction is creating: it
        waits for it and reads it locked before deciding (here: a pause committed meanwhile)."""
        chat = await new_chat(db_pool)
        inbound = await store_message(db_pool, chat, "oi, tem alguém aí?")
        async with db_pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO conversation_guard_state (conversation_id, tenant_id, paused_at, paused_until,"
                " pause_reason) VALUES ($1, $2, now(), now() + interval '30 minutes', 'human_takeover')",
                chat.conversation_id,
                chat.tenant_id,
            )
            deciding = asyncio.create_task(decide(under_test, inbound))
            await asyncio.sleep(0.5)
            assert not deciding.done(), "the decision must wait for the row being created"
        await deciding
        assert await decision_of(db_pool, inbound.data.message_id) == ("paused", "conversation_paused", None)
        assert await outputs(under_test, db_pool, chat) == []

    async def test_a_pause_runs_from_when_the_operator_typed(
        self, under_test: GuardUnderTest, db_pool: Pool
    ) -> None:
        chat = await new_chat(db_pool)
        old = await store_message(
            db_pool, chat, "mensagem antiga", from_me=True, sent_at=utc_now() - timedelta(hours=2)
        )
        await decide(under_test, old)
        inbound = await store_message(db_pool, chat)
        await decide(under_test, inbound)
        assert (await decision_of(db_pool, inbound.data.message_id) or ("",))[0] == "reply"

    async def test_the_echo_of_a_send_in_flight_is_mirages_own_and_never_pauses(
        self, under_test: GuardUnderTest, db_pool: Pool
    ) -> None:
        chat = await new_chat(db_pool)
        text = "Olá Ana! Temos sim, o preço é R$ 49,90."
        # The sender called sendText and has not stored the returned id yet.
        await insert_send(db_pool, chat, text, provider_message_id=None)
        echo = await store_message(db_pool, chat, text, from_me=True, origin="unknown")
        await decide(under_test, echo)
        assert await decision_of(db_pool, echo.data.message_id) == ("ignored", "own_message_in_flight", None)
        state = await guard_state(db_pool, chat)
        assert state is None or state["paused_until"] is None

        inbound = await store_message(db_pool, chat, "obrigada!")
        await decide(under_test, inbound)
        assert (await decision_of(db_pool, inbound.data.message_id) or ("",))[0] == "reply"

    @pytest.mark.parametrize(
        ("send_text", "age", "known_id"),
        [
            ("Olá! Em que posso ajudar?", timedelta(minutes=5), False),  # too old to be in flight
            ("Uma outra mensagem", timedelta(0), False),  # different text
            ("Olá! Em que posso ajudar?", timedelta(0), True),  # that send's id is known: not this one
        ],
    )
    async def test_a_from_me_message_unlike_any_send_in_flight_is_the_operators(
        self, under_test: GuardUnderTest, db_pool: Pool, send_text: str, age: timedelta, known_id: bool
    ) -> None:
        chat = await new_chat(db_pool)
        await insert_send(
            db_pool,
            chat,
            send_text,
            provider_message_id=f"3EB0{uuid.uuid4().hex[:10]}" if known_id else None,
            age=age,
        )
        typed = await store_message(db_pool, chat, "Olá! Em que posso ajudar?", from_me=True)
        await decide(under_test, typed)
        assert await decision_of(db_pool, typed.data.message_id) == ("paused", "human_takeover", None)

    async def test_a_reaction_from_the_phone_takes_over_but_a_protocol_message_does_not(
        self, under_test: GuardUnderTest, db_pool: Pool
    ) -> None:
        chat = await new_chat(db_pool)
        edit = await store_message(
            db_pool,
            chat,
            None,
            from_me=True,
            category=MessageCategory.PROTOCOL,
            message_type="protocolMessage",
        )
        await decide(under_test, edit)
        assert await decision_of(db_pool, edit.data.message_id) == ("ignored", "protocol", None)
        assert await guard_state(db_pool, chat) is None
        reaction = await store_message(
            db_pool,
            chat,
            "👍",
            from_me=True,
            category=MessageCategory.REACTION,
            message_type="reactionMessage",
        )
        await decide(under_test, reaction)
        assert await decision_of(db_pool, reaction.data.message_id) == ("paused", "human_takeover", None)

    async def test_an_operator_pause_from_the_dashboard_holds(
        self, under_test: GuardUnderTest, db_pool: Pool
    ) -> None:
        chat = await new_chat(db_pool)
        await set_controls(db_pool, chat, "bot_paused = true")
        event = await store_message(db_pool, chat)
        await decide(under_test, event)
        assert await decision_of(db_pool, event.data.message_id) == ("paused", "operator_paused", None)
        assert await outputs(under_test, db_pool, chat) == []


class TestChatsAndCategories:
    @pytest.mark.parametrize(
        ("kind", "reason"),
        [(ChatKind.GROUP, "group"), (ChatKind.BROADCAST, "broadcast"), (ChatKind.NEWSLETTER, "newsletter")],
    )
    async def test_groups_broadcasts_and_newsletters_are_ignored_by_default(
        self, under_test: GuardUnderTest, db_pool: Pool, kind: ChatKind, reason: str
    ) -> None:
        chat = await new_chat(db_pool, chat_kind=kind)
        event = await store_message(db_pool, chat, "bom dia grupo")
        await decide(under_test, event)
        assert await decision_of(db_pool, event.data.message_id) == ("ignored", reason, None)
        assert await outputs(under_test, db_pool, chat) == []

    @pytest.mark.parametrize("kind", [ChatKind.GROUP, ChatKind.BROADCAST])
    async def test_the_instance_can_allow_groups_and_broadcasts(
        self, under_test: GuardUnderTest, db_pool: Pool, kind: ChatKind
    ) -> None:
        chat = await new_chat(
            db_pool,
            chat_kind=kind,
            reply_to_groups=kind is ChatKind.GROUP,
            reply_to_broadcasts=kind is ChatKind.BROADCAST,
        )
        event = await store_message(db_pool, chat, "alguém sabe o horário?")
        await decide(under_test, event)
        [reply] = replies(await outputs(under_test, db_pool, chat))
        assert reply.data.reply_to == chat.chat_jid

    @pytest.mark.parametrize(
        ("category", "message_type", "reason"),
        [
            (MessageCategory.REACTION, "reactionMessage", "reaction"),
            (MessageCategory.PROTOCOL, "protocolMessage", "protocol"),
            (MessageCategory.POLL_UPDATE, "pollUpdateMessage", "poll_update"),
        ],
    )
    async def test_reactions_edits_and_poll_updates_are_ignored(
        self,
        under_test: GuardUnderTest,
        db_pool: Pool,
        category: MessageCategory,
        message_type: str,
        reason: str,
    ) -> None:
        chat = await new_chat(db_pool)
        event = await store_message(db_pool, chat, "👍", category=category, message_type=message_type)
        await decide(under_test, event)
        assert await decision_of(db_pool, event.data.message_id) == ("ignored", reason, None)

    async def test_stale_backlog_is_recorded_and_not_answered(
        self, under_test: GuardUnderTest, db_pool: Pool
    ) -> None:
        chat = await new_chat(db_pool)
        event = await store_message(db_pool, chat, "oi, alguém aí?", fresh=False)
        await decide(under_test, event)
        assert await decision_of(db_pool, event.data.message_id) == ("ignored", "stale", None)
        assert await outputs(under_test, db_pool, chat) == []


async def opted_out(pool: Pool, chat: Chat) -> bool:
    return bool(
        await pool.fetchval(
            "SELECT count(*) FROM opt_outs WHERE tenant_id = $1 AND contact_id = $2",
            chat.tenant_id,
            chat.contact_id,
        )
    )


class TestConsent:
    async def test_opt_out_records_publishes_alerts_and_confirms_exactly_once(
        self, under_test: GuardUnderTest, db_pool: Pool
    ) -> None:
        chat = await new_chat(db_pool)
        event = await store_message(db_pool, chat, "  Pare! ")
        await decide(under_test, event)

        confirmation_id = reply_request_id(chat.conversation_id, event.data.message_id)
        assert await decision_of(db_pool, event.data.message_id) == (
            "opted_out",
            "opt_out_keyword",
            confirmation_id,
        )
        row = await db_pool.fetchrow(
            "SELECT phone, jid, keyword, source FROM opt_outs WHERE tenant_id = $1 AND contact_id = $2",
            chat.tenant_id,
            chat.contact_id,
        )
        assert row is not None
        assert dict(row) == {
            "phone": chat.phone,
            "jid": chat.chat_jid,
            "keyword": "PARE",
            "source": "inbound_keyword",
        }
        ledger = await db_pool.fetch(
            "SELECT action, keyword, source, message_id FROM consent_events WHERE contact_id = $1",
            chat.contact_id,
        )
        assert [tuple(item) for item in ledger] == [
            ("opt_out", "PARE", "inbound_keyword", event.data.message_id)
        ]

        produced = await outputs(under_test, db_pool, chat)
        [changed] = [item for item in produced if isinstance(item, ContactOptedOut)]
        [alert] = [item for item in produced if isinstance(item, AdminAlert)]
        [confirmation] = replies(produced)
        assert changed.data.contact_id == chat.contact_id
        assert changed.data.phone == chat.phone
        assert changed.data.keyword == "PARE"
        assert alert.data.cause is AlertCause.CONTACT_OPTED_OUT
        assert confirmation.data.intent is ReplyIntent.OPT_OUT_CONFIRMATION
        assert confirmation.event_id == confirmation_id
        assert all(item.causation_id == event.event_id for item in produced)

        # Nothing more is said to an opted-out contact, and a repeated PARE is only recorded.
        later = await store_message(db_pool, chat, "oi?")
        await decide(under_test, later)
        assert await decision_of(db_pool, later.data.message_id) == ("opted_out", "contact_opted_out", None)
        again = await store_message(db_pool, chat, "PARE")
        await decide(under_test, again)
        assert await decision_of(db_pool, again.data.message_id) == ("opted_out", "already_opted_out", None)
        assert len(await outputs(under_test, db_pool, chat)) == 3
        assert (
            await db_pool.fetchval(
                "SELECT count(*) FROM consent_events WHERE contact_id = $1", chat.contact_id
            )
            == 1
        )

    async def test_stale_backlog_still_opts_out(self, under_test: GuardUnderTest, db_pool: Pool) -> None:
        chat = await new_chat(db_pool)
        event = await store_message(db_pool, chat, "sair", fresh=False)
        await decide(under_test, event)
        assert (await decision_of(db_pool, event.data.message_id) or ("",))[0] == "opted_out"
        assert await opted_out(db_pool, chat)

    @pytest.mark.parametrize("text", ["não pare", "please stop sending me this", "pare de me mandar isso"])
    async def test_a_sentence_with_a_keyword_is_an_ordinary_message(
        self, under_test: GuardUnderTest, db_pool: Pool, text: str
    ) -> None:
        chat = await new_chat(db_pool)
        event = await store_message(db_pool, chat, text)
        await decide(under_test, event)
        assert (await decision_of(db_pool, event.data.message_id) or ("",))[0] == "reply"
        assert not await opted_out(db_pool, chat)

    async def test_re_opt_in_lifts_the_opt_out_and_confirms(
        self, under_test: GuardUnderTest, db_pool: Pool
    ) -> None:
        chat = await new_chat(db_pool)
        await decide(under_test, await store_message(db_pool, chat, "STOP"))
        back = await store_message(db_pool, chat, "Voltar")
        await decide(under_test, back)

        confirmation_id = reply_request_id(chat.conversation_id, back.data.message_id)
        assert await decision_of(db_pool, back.data.message_id) == (
            "opted_in",
            "opt_in_keyword",
            confirmation_id,
        )
        assert not await opted_out(db_pool, chat)
        ledger = await db_pool.fetch(
            "SELECT action, keyword FROM consent_events WHERE contact_id = $1 ORDER BY id", chat.contact_id
        )
        assert [tuple(item) for item in ledger] == [("opt_out", "STOP"), ("opt_in", "VOLTAR")]
        produced = await outputs(under_test, db_pool, chat)
        [changed] = [item for item in produced if isinstance(item, ContactOptedIn)]
        assert changed.data.keyword == "VOLTAR"
        intents = [reply.data.intent for reply in replies(produced)]
        assert intents == [ReplyIntent.OPT_OUT_CONFIRMATION, ReplyIntent.OPT_IN_CONFIRMATION]

        after = await store_message(db_pool, chat, "quero saber do pedido")
        await decide(under_test, after)
        assert (await decision_of(db_pool, after.data.message_id) or ("",))[0] == "reply"

    async def test_an_opt_in_keyword_from_a_contact_never_opted_out_is_an_ordinary_message(
        self, under_test: GuardUnderTest, db_pool: Pool
    ) -> None:
        chat = await new_chat(db_pool)
        event = await store_message(db_pool, chat, "iniciar")
        await decide(under_test, event)
        assert await decision_of(db_pool, event.data.message_id) == (
            "reply",
            "contact_message",
            reply_request_id(chat.conversation_id, event.data.message_id),
        )
        assert [reply.data.intent for reply in replies(await outputs(under_test, db_pool, chat))] == [
            ReplyIntent.ANSWER
        ]

    async def test_a_blacklisted_contact_gets_no_reply_at_all_and_opt_in_never_lifts_the_blacklist(
        self, under_test: GuardUnderTest, db_pool: Pool
    ) -> None:
        chat = await new_chat(db_pool)
        await db_pool.execute(
            "INSERT INTO blacklist (tenant_id, phone, reason) VALUES ($1, $2, 'abuse')",
            chat.tenant_id,
            chat.phone,
        )
        hello = await store_message(db_pool, chat, "oi")
        await decide(under_test, hello)
        assert await decision_of(db_pool, hello.data.message_id) == (
            "blacklisted",
            "contact_blacklisted",
            None,
        )

        stop = await store_message(db_pool, chat, "pare")
        await decide(under_test, stop)
        assert await decision_of(db_pool, stop.data.message_id) == ("opted_out", "opt_out_keyword", None)
        back = await store_message(db_pool, chat, "voltar")
        await decide(under_test, back)
        assert await decision_of(db_pool, back.data.message_id) == ("opted_in", "opt_in_keyword", None)
        later = await store_message(db_pool, chat, "oi de novo")
        await decide(under_test, later)
        assert await decision_of(db_pool, later.data.message_id) == (
            "blacklisted",
            "contact_blacklisted",
            None,
        )

        produced = await outputs(under_test, db_pool, chat)
        assert replies(produced) == []
        assert sorted(item.type for item in produced) == [
            "admin.alert",
            "contact.opted_in",
            "contact.opted_out",
        ]

    async def test_the_tenants_own_keywords_are_used(self, under_test: GuardUnderTest, db_pool: Pool) -> None:
        chat = await new_chat(db_pool, opt_out_keywords=["Não quero mais"], opt_in_keywords=["Quero de novo"])
        default_keyword = await store_message(db_pool, chat, "PARE")
        await decide(under_test, default_keyword)
        assert (await decision_of(db_pool, default_keyword.data.message_id) or ("",))[0] == "reply"
        custom = await store_message(db_pool, chat, "nao quero mais.")
        await decide(under_test, custom)
        assert (await decision_of(db_pool, custom.data.message_id) or ("",))[0] == "opted_out"
        back = await store_message(db_pool, chat, "QUERO DE NOVO")
        await decide(under_test, back)
        assert (await decision_of(db_pool, back.data.message_id) or ("",))[0] == "opted_in"

    async def test_an_opt_out_is_tenant_wide(self, under_test: GuardUnderTest, db_pool: Pool) -> None:
        first = await new_chat(db_pool)
        # The same person writing to another of the tenant's numbers…
        second = await new_chat(db_pool, contact_of=first)
        # …and known by an `@lid` identity stored as another contact with the same phone.
        lid = await new_chat(db_pool, tenant_id=first.tenant_id, lid_only=True, phone=first.phone)
        await decide(under_test, await store_message(db_pool, first, "descadastrar"))
        for chat in (second, lid):
            event = await store_message(db_pool, chat, "oi")
            await decide(under_test, event)
            assert await decision_of(db_pool, event.data.message_id) == (
                "opted_out",
                "contact_opted_out",
                None,
            )
        # Lifting it from the `@lid` identity lifts it for the phone too.
        await decide(under_test, await store_message(db_pool, lid, "voltar"))
        event = await store_message(db_pool, second, "oi")
        await decide(under_test, event)
        assert (await decision_of(db_pool, event.data.message_id) or ("",))[0] == "reply"


class TestBotLoop:
    async def test_the_same_script_over_the_threshold_blocks_with_one_alert(
        self, under_test: GuardUnderTest, db_pool: Pool, redis: Redis
    ) -> None:
        chat = await new_chat(db_pool)
        events = [
            await store_message(db_pool, chat, f"Olá! Sou o assistente {n}", script_id="other-bot")
            for n in range(6)
        ]
        for event in events:
            await decide(under_test, event)

        decisions = [await decision_of(db_pool, event.data.message_id) for event in events]
        assert [(d or ("", ""))[:2] for d in decisions] == [
            ("reply", "contact_message"),
            ("reply", "suspected_bot_loop"),
            ("reply", "suspected_bot_loop"),
            ("reply", "suspected_bot_loop"),
            ("blocked", "bot_loop"),
            ("blocked", "conversation_blocked"),
        ]
        produced = await outputs(under_test, db_pool, chat)
        assert [reply.data.delay_ms for reply in replies(produced)] == [
            0,
            LOOP_DELAY_MS,
            LOOP_DELAY_MS,
            LOOP_DELAY_MS,
        ]
        [blocked] = [item for item in produced if isinstance(item, ConversationBlocked)]
        [alert] = [item for item in produced if isinstance(item, AdminAlert)]
        assert blocked.data.loop_count == 4
        assert blocked.data.reason == "bot_loop"
        assert blocked.data.script_id == "other-bot"
        assert blocked.event_id == stable_id("conversation.blocked", events[4].event_id)
        assert alert.data.cause is AlertCause.CONVERSATION_BLOCKED
        assert alert.data.conversation_id == chat.conversation_id

        state = await guard_state(db_pool, chat)
        assert state is not None
        assert state["block_reason"] == "bot_loop"
        assert state["blocked_at"] is not None
        assert (state["loop_count"], state["last_script_id"]) == (4, "other-bot")
        counter = await redis.hgetall(under_test.keys.loop_counter(chat.conversation_id))
        assert (counter[b"count"], counter[b"script"]) == (b"4", b"other-bot")

    async def test_handling_one_conversation_concurrently_still_blocks_once(
        self, under_test: GuardUnderTest, db_pool: Pool
    ) -> None:
        """Two consumers can briefly hold one partition during a rebalance."""
        chat = await new_chat(db_pool)
        events = [await store_message(db_pool, chat, f"bot {n}", script_id="s") for n in range(8)]
        await asyncio.gather(*(decide(under_test, event) for event in events))
        produced = await outputs(under_test, db_pool, chat)
        assert len(replies(produced)) == 4
        assert len([item for item in produced if isinstance(item, ConversationBlocked)]) == 1
        assert len([item for item in produced if isinstance(item, AdminAlert)]) == 1
        state = await guard_state(db_pool, chat)
        assert state is not None
        assert state["loop_count"] == 4

    async def test_a_different_or_absent_script_id_resets_the_counter(
        self, under_test: GuardUnderTest, db_pool: Pool
    ) -> None:
        chat = await new_chat(db_pool)
        scripts = ["a", "a", "a", "b", "b", None, "b", "b", "b", "b"]
        events = [await store_message(db_pool, chat, f"msg {n}", script_id=s) for n, s in enumerate(scripts)]
        for event in events:
            await decide(under_test, event)
        delays = [reply.data.delay_ms for reply in replies(await outputs(under_test, db_pool, chat))]
        slow = LOOP_DELAY_MS
        assert delays == [0, slow, slow, 0, slow, 0, 0, slow, slow, slow]
        state = await guard_state(db_pool, chat)
        assert state is not None
        assert state["blocked_at"] is None
        assert state["loop_count"] == 3

    async def test_the_counter_survives_redis_losing_it(
        self, under_test: GuardUnderTest, db_pool: Pool, redis: Redis
    ) -> None:
        chat = await new_chat(db_pool)
        for n in range(3):
            await decide(under_test, await store_message(db_pool, chat, f"msg {n}", script_id="s"))
        await redis.delete(under_test.keys.loop_counter(chat.conversation_id))
        for n in range(2):
            await decide(under_test, await store_message(db_pool, chat, f"more {n}", script_id="s"))
        state = await guard_state(db_pool, chat)
        assert state is not None
        assert state["loop_count"] == 4
        assert state["block_reason"] == "bot_loop"

    async def test_an_operator_unblock_lifts_the_block_and_resets_the_counter(
        self, under_test: GuardUnderTest, db_pool: Pool
    ) -> None:
        chat = await new_chat(db_pool)
        for n in range(5):
            await decide(under_test, await store_message(db_pool, chat, f"bot {n}", script_id="s"))
        await set_controls(db_pool, chat, "unblocked_at = now()")
        after = await store_message(db_pool, chat, "bot again", script_id="s")
        await decide(under_test, after)
        assert await decision_of(db_pool, after.data.message_id) == (
            "reply",
            "contact_message",
            reply_request_id(chat.conversation_id, after.data.message_id),
        )
        state = await guard_state(db_pool, chat)
        assert state is not None
        assert (state["blocked_at"], state["loop_count"], state["last_script_id"]) == (None, 0, "s")
        # Counting starts over: it takes the threshold again to block.
        for n in range(3):
            await decide(under_test, await store_message(db_pool, chat, f"again {n}", script_id="s"))
        state = await guard_state(db_pool, chat)
        assert state is not None
        assert (state["blocked_at"], state["loop_count"]) == (None, 3)
        blocked = await store_message(db_pool, chat, "and again", script_id="s")
        await decide(under_test, blocked)
        assert (await decision_of(db_pool, blocked.data.message_id) or ("", ""))[:2] == (
            "blocked",
            "bot_loop",
        )


class TestDecidedInOneStatement:
    """The common decision is read without a lock and recorded by one statement outside any
    transaction, which checks the facts it was made on again; anything else, or a change in
    between, goes through the transaction."""

    @pytest.fixture
    def ways(self, monkeypatch: pytest.MonkeyPatch) -> list[str]:
        """How each read of this test was made: `one statement` or `transaction`."""
        seen: list[str] = []
        real = guard_repository.load_message_facts

        async def recording(*args: Any, **kwargs: Any) -> tuple[bool, MessageFacts]:
            seen.append("one statement" if kwargs.get("read_only") else "transaction")
            return await real(*args, **kwargs)

        monkeypatch.setattr(guard_repository, "load_message_facts", recording)
        return seen

    def change_before_recording(
        self, monkeypatch: pytest.MonkeyPatch, change: Callable[[], Awaitable[None]]
    ) -> None:
        """Run `change` (committed by another connection) after the decision read its facts
        and before its statement records it: the race the statement's check is for."""
        real = guard_repository.record_decision_if_unchanged

        async def racing(*args: Any, **kwargs: Any) -> list[int] | None:
            await change()
            return await real(*args, **kwargs)

        monkeypatch.setattr(guard_repository, "record_decision_if_unchanged", racing)

    async def test_a_contact_message_is_decided_without_a_transaction(
        self, under_test: GuardUnderTest, db_pool: Pool, ways: list[str]
    ) -> None:
        chat = await new_chat(db_pool)
        event = await store_message(db_pool, chat, "Oi, tudo bem?")
        await decide(under_test, event)
        assert ways == ["one statement"]
        assert (await decision_of(db_pool, event.data.message_id) or ("",))[0] == "reply"
        assert len(replies(await outputs(under_test, db_pool, chat))) == 1
        # The statement created the conversation's guard state, as the transaction would.
        assert await guard_state(db_pool, chat) is not None
        assert (
            await db_pool.fetchval(
                "SELECT count(*) FROM processed_events WHERE consumer = 'guard' AND event_id = $1",
                event.event_id,
            )
            == 1
        )

    async def test_a_pause_committed_after_the_read_is_never_decided_past(
        self, under_test: GuardUnderTest, db_pool: Pool, ways: list[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        chat = await new_chat(db_pool)
        await decide(under_test, await store_message(db_pool, chat, "primeira"))  # the state row exists
        ways.clear()

        async def pause() -> None:
            await db_pool.execute(
                "UPDATE conversation_guard_state SET paused_at = now(),"
                " paused_until = now() + interval '30 minutes', pause_reason = 'human_takeover'"
                " WHERE conversation_id = $1",
                chat.conversation_id,
            )

        self.change_before_recording(monkeypatch, pause)
        inbound = await store_message(db_pool, chat, "ainda aí?")
        await decide(under_test, inbound)
        assert ways == ["one statement", "transaction"]
        assert await decision_of(db_pool, inbound.data.message_id) == ("paused", "conversation_paused", None)
        assert len(replies(await outputs(under_test, db_pool, chat))) == 1  # the first message's only

    async def test_a_pause_being_committed_while_recording_is_waited_for(
        self, under_test: GuardUnderTest, db_pool: Pool, ways: list[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The recording statement locks the state row: it waits for a transaction changing
        it and checks the version that transaction committed, not the one it started with."""
        chat = await new_chat(db_pool)
        await decide(under_test, await store_message(db_pool, chat, "primeira"))
        ways.clear()
        committed = asyncio.Event()
        pausing: list[asyncio.Task[None]] = []

        async def pause_and_commit_later() -> None:
            async with db_pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "UPDATE conversation_guard_state SET paused_at = now(),"
                    " paused_until = now() + interval '30 minutes', pause_reason = 'human_takeover'"
                    " WHERE conversation_id = $1",
                    chat.conversation_id,
                )
                await asyncio.sleep(0.3)
            committed.set()

        async def start_pausing() -> None:
            pausing.append(asyncio.create_task(pause_and_commit_later()))
            await asyncio.sleep(0.05)  # the UPDATE holds the row's lock before the statement runs

        self.change_before_recording(monkeypatch, start_pausing)
        inbound = await store_message(db_pool, chat, "ainda aí?")
        await decide(under_test, inbound)
        await pausing[0]
        assert committed.is_set()
        assert ways == ["one statement", "transaction"]
        assert await decision_of(db_pool, inbound.data.message_id) == ("paused", "conversation_paused", None)

    async def test_a_state_row_created_after_the_read_is_never_decided_past(
        self, under_test: GuardUnderTest, db_pool: Pool, ways: list[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        chat = await new_chat(db_pool)

        async def block() -> None:
            await db_pool.execute(
                "INSERT INTO conversation_guard_state (conversation_id, tenant_id, blocked_at, block_reason)"
                " VALUES ($1, $2, now(), 'bot_loop')",
                chat.conversation_id,
                chat.tenant_id,
            )

        self.change_before_recording(monkeypatch, block)
        inbound = await store_message(db_pool, chat, "oi")
        await decide(under_test, inbound)
        assert ways == ["one statement", "transaction"]
        assert (await decision_of(db_pool, inbound.data.message_id) or ("", ""))[:2] == (
            "blocked",
            "conversation_blocked",
        )
        assert await outputs(under_test, db_pool, chat) == []

    async def test_an_event_claimed_after_the_read_is_recorded_once(
        self, under_test: GuardUnderTest, db_pool: Pool, ways: list[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Two consumers briefly holding one partition during a rebalance, one event each."""
        chat = await new_chat(db_pool)
        event = await store_message(db_pool, chat, "oi")
        racing = False

        async def the_other_consumer_decides() -> None:
            nonlocal racing
            if not racing:
                racing = True
                await decide(under_test, event)

        self.change_before_recording(monkeypatch, the_other_consumer_decides)
        await decide(under_test, event)
        assert ways == ["one statement", "one statement", "transaction"]
        assert (
            await db_pool.fetchval(
                "SELECT count(*) FROM guard_decisions WHERE message_id = $1", event.data.message_id
            )
            == 1
        )
        assert len(replies(await outputs(under_test, db_pool, chat))) == 1

    async def test_a_decision_that_writes_more_than_itself_takes_the_transaction(
        self, under_test: GuardUnderTest, db_pool: Pool, ways: list[str]
    ) -> None:
        await decide(under_test, await store_message(db_pool, await new_chat(db_pool), "PARE"))
        await decide(under_test, await store_message(db_pool, await new_chat(db_pool), "bot", script_id="s"))
        typed = await store_message(db_pool, await new_chat(db_pool), "digitado no celular", from_me=True)
        await decide(under_test, typed)
        assert ways == ["one statement", "transaction"] * 3
