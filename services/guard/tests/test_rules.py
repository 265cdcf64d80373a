"""The guard's rules as pure functions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import ChatKind, MessageCategory, MessageReceivedData
from guard import rules
from guard.facts import ContactStanding, GuardState, MessageFacts, OperatorControls
from guard.verdicts import Decision, Reason, Verdict

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def message(**changes: Any) -> MessageReceivedData:
    fields: dict[str, Any] = {
        "message_id": uuid.uuid4(),
        "instance_id": uuid.uuid4(),
        "instance_name": "loja",
        "conversation_id": uuid.uuid4(),
        "contact_id": uuid.uuid4(),
        "provider_message_id": "3EB0ABC",
        "from_me": False,
        "chat_jid": "5511999990001@s.whatsapp.net",
        "reply_to": "5511999990001@s.whatsapp.net",
        "chat_kind": ChatKind.DIRECT,
        "category": MessageCategory.TEXT,
        "text": "oi",
        "sent_at": NOW,
    }
    fields.update(changes)
    return MessageReceivedData(**fields)


def facts(**changes: Any) -> MessageFacts:
    return MessageFacts(message_stored=True, already_decided=False, **changes)


class TestOwnMessage:
    def test_a_contact_message_is_not_mirages(self) -> None:
        assert rules.own_message(message(), facts()) is None

    @pytest.mark.parametrize("app_origin", ["bot", "BOT"])
    def test_app_origin_bot_is_mirages(self, app_origin: str) -> None:
        verdict = rules.own_message(message(app_origin=app_origin), facts())
        assert verdict == Verdict(Decision.IGNORED, Reason.OWN_MESSAGE)

    def test_an_id_in_the_send_registry_is_mirages(self) -> None:
        assert rules.own_message(message(), facts(sent_by_mirage=True)) == Verdict(
            Decision.IGNORED, Reason.OWN_MESSAGE
        )

    def test_a_message_stored_as_mirages_is_mirages(self) -> None:
        assert rules.own_message(message(from_me=True), facts(stored_origin="mirage")) == Verdict(
            Decision.IGNORED, Reason.OWN_MESSAGE
        )

    def test_an_echo_of_a_send_in_flight_is_mirages_only_when_from_me(self) -> None:
        assert rules.own_message(message(from_me=True), facts(echo_of_send_in_flight=True)) == Verdict(
            Decision.IGNORED, Reason.OWN_MESSAGE_IN_FLIGHT
        )
        assert rules.own_message(message(from_me=True), facts()) is None
        assert rules.own_message(message(from_me=False), facts(echo_of_send_in_flight=True)) is None

    def test_a_message_from_another_mirage_number_is_not_answered(self) -> None:
        assert rules.own_message(message(), facts(from_own_number=True)) == Verdict(
            Decision.IGNORED, Reason.OWN_NUMBER
        )
        # The operator typing in a chat with another of the tenant's numbers is still a takeover.
        assert rules.own_message(message(from_me=True), facts(from_own_number=True)) is None


class TestAutomaticFromMe:
    @pytest.mark.parametrize(
        ("category", "message_type", "reason"),
        [
            (MessageCategory.PROTOCOL, "protocolMessage", Reason.PROTOCOL),
            (MessageCategory.OTHER, "editedMessage", Reason.PROTOCOL),
            (MessageCategory.POLL_UPDATE, None, Reason.POLL_UPDATE),
        ],
    )
    def test_protocol_messages_from_the_operators_phone_are_not_a_takeover(
        self, category: MessageCategory, message_type: str | None, reason: Reason
    ) -> None:
        automatic = message(from_me=True, category=category, message_type=message_type)
        assert rules.automatic_from_me(automatic) == Verdict(Decision.IGNORED, reason)

    def test_what_a_person_does_on_the_phone_is(self) -> None:
        assert rules.automatic_from_me(message(from_me=True)) is None
        assert rules.automatic_from_me(message(from_me=True, category=MessageCategory.REACTION)) is None
        assert (
            rules.automatic_from_me(message(from_me=True, category=MessageCategory.AUDIO, text=None)) is None
        )
        assert rules.automatic_from_me(message(category=MessageCategory.PROTOCOL)) is None


class TestChatFilter:
    def test_a_direct_text_passes(self) -> None:
        assert rules.chat_filter(message(), facts()) is None

    def test_groups_are_ignored_unless_the_instance_allows_them(self) -> None:
        group = message(chat_kind=ChatKind.GROUP, chat_jid="1203630@g.us", reply_to="1203630@g.us")
        assert rules.chat_filter(group, facts()) == Verdict(Decision.IGNORED, Reason.GROUP)
        assert rules.chat_filter(group, facts(reply_to_groups=True)) is None

    def test_a_group_jid_declared_direct_is_still_a_group(self) -> None:
        assert rules.chat_filter(message(chat_jid="1203630@g.us"), facts()) == Verdict(
            Decision.IGNORED, Reason.GROUP
        )

    def test_broadcasts_and_newsletters_are_ignored_unless_the_instance_allows_them(self) -> None:
        status = message(chat_kind=ChatKind.BROADCAST, chat_jid="status@broadcast")
        newsletter = message(chat_kind=ChatKind.NEWSLETTER, chat_jid="1203@newsletter")
        assert rules.chat_filter(status, facts()) == Verdict(Decision.IGNORED, Reason.BROADCAST)
        assert rules.chat_filter(newsletter, facts()) == Verdict(Decision.IGNORED, Reason.NEWSLETTER)
        assert rules.chat_filter(status, facts(reply_to_broadcasts=True)) is None
        assert rules.chat_filter(newsletter, facts(reply_to_broadcasts=True)) is None
        assert rules.chat_filter(status, facts(reply_to_groups=True)) is not None

    @pytest.mark.parametrize(
        ("category", "reason"),
        [
            (MessageCategory.REACTION, Reason.REACTION),
            (MessageCategory.PROTOCOL, Reason.PROTOCOL),
            (MessageCategory.POLL_UPDATE, Reason.POLL_UPDATE),
        ],
    )
    def test_reactions_protocol_messages_and_poll_updates_are_ignored(
        self, category: MessageCategory, reason: Reason
    ) -> None:
        assert rules.chat_filter(message(category=category), facts(reply_to_groups=True)) == Verdict(
            Decision.IGNORED, reason
        )

    @pytest.mark.parametrize(
        ("message_type", "reason"),
        [
            ("reactionMessage", Reason.REACTION),
            ("editedMessage", Reason.PROTOCOL),
            ("protocolMessage", Reason.PROTOCOL),
            ("pollUpdateMessage", Reason.POLL_UPDATE),
        ],
    )
    def test_the_evolution_message_type_is_a_second_opinion(self, message_type: str, reason: Reason) -> None:
        silent = message(category=MessageCategory.OTHER, message_type=message_type)
        assert rules.chat_filter(silent, facts()) == Verdict(Decision.IGNORED, reason)

    @pytest.mark.parametrize(
        "category", [MessageCategory.AUDIO, MessageCategory.MEDIA, MessageCategory.OTHER]
    )
    def test_messages_without_text_are_still_answered(self, category: MessageCategory) -> None:
        assert rules.chat_filter(message(category=category, text=None), facts()) is None


class TestConversationHold:
    def hold(
        self,
        state: GuardState | None = None,
        controls: OperatorControls | None = None,
        standing: ContactStanding | None = None,
    ) -> Verdict | None:
        return rules.conversation_hold(
            state or GuardState(), controls or OperatorControls(), standing or ContactStanding(), NOW
        )

    def test_nothing_holds_a_fresh_conversation(self) -> None:
        assert self.hold() is None

    def test_blacklist_comes_first_then_opt_out(self) -> None:
        both = ContactStanding(opted_out=True, blacklisted=True)
        assert self.hold(standing=both) == Verdict(Decision.BLACKLISTED, Reason.CONTACT_BLACKLISTED)
        assert self.hold(standing=ContactStanding(opted_out=True)) == Verdict(
            Decision.OPTED_OUT, Reason.CONTACT_OPTED_OUT
        )

    def test_a_block_holds_until_the_operator_unblocks_after_it(self) -> None:
        blocked = GuardState(blocked_at=NOW - timedelta(hours=1), block_reason="bot_loop")
        assert self.hold(blocked) == Verdict(Decision.BLOCKED, Reason.CONVERSATION_BLOCKED)
        earlier = OperatorControls(unblocked_at=NOW - timedelta(hours=2))
        assert self.hold(blocked, earlier) == Verdict(Decision.BLOCKED, Reason.CONVERSATION_BLOCKED)
        later = OperatorControls(unblocked_at=NOW - timedelta(minutes=5))
        assert self.hold(blocked, later) is None
        assert rules.block_lifted(blocked, later)
        assert not rules.block_lifted(blocked, earlier)
        assert not rules.block_lifted(GuardState(), later)

    def test_the_operators_bot_pause_holds(self) -> None:
        assert self.hold(controls=OperatorControls(bot_paused=True)) == Verdict(
            Decision.PAUSED, Reason.OPERATOR_PAUSED
        )

    def test_a_takeover_pause_holds_until_it_ends_or_the_operator_resumes_after_it(self) -> None:
        paused = GuardState(paused_at=NOW - timedelta(minutes=10), paused_until=NOW + timedelta(minutes=20))
        assert self.hold(paused) == Verdict(Decision.PAUSED, Reason.CONVERSATION_PAUSED)
        assert self.hold(paused, OperatorControls(resumed_at=NOW - timedelta(minutes=11))) is not None
        assert self.hold(paused, OperatorControls(resumed_at=NOW - timedelta(minutes=1))) is None
        over = GuardState(paused_at=NOW - timedelta(minutes=40), paused_until=NOW - timedelta(minutes=10))
        assert self.hold(over) is None


@pytest.mark.parametrize(("count", "blocks"), [(0, False), (1, False), (3, False), (4, True), (9, True)])
def test_a_loop_counter_above_the_threshold_blocks(count: int, blocks: bool) -> None:
    assert rules.loop_blocks(count, threshold=3) is blocks
