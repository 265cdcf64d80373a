"""Sends by outcome (Prometheus), counted from the outcome events the sender commits.

Every send ends in a committed `message.sent` or `message.failed` handed to the outbox relay;
counting them there (after the commit, once per staged event) needs no change to the sending
logic and counts a redelivered command's outcome once.

A send reported `ambiguous` and later shown sent by a late echo has two outcome events: the
`message.failed` counts as `ambiguous` when it happens, the late `message.sent` (it carries
`ambiguous_at`) as `settled`, never as `sent` again. So `sent + failed + refused + ambiguous`
counts every send once, and `settled` tells how many of the ambiguous ones went out.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from prometheus_client import CollectorRegistry, Counter

from messaging import StagedEvent
from sender.sending import OutboxNotifier


class SendMetrics:
    """The sender's own metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.sends = Counter(
            "mirage_sender_sends",
            "Sends that reached an outcome: sent, failed, refused (a gate said no) or ambiguous"
            " (may have gone out; never repeated), by purpose; settled counts ambiguous sends a"
            " late echo later showed went out (each already counted as ambiguous).",
            ["outcome", "purpose"],
            registry=registry if registry is not None else CollectorRegistry(),
        )

    def count(self, staged: Iterable[StagedEvent]) -> None:
        """Count the outcomes among `staged`."""
        for event in staged:
            if not event.topic.endswith(("message.sent", "message.failed")):
                continue
            data = orjson.loads(event.payload).get("data", {})
            if event.topic.endswith("message.sent"):
                outcome = "settled" if data.get("ambiguous_at") else "sent"
            elif data.get("refused"):
                outcome = "refused"
            elif data.get("ambiguous"):
                outcome = "ambiguous"
            else:
                outcome = "failed"
            self.sends.labels(outcome, str(data.get("purpose", "unknown"))).inc()


class CountingRelay:
    """The outbox relay as the sender sees it, counting outcomes on their way out."""

    def __init__(self, relay: OutboxNotifier, metrics: SendMetrics) -> None:
        self._relay = relay
        self._metrics = metrics

    def notify(self, staged: Iterable[StagedEvent]) -> None:
        """Count, then hand the committed rows to the relay."""
        rows = list(staged)
        self._metrics.count(rows)
        self._relay.notify(rows)
