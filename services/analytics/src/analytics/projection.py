"""What each event changes in the stats tables: pure functions, no I/O.

An event becomes a `Change`: counter deltas (applied once per event id) and fact rows
(merged, so applying them twice changes nothing). Hours are UTC; the views turn them into
days of the tenant's time zone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from analytics.settings import CostSettings
from analytics.tables import (
    INBOUND,
    NUMBER_FAILURES_HOURLY,
    NUMBER_HOURLY,
    OPT_OUTS,
    PAIR_HOURLY,
    PERSONA_HOURLY,
    REPLIES,
    SENDS,
    TENANT_HOURLY,
    Table,
)
from contracts import (
    AMBIGUOUS_FAILURE_CODE,
    ContactOptedOut,
    Envelope,
    MessageFailed,
    MessageReceived,
    MessageSent,
    ReplyGenerated,
    RoundCompleted,
    RoundStarted,
    SendPurpose,
    SendText,
)
from contracts.phones import canonical_digits, phone_digits

# The built-in persona (an instance without one) is counted under the nil UUID.
DEFAULT_PERSONA_ID = uuid.UUID(int=0)


class Row(NamedTuple):
    """One row's contribution: its key, the attributes it is created with, its values.

    A named tuple rather than a frozen dataclass: a batch builds three or more per event, and
    a tuple is built in a third of the time.
    """

    table: Table
    key: tuple[Any, ...]
    values: dict[str, Any]
    attributes: tuple[Any, ...] = ()


@dataclass
class Change:
    """Everything one event changes; `counters` are applied only the first time it is seen."""

    event_id: uuid.UUID
    topic: str
    counters: list[Row] = field(default_factory=list)
    facts: list[Row] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when the event changes no stats (it is consumed and committed all the same)."""
        return not self.counters and not self.facts


