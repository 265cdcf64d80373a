"""Sends by outcome are counted from the outcome events the sender hands to its relay."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from prometheus_client import CollectorRegistry

from contracts import AlertCause, SendPurpose, SendText, SendTextData, utc_now
from messaging import Outbox, StagedEvent
from sender.outcomes import message_failed, message_sent, send_alert
from sender.send_metrics import CountingRelay, SendMetrics


class _Relay:
    def __init__(self) -> None:
        self.rows: list[StagedEvent] = []

    def notify(self, staged: Iterable[StagedEvent]) -> None:
        self.rows.extend(staged)


def _command(purpose: SendPurpose) -> SendText:
    return SendText(
        tenant_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        data=SendTextData(
            send_id=uuid.uuid4(),
            instance_id=uuid.uuid4(),
            instance_name="loja",
            to="5511999990001",
            text="oi",
            purpose=purpose,
        ),
    )


def test_outcomes_are_counted_by_outcome_and_purpose_and_still_relayed() -> None:
    registry = CollectorRegistry()
    relay = _Relay()
    counting = CountingRelay(relay, SendMetrics(registry))
    outbox = Outbox("sender")
    reply, outreach = _command(SendPurpose.REPLY), _command(SendPurpose.OUTREACH)
    events = [
        message_sent(reply, provider_message_id="A1", attempts=1, sent_at=utc_now()),
        message_failed(outreach, code="http_400", error="bad", attempts=1),
        send_alert(outreach, cause=AlertCause.SEND_REJECTED, attempts=1, error="bad"),
        message_failed(reply, code="opted_out", error="opted out", attempts=0, refused=True),
        message_failed(reply, code="ambiguous", error="timeout", attempts=1, ambiguous=True),
        # The same kind of send, shown sent by a late echo: settled, not sent a second time.
        message_sent(reply, provider_message_id="A2", attempts=1, sent_at=utc_now(), ambiguous_at=utc_now()),
    ]
    prepared = outbox.prepare([event for event in events if event is not None])
    counting.notify(prepared.staged(list(range(len(prepared.topics)))))
    assert len(relay.rows) == 6

    def value(outcome: str, purpose: str) -> float | None:
        return registry.get_sample_value(
            "mirage_sender_sends_total", {"outcome": outcome, "purpose": purpose}
        )

    assert value("sent", "reply") == 1
    assert value("failed", "outreach") == 1
    assert value("refused", "reply") == 1
    assert value("ambiguous", "reply") == 1
    assert value("settled", "reply") == 1
