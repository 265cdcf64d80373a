"""Warm-up turns: the prompt, the offline bank, reactions, and the turn written through the process."""

from __future__ import annotations

import random
import uuid

from contracts import (
    RequestTurn,
    RequestTurnData,
    SendPurpose,
    SendText,
    Topic,
    TurnLine,
)
from database import Pool, PostgresSettings
from generator.persona import Persona
from generator.turn_prompt import turn_chat
from generator.turn_texts import CLOSERS, OPENERS, PLAIN_REACTIONS, REACTIONS, offline_turn, reaction
from generator.turns import WARMUP_PERSONA
from messaging import KafkaSettings
from warmup_rules import TypingModel

from .conftest import (
    PersonaRow,
    generator_settings,
    publish,
    read_events,
    running_generator,
    seed_conversation,
)
from .openai_stub import OpenAIStub

SPEAKER = uuid.uuid4()
PEER = uuid.uuid4()
PERSONA = Persona(
    id=None,
    name="Bia",
    system_prompt="Você é a Bia.",
    language="pt-BR",
    max_length=400,
    emoji=False,
    temperature=0.8,
    model=None,
)


def test_the_opening_asks_the_model_to_start_and_names_the_topic() -> None:
    chat = turn_chat(PERSONA, (), SPEAKER, messages=2, listener_name="Caio", topic="futebol", closing=False)
    assert [m.role for m in chat] == ["system", "user"]
    system = chat[0].content
    assert system.startswith("Você é a Bia.")
    assert "Caio" in system
    assert "futebol" in system
    assert "exactly 2 short WhatsApp messages" in system
    assert "You start the conversation" in system
    assert "Do not use emoji." in system


def test_history_maps_the_speaker_to_the_assistant_and_the_peer_to_the_user() -> None:
    history = (
        TurnLine(speaker_instance_id=PEER, text="oi!"),
        TurnLine(speaker_instance_id=PEER, text="tudo bem?"),
        TurnLine(speaker_instance_id=SPEAKER, text="tudo e você?"),
        TurnLine(speaker_instance_id=PEER, text="ótimo"),
    )
    chat = turn_chat(PERSONA, history, SPEAKER, messages=1, listener_name=None, topic=None, closing=True)
    assert [(m.role, m.content) for m in chat[1:]] == [
        ("user", "oi!\ntudo bem?"),
        ("assistant", "tudo e você?"),
        ("user", "ótimo"),
    ]
    assert "wrap up" in chat[0].content
    assert "You start" not in chat[0].content


def test_a_speaker_going_twice_in_a_row_still_ends_on_a_user_turn() -> None:
    history = (TurnLine(speaker_instance_id=SPEAKER, text="oi"),)
    chat = turn_chat(PERSONA, history, SPEAKER, messages=1, listener_name=None, topic=None, closing=False)
    assert chat[-1].role == "user"


def test_the_offline_bank_opens_and_closes_with_distinct_lines() -> None:
    rng = random.Random(3)
    for messages in (1, 2, 3):
        lines = offline_turn(rng, messages, opening=True, closing=False)
        assert len(lines) == messages
        assert lines[0] in OPENERS
        assert len(set(lines)) == messages
    closing = offline_turn(rng, 2, opening=False, closing=True)
    assert closing[-1] in CLOSERS


def test_reactions_respect_the_persona_emoji_choice() -> None:
    rng = random.Random(1)
    assert reaction(rng, emoji=True) in REACTIONS
    assert reaction(rng, emoji=False) in PLAIN_REACTIONS


def test_the_built_in_warmup_persona_writes_brazilian_portuguese() -> None:
    assert WARMUP_PERSONA.language == "pt-BR"
    assert "WhatsApp" in WARMUP_PERSONA.system_prompt


def _turn(tenant: uuid.UUID, speaker: uuid.UUID, name: str, **extra: object) -> RequestTurn:
    round_id = uuid.uuid4()
    data = {
        "round_id": round_id,
        "pair_id": uuid.uuid4(),
        "turn_index": 1,
        "turn_id": uuid.uuid4(),
        "speaker_instance_id": speaker,
        "speaker_instance_name": name,
        "listener_instance_id": uuid.uuid4(),
        "listener_number": "5511988887777",
        "script_id": "warmup-abc",
        "messages": 2,
        "topic": "futebol",
        "history": (TurnLine(speaker_instance_id=uuid.uuid4(), text="Oi! Viu o jogo?"),),
        **extra,
    }
    return RequestTurn(tenant_id=tenant, correlation_id=round_id, data=RequestTurnData.model_validate(data))


async def test_a_turn_is_written_once_and_sent_as_warmup_messages(
    db_pool: Pool, kafka_settings: KafkaSettings, postgres_settings: PostgresSettings, stub: OpenAIStub
) -> None:
    seeded = await seed_conversation(db_pool, persona=PersonaRow())
    settings = generator_settings(kafka_settings, postgres_settings, stub=stub).model_copy(
        update={"warmup_typing": TypingModel(scale=0.01)}
    )
    stub.reply = lambda _: "Vi sim, que jogo!\n\nE você, torceu pra quem?"
    turn = _turn(seeded.tenant_id, seeded.instance_id, seeded.instance_name)
    reaction_turn = _turn(
        seeded.tenant_id, seeded.instance_id, seeded.instance_name, reaction=True, messages=1
    )
    async with running_generator(settings):
        await publish(kafka_settings, [turn, turn, reaction_turn])
        records = await read_events(kafka_settings, Topic.SEND_REQUESTED, 3)
    sends = [event for _, event in records if isinstance(event, SendText)]
    texts = {event.data.text for event in sends}
    assert texts == {"Vi sim, que jogo!", "E você, torceu pra quem?"} | {
        event.data.text for event in sends if event.data.reply_id == reaction_turn.data.turn_id
    }
    for event in sends:
        assert event.data.purpose is SendPurpose.WARMUP
        assert event.data.app_origin == "bot"
        assert event.data.script_id == "warmup-abc"
        assert event.data.to == "5511988887777"
        assert event.data.instance_id == seeded.instance_id
        assert event.data.conversation_id is None
    words = [event for event in sends if event.data.reply_id == turn.data.turn_id]
    assert [event.data.part_index for event in sorted(words, key=lambda e: e.data.part_index)] == [0, 1]
    assert all(event.data.round_id == turn.data.round_id for event in words)
    row = await db_pool.fetchrow(
        "SELECT kind, parts, persona_id FROM replies WHERE id = $1", turn.data.turn_id
    )
    assert row is not None
    assert row["kind"] == "warmup_turn"
    assert list(row["parts"]) == ["Vi sim, que jogo!", "E você, torceu pra quem?"]
    assert row["persona_id"] == seeded.persona_id
    # The model saw the persona, the history as the user's line and the topic.
    [call] = [call for call in stub.calls if "futebol" in call.messages[0]["content"]]
    assert call.messages[1] == {"role": "user", "content": "Oi! Viu o jogo?"}
    # The duplicate request wrote nothing more.
    count = await db_pool.fetchval(
        "SELECT count(*) FROM replies WHERE id = ANY($1::uuid[])",
        [turn.data.turn_id, reaction_turn.data.turn_id],
    )
    assert count == 2
