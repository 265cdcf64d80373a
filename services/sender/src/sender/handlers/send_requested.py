"""`send.requested` → `SendService.send`."""

from __future__ import annotations

from contracts import SendText
from messaging import Delivery
from sender.sending import SendService


class SendRequestedHandler:
    """The `KeyedConsumer` handler; its service is bound at start-up, once dependencies are open."""

    def __init__(self) -> None:
        self._service: SendService | None = None

    def bind(self, service: SendService) -> None:
        """Attach the service (before the consumer starts)."""
        self._service = service

    async def __call__(self, command: SendText, delivery: Delivery) -> None:
        """Handle one command."""
        if self._service is None:
            raise RuntimeError("the sender received a command before start-up bound its service")
        await self._service.send(command)
