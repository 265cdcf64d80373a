"""Typed requests and responses of the Evolution API endpoints Mirage uses (evolution-api.md §2).

Responses are tolerant: fields Mirage does not use are ignored, most fields are
optional, and Evolution's camelCase names map to snake_case attributes. Secrets
(instance tokens, webhook headers) never appear in a model's repr.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

Presence = Literal["composing", "recording", "paused", "available", "unavailable"]
Integration = Literal["WHATSAPP-BAILEYS", "WHATSAPP-BUSINESS", "EVOLUTION"]


class EvolutionModel(BaseModel):
    """Base of every Evolution payload: camelCase on the wire, unknown fields ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )


# --- requests --------------------------------------------------------------------


class WebhookConfig(EvolutionModel):
    """An instance webhook, as given at creation or to `POST /webhook/set/{instance}`."""

    url: str
    by_events: bool = False
    base64: bool = False
    # May carry the secret Evolution sends back to Mirage (`jwt_key`, a static header).
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    # Upper-snake event names (`MESSAGES_UPSERT`); empty means every event.
    events: tuple[str, ...] = ()
    enabled: bool = True

    def create_body(self) -> dict[str, Any]:
        """The nested `webhook` object of `POST /instance/create` (always stored enabled)."""
        return {
            "url": self.url,
            "byEvents": self.by_events,
            "base64": self.base64,
            "headers": dict(self.headers),
            "events": list(self.events),
        }

    def set_body(self) -> dict[str, Any]:
        """The body of `POST /webhook/set/{instance}` (2.x requires the `webhook` wrapper)."""
        return {"webhook": {"enabled": self.enabled, **self.create_body()}}


class InstanceOptions(EvolutionModel):
    """Behaviour settings accepted by `POST /instance/create`; unset ones are not sent."""

    reject_call: bool | None = None
    msg_call: str | None = None
    groups_ignore: bool | None = None
    always_online: bool | None = None
    read_messages: bool | None = None
    read_status: bool | None = None
    sync_full_history: bool | None = None


# --- responses -------------------------------------------------------------------


class ServerInfo(EvolutionModel):
    """`GET /`: Evolution's welcome document."""

    status: int | None = None
    message: str = ""
    version: str | None = None
    client_name: str | None = None
    manager: str | None = None
    documentation: str | None = None
    whatsapp_web_version: str | None = None


class QrCode(EvolutionModel):
    """A QR code (and pairing code) to connect an instance."""

    pairing_code: str | None = None
    code: str | None = None
    base64: str | None = None
    count: int | None = None


class ConnectionState(EvolutionModel):
    """An instance's Evolution connection state (`open` means connected to WhatsApp)."""

    instance_name: str
    state: str


class _ConnectionStateEnvelope(EvolutionModel):
    instance: ConnectionState


class CreatedInstanceSummary(EvolutionModel):
    """The `instance` object of a create response."""

    instance_name: str
    instance_id: str | None = None
    integration: str | None = None
    status: str | None = None


class CreatedInstance(EvolutionModel):
    """`POST /instance/create` (201)."""

    instance: CreatedInstanceSummary
    # The instance token (`hash`), used as `apikey` on this instance's routes.
    hash: SecretStr | None = None
    webhook: dict[str, Any] = Field(default_factory=dict, repr=False)
    settings: dict[str, Any] = Field(default_factory=dict)
    qrcode: QrCode | None = None

    @property
    def token(self) -> str | None:
        """The instance token in clear text (store it, never log it)."""
        return self.hash.get_secret_value() if self.hash is not None else None


class OperationResult(EvolutionModel):
    """`{status: "SUCCESS", error: false, response: {message}}` of logout and delete."""

    status: str | None = None
    error: bool = False
    response: dict[str, Any] = Field(default_factory=dict)

    @property
    def message(self) -> str:
        """The human message (`Instance logged out`, `Instance deleted`)."""
        value = self.response.get("message")
        return value if isinstance(value, str) else ""


class InstanceRecord(EvolutionModel):
    """One row of `GET /instance/fetchInstances`."""

    id: str | None = None
    name: str
    connection_status: str | None = None
    owner_jid: str | None = None
    profile_name: str | None = None
    profile_pic_url: str | None = None
    integration: str | None = None
    number: str | None = None
    business_id: str | None = None
    token: SecretStr | None = None
    client_name: str | None = None
    disconnection_reason_code: int | None = None
    disconnection_at: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class WebhookRecord(EvolutionModel):
    """The stored webhook row answered by `POST /webhook/set/{instance}`."""

    id: str | None = None
    url: str
    headers: dict[str, Any] | None = Field(default=None, repr=False)
    enabled: bool = True
    events: tuple[str, ...] = ()
    webhook_by_events: bool = False
    webhook_base64: bool = False
    created_at: str | None = None
    updated_at: str | None = None
    instance_id: str | None = None


class MessageKey(EvolutionModel):
    """A WhatsApp message key."""

    remote_jid: str
    from_me: bool = True
    id: str


class SentMessage(EvolutionModel):
    """`POST /message/sendText/{instance}` (201): the message as sent (and echoed as `send.message`)."""

    key: MessageKey
    push_name: str | None = None
    status: str | None = None
    message: dict[str, Any] = Field(default_factory=dict)
    message_type: str | None = None
    # Seconds since the epoch; some versions serialise it as a string.
    message_timestamp: int | str | None = None
    instance_id: str | None = None
    source: str | None = None

    @property
    def id(self) -> str:
        """The provider message id (`key.id`): what recognises this message's echo."""
        return self.key.id


class PresenceResult(EvolutionModel):
    """`POST /chat/sendPresence/{instance}` (201)."""

    presence: str