def hour_of(moment: datetime) -> datetime:
    """The UTC hour `moment` falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def canonical_phone(address: str | None) -> str | None:
    """One spelling per person for a phone JID or number (`contracts.phones.canonical_digits`:
    Brazilian mobiles with their ninth digit), so a campaign's recipient and the number that
    writes back compare equal whichever form WhatsApp used. Non-phone JIDs (`@lid`, groups)
    stay as they are.
    """
    if not address:
        return None
    _, _, domain = address.partition("@")
    if domain and domain != "s.whatsapp.net":
        return address
    digits = phone_digits(address)
    return canonical_digits(digits) if digits else None


class Projection:
    """Turns events into changes; needs only the cost settings (model prices)."""

    def __init__(self, cost: CostSettings) -> None:
        self.cost = cost

    def change(self, event: Envelope, topic: str) -> Change:
        """What `event` changes (an empty change for events no statistic reads)."""
        change = Change(event_id=event.event_id, topic=topic)
        match event:
            case MessageReceived():
                self._received(event, change)
            case ReplyGenerated():
                self._reply(event, change)
            case SendText():
                self._requested(event, change)
            case MessageSent():
                self._sent(event, change)
            case MessageFailed():
                self._failed(event, change)
            case ContactOptedOut():
                self._opted_out(event, change)
            case RoundStarted():
                change.counters.append(
                    Row(
                        PAIR_HOURLY,
                        (event.data.pair_id, hour_of(event.occurred_at)),
                        {"rounds_started": 1},
                        (event.tenant_id,),
                    )
                )
            case RoundCompleted():
                self._round_ended(event, change)
        return change

    @staticmethod
    def _received(event: MessageReceived, change: Change) -> None:
        data = event.data
        if data.from_me:
            return  # the operator's phone or Mirage's own echo: not received
        hour = hour_of(data.sent_at)
        change.counters += [
            Row(TENANT_HOURLY, (event.tenant_id, hour), {"received": 1}),
            Row(NUMBER_HOURLY, (data.instance_id, hour), {"received": 1}, (event.tenant_id,)),
        ]
        change.facts.append(
            Row(
                INBOUND,
                (data.message_id,),
                {
                    "tenant_id": event.tenant_id,
                    "instance_id": data.instance_id,
                    "conversation_id": data.conversation_id,
                    "contact_id": data.contact_id,
                    "sender": canonical_phone(data.reply_to) or data.reply_to,
                    "written_at": data.sent_at,
                },
            )
        )

    def _reply(self, event: ReplyGenerated, change: Change) -> None:
        data = event.data
        persona = data.persona_id or DEFAULT_PERSONA_ID
        prompt = data.prompt_tokens or 0
        completion = data.completion_tokens or 0
        change.counters.append(
            Row(
                PERSONA_HOURLY,
                (event.tenant_id, persona, hour_of(event.occurred_at)),
                {
                    "replies": 1,
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "cost_micro_usd": self.cost.micro_usd(data.model, prompt, completion),
                },
            )
        )
        change.facts.append(
            Row(
                REPLIES,
                (data.reply_id,),
                {
                    "tenant_id": event.tenant_id,
                    "conversation_id": data.conversation_id,
                    "instance_id": data.instance_id,
                    "persona_id": persona,
                    "kind": data.kind,
                    "burst": "{" + ",".join(str(message) for message in data.message_ids) + "}",
                    "generated_at": event.occurred_at,
                },
            )
        )

    @staticmethod
    def _requested(event: SendText, change: Change) -> None:
        data = event.data
        change.facts.append(
            Row(
                SENDS,
                (data.send_id,),
                {
                    "tenant_id": event.tenant_id,
                    "instance_id": data.instance_id,
                    "conversation_id": data.conversation_id,
                    "recipient": canonical_phone(data.to),
                    "purpose": data.purpose.value,
                    "campaign_id": data.campaign_id,
                    "reply_id": data.reply_id,
                    "part_index": data.part_index,
                    "requested_at": event.occurred_at,
                },
            )
        )

    @staticmethod
    def _sent(event: MessageSent, change: Change) -> None:
        data = event.data
        hour = hour_of(data.sent_at)
        outreach = 1 if data.purpose is SendPurpose.OUTREACH else 0
        change.counters += [
            Row(TENANT_HOURLY, (event.tenant_id, hour), {"sent": 1}),
            Row(
                NUMBER_HOURLY,
                (data.instance_id, hour),
                {"sent": 1, "outreach_sent": outreach},
                (event.tenant_id,),
            ),
        ]
        if data.ambiguous_at is not None:
            # It was counted failed (`ambiguous`) when it was judged; its echo showed it went
            # out. Counters add up, so this holds whichever event the stats see first.
            failed_hour = hour_of(data.ambiguous_at)
            change.counters += [
                Row(TENANT_HOURLY, (event.tenant_id, failed_hour), {"failed": -1}),
                Row(NUMBER_HOURLY, (data.instance_id, failed_hour), {"failed": -1}, (event.tenant_id,)),
                Row(
                    NUMBER_FAILURES_HOURLY,
                    (data.instance_id, failed_hour, AMBIGUOUS_FAILURE_CODE),
                    {"failed": -1},
                    (event.tenant_id,),
                ),
            ]
        change.facts.append(
            Row(
                SENDS,
                (data.send_id,),
                {
                    "tenant_id": event.tenant_id,
                    "instance_id": data.instance_id,
                    "conversation_id": data.conversation_id,
                    "recipient": canonical_phone(data.to),
                    "purpose": data.purpose.value,
                    "sent_at": data.sent_at,
                },
            )
        )

    @staticmethod
    def _failed(event: MessageFailed, change: Change) -> None:
        data = event.data
        hour = hour_of(event.occurred_at)
        code = data.failure_code or ("refused" if data.refused else "unknown")
        change.counters += [
            Row(TENANT_HOURLY, (event.tenant_id, hour), {"failed": 1}),
            Row(NUMBER_HOURLY, (data.instance_id, hour), {"failed": 1}, (event.tenant_id,)),
            Row(NUMBER_FAILURES_HOURLY, (data.instance_id, hour, code), {"failed": 1}, (event.tenant_id,)),
        ]
        change.facts.append(
            Row(
                SENDS,
                (data.send_id,),
                {
                    "tenant_id": event.tenant_id,
                    "instance_id": data.instance_id,
                    "conversation_id": data.conversation_id,
                    "recipient": canonical_phone(data.to),
                    "purpose": data.purpose.value,
                    "failed_at": event.occurred_at,
                    "failure_code": code,
                },
            )
        )

    @staticmethod
    def _opted_out(event: ContactOptedOut, change: Change) -> None:
        data = event.data
        if data.instance_id is not None:
            change.counters.append(
                Row(
                    NUMBER_HOURLY,
                    (data.instance_id, hour_of(event.occurred_at)),
                    {"opt_outs": 1},
                    (event.tenant_id,),
                )
            )
        change.facts.append(
            Row(
                OPT_OUTS,
                (event.event_id,),
                {
                    "tenant_id": event.tenant_id,
                    "contact_id": data.contact_id,
                    "conversation_id": data.conversation_id,
                    "instance_id": data.instance_id,
                    "phone": canonical_phone(data.phone or data.jid),
                    "opted_out_at": event.occurred_at,
                },
            )
        )

    @staticmethod
    def _round_ended(event: RoundCompleted, change: Change) -> None:
        data = event.data
        completed = data.outcome == "completed"
        change.counters.append(
            Row(
                PAIR_HOURLY,
                (data.pair_id, hour_of(event.occurred_at)),
                {
                    "rounds_ended": 1,
                    "rounds_completed": 1 if completed else 0,
                    "completed_duration_ms": data.duration_ms if completed else 0,
                    # The WhatsApp messages the round sent (a turn may be several); older
                    # events only counted turns.
                    "messages": data.messages_sent or data.turns_completed,
                    # A turn was sent but never arrived at the other number.
                    "deaf_rounds": 1 if data.outcome == "deaf" else 0,
                },
                (event.tenant_id,),
            )
        )
