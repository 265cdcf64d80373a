"""Request and response bodies of the instance routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.input_types import PhoneDigits
from api.instances.repository import Instance
from api.instances.service import QrView, StatusView
from contracts import InstanceState


class InstanceCreate(BaseModel):
    """`POST /instances`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="The Evolution instance name (unique among live instances).",
        examples=["loja-centro"],
    )
    integration: Literal["WHATSAPP-BAILEYS", "WHATSAPP-BUSINESS", "EVOLUTION"] | None = Field(
        default=None, description="Evolution integration; the configured default when omitted."
    )
    webhook_auth: Literal["jwt", "header"] | None = Field(
        default=None,
        description="How Evolution authenticates its webhooks to ingest: `jwt` (Evolution's `jwt_key`) or"
        " `header` (a static `X-Mirage-Webhook-Secret`). The configured default when omitted.",
    )
    persona_id: uuid.UUID | None = None
    number: PhoneDigits | None = Field(
        default=None, description="The number, for a pairing code instead of a QR (digits)."
    )
    reply_to_groups: bool = False
    reply_to_broadcasts: bool = False


class InstancePersona(BaseModel):
    """`PUT /instances/{id}/persona`."""

    model_config = ConfigDict(extra="forbid")

    persona_id: uuid.UUID | None = Field(description="The persona that answers on this instance; null: none.")


class InstanceOut(BaseModel):
    """An instance (its token and webhook secret are never shown)."""

    id: uuid.UUID
    name: str
    integration: str
    state: InstanceState
    state_reason: str | None
    state_changed_at: datetime
    sending_stopped: bool = Field(description="True after a likely ban: nothing is sent from this number.")
    webhook_auth: str
    owner_jid: str | None
    profile_name: str | None
    persona_id: uuid.UUID | None
    reply_to_groups: bool
    reply_to_broadcasts: bool
    qr_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, instance: Instance) -> InstanceOut:
        """The public view of an instance row."""
        return cls(
            id=instance.id,
            name=instance.name,
            integration=instance.integration,
            state=InstanceState(instance.state),
            state_reason=instance.state_reason,
            state_changed_at=instance.state_changed_at,
            sending_stopped=instance.sending_stopped,
            webhook_auth=instance.webhook_auth,
            owner_jid=instance.owner_jid,
            profile_name=instance.profile_name,
            persona_id=instance.persona_id,
            reply_to_groups=instance.reply_to_groups,
            reply_to_broadcasts=instance.reply_to_broadcasts,
            qr_expires_at=instance.qr_expires_at,
            created_at=instance.created_at,
            updated_at=instance.updated_at,
        )


class InstanceList(BaseModel):
    """A page of instances."""

    items: list[InstanceOut]
    limit: int
    offset: int


class QrOut(BaseModel):
    """The QR to scan, or `connected: true` when the number is already paired."""

    instance_id: uuid.UUID
    state: InstanceState
    connected: bool
    qr_data_url: str | None = Field(description="`data:image/png;base64,…` to show as an image.")
    qr_code: str | None = Field(description="The raw QR payload (`2@…`).")
    pairing_code: str | None
    expires_at: datetime | None = Field(description="After this the QR is expired (2 minutes).")

    @classmethod
    def of(cls, view: QrView) -> QrOut:
        """From the service's view."""
        return cls(
            instance_id=view.instance.id,
            state=InstanceState(view.instance.state),
            connected=view.connected,
            qr_data_url=view.data_url,
            qr_code=view.code,
            pairing_code=view.pairing_code,
            expires_at=view.expires_at,
        )


class StatusOut(BaseModel):
    """The instance's state after refreshing it from Evolution."""

    instance_id: uuid.UUID
    name: str
    state: InstanceState
    connected: bool
    state_reason: str | None
    state_changed_at: datetime
    sending_stopped: bool
    evolution_state: str | None = Field(description="Evolution's own word: `open`, `connecting`, `close`.")

    @classmethod
    def of(cls, view: StatusView) -> StatusOut:
        """From the service's view."""
        instance = view.instance
        return cls(
            instance_id=instance.id,
            name=instance.name,
            state=InstanceState(instance.state),
            connected=instance.state == InstanceState.CONNECTED,
            state_reason=instance.state_reason,
            state_changed_at=instance.state_changed_at,
            sending_stopped=instance.sending_stopped,
            evolution_state=view.evolution_state,
        )
