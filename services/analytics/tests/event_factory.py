"""Events as the pipeline publishes them, for the analytics tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from contracts import (
    ChatKind,
    Envelope,
    MessageCategory,
    MessageFailed,
    MessageFailedData,
    MessageReceived,
    MessageReceivedData,
    MessageSent,
    MessageSentData,
    ReplyGenerated,
    ReplyGeneratedData,
    SendPurpose,
    SendText,
    SendTextData,
    utc_now,
)


@dataclass
class Conversation:
    """One person writing to one of a tenant's numbers, and what the pipeline did about it."""

    tenant_id: uuid.UUID
    instance_id: uuid.UUID = field(default_factory=uuid.uuid4)
    conversation_id: uuid.UUID = field(default_factory=uuid.uuid4)
    contact_id: uuid.UUID = field(default_factory=uuid.uuid4)
    phone: str = field(default_factory=lambda: f"55119{uuid.uuid4().int % 10**8:08d}")

    def received(self, at: datetime | None = None) -> MessageReceived:
        """The person wrote."""
        sent_at = at or utc_now()
        return MessageReceived(
            tenant_id=self.tenant_id,
            correlation_id=uuid.uuid4(),
            occurred_at=sent_at,
            data=MessageReceivedData(
                message_id=uuid.uuid4(),
                instance_id=self.instance_id,
                instance_name="loja",
                conversation_id=self.conversation_id,
                contact_id=self.contact_id,
                provider_message_id=uuid.uuid4().hex,
                from_me=False,
                chat_jid=f"{self.phone}@s.whatsapp.net",
                reply_to=f"{self.phone}@s.whatsapp.net",
                chat_kind=ChatKind.DIRECT,
                category=MessageCategory.TEXT,
                text="oi",
                sent_at=sent_at,
            ),
        )

    def answered(
        self,
        burst: list[MessageReceived],
        *,
        after: timedelta,
        persona_id: uuid.UUID | None = None,
        tokens: tuple[int, int] = (100, 20),
        model: str = "gpt-4o-mini",
    ) -> list[Envelope]:
        """The reply to `burst`: generated, requested and sent `after` its first message."""
        first = min(event.data.sent_at for event in burst)
        reply_id, send_id = uuid.uuid4(), uuid.uuid4()
        generated = ReplyGenerated(
            tenant_id=self.tenant_id,
            correlation_id=burst[0].correlation_id,
            occurred_at=first + after / 2,
            data=ReplyGeneratedData(
                reply_id=reply_id,
                conversation_id=self.conversation_id,
                instance_id=self.instance_id,
                text="olá",
                parts=("olá",),
                model=model,
                persona_id=persona_id,
                message_ids=tuple(event.data.message_id for event in burst),
                prompt_tokens=tokens[0],
                completion_tokens=tokens[1],
            ),
        )
        return [generated, self.requested(send_id, reply_id=reply_id), self.sent(send_id, at=first + after)]

    def requested(
        self,
        send_id: uuid.UUID,
        *,
        reply_id: uuid.UUID | None = None,
        purpose: SendPurpose = SendPurpose.REPLY,
        campaign_id: uuid.UUID | None = None,
    ) -> SendText:
        """A send was requested."""
        return SendText(
            tenant_id=self.tenant_id,
            correlation_id=uuid.uuid4(),
            data=SendTextData(
                send_id=send_id,
                instance_id=self.instance_id,
                instance_name="loja",
                conversation_id=self.conversation_id if purpose is not SendPurpose.OUTREACH else None,
                contact_id=self.contact_id,
                to=self.phone,
                text="olá",
                purpose=purpose,
                reply_id=reply_id,
                campaign_id=campaign_id,
            ),
        )

    def sent(
        self, send_id: uuid.UUID, *, at: datetime | None = None, purpose: SendPurpose = SendPurpose.REPLY
    ) -> MessageSent:
        """Evolution accepted the send."""
        return MessageSent(
            tenant_id=self.tenant_id,
            correlation_id=uuid.uuid4(),
            data=MessageSentData(
                send_id=send_id,
                instance_id=self.instance_id,
                instance_name="loja",
                conversation_id=self.conversation_id if purpose is not SendPurpose.OUTREACH else None,
                to=self.phone,
                provider_message_id=uuid.uuid4().hex,
                attempts=1,
                purpose=purpose,
                sent_at=at or utc_now(),
            ),
        )

    def failed(
        self, send_id: uuid.UUID, code: str = "not_on_whatsapp", *, at: datetime | None = None
    ) -> MessageFailed:
        """The send failed for good."""
        return MessageFailed(
            tenant_id=self.tenant_id,
            correlation_id=uuid.uuid4(),
            occurred_at=at or utc_now(),
            data=MessageFailedData(
                send_id=send_id,
                instance_id=self.instance_id,
                instance_name="loja",
                conversation_id=self.conversation_id,
                to=self.phone,
                error="400",
                failure_code=code,
                status_code=400,
                attempts=1,
                retryable=False,
                purpose=SendPurpose.REPLY,
            ),
        )
