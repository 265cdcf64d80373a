"""`message.received` → the guard's decision on that message."""

from __future__ import annotations

from contracts import MessageReceived
from guard.service import Guard
from messaging import Delivery


class MessageReceivedHandler:
    """The consumer's handler; start-up hands it the guard once its dependencies are open."""

    def __init__(self) -> None:
        self.guard: Guard | None = None

    async def __call__(self, event: MessageReceived, delivery: Delivery) -> None:
        """Decide on the message the event describes."""
        if self.guard is None:
            raise RuntimeError("the guard received a message before start-up finished")
        await self.guard.on_message_received(event)
