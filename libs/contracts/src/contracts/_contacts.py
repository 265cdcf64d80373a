"""Consent events: opt-out and re-opt-in."""

from __future__ import annotations

import uuid
from typing import Literal

from contracts._envelope import Envelope, Payload


class ConsentChangeData(Payload):
    """A contact's consent changed tenant-wide."""

    contact_id: uuid.UUID
    jid: str
    phone: str | None = None
    keyword: str | None = None
    # `inbound_keyword`, `api`, …
    source: str
    instance_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None


class ContactOptedOut(Envelope):
    """A contact opted out of all messages from the tenant (topic `contact.opted_out`)."""

    type: Literal["contact.opted_out"] = "contact.opted_out"
    data: ConsentChangeData


class ContactOptedIn(Envelope):
    """A contact lifted an earlier opt-out (also on topic `contact.opted_out`)."""

    type: Literal["contact.opted_in"] = "contact.opted_in"
    data: ConsentChangeData
