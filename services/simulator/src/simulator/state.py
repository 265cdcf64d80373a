"""The simulator's memory: instances, logs of what happened, faults, unknown numbers.

Everything lives on one event loop and every mutation is synchronous (no `await`
between reading and writing), so no lock is needed for asyncio safety.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from simulator.faults import Faults
from simulator.media import MediaLibrary
from simulator.messages import iso_utc, new_record_id, now_utc

ConnectionState = Literal["open", "connecting", "close"]

INTEGRATIONS = ("WHATSAPP-BAILEYS", "WHATSAPP-BUSINESS", "EVOLUTION")

# Valid webhook event names (upper snake), from Evolution's EventController.
WEBHOOK_EVENTS = (
    "APPLICATION_STARTUP",
    "QRCODE_UPDATED",
    "MESSAGES_SET",
    "MESSAGES_UPSERT",
    "MESSAGES_EDITED",
    "MESSAGES_UPDATE",
    "MESSAGES_DELETE",
    "SEND_MESSAGE",
    "SEND_MESSAGE_UPDATE",
    "CONTACTS_SET",
    "CONTACTS_UPSERT",
    "CONTACTS_UPDATE",
    "PRESENCE_UPDATE",
    "CHATS_SET",
    "CHATS_UPSERT",
    "CHATS_UPDATE",
    "CHATS_DELETE",
    "GROUPS_UPSERT",
    "GROUP_UPDATE",
    "GROUP_PARTICIPANTS_UPDATE",
    "CONNECTION_UPDATE",
    "LABELS_EDIT",
    "LABELS_ASSOCIATION",
    "CALL",
    "TYPEBOT_START",
    "TYPEBOT_CHANGE_STATUS",
    "REMOVE_INSTANCE",
    "LOGOUT_INSTANCE",
    "INSTANCE_CREATE",
    "INSTANCE_DELETE",
    "STATUS_INSTANCE",
)

SETTING_FLAGS = (
    "rejectCall",
    "groupsIgnore",
    "alwaysOnline",
    "readMessages",
    "readStatus",
    "syncFullHistory",
)


def upper_snake(event: str) -> str:
    """`messages.upsert` → `MESSAGES_UPSERT` (Evolution: replace `.`/`-` by `_`, upper-case)."""
    return event.replace(".", "_").replace("-", "_").upper()


def kebab(event: str) -> str:
    """`messages.upsert` → `messages-upsert`, the by-events URL suffix."""
    return upper_snake(event).replace("_", "-").lower()


@dataclass
class WebhookConfig:
    """An instance's webhook row."""

    url: str
    enabled: bool = True
    by_events: bool = False
    base64: bool = False
    headers: dict[str, Any] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    id: str = field(default_factory=new_record_id)
    created_at: datetime = field(default_factory=now_utc)
    updated_at: datetime = field(default_factory=now_utc)

    def deliverable(self) -> bool:
        """Evolution silently skips disabled webhooks and URLs that are not http(s)."""
        return self.enabled and self.url.startswith(("http://", "https://"))

    def wants(self, event: str) -> bool:
        """Whether the events filter lets `event` (dotted) through; empty means all."""
        return not self.events or upper_snake(event) in self.events

    def row(self, instance_id: str) -> dict[str, Any]:
        """The Webhook row as `webhook/set` and `webhook/find` answer it."""
        return {
            "id": self.id,
            "url": self.url,
            "headers": self.headers,
            "enabled": self.enabled,
            "events": self.events,
            "webhookByEvents": self.by_events,
            "webhookBase64": self.base64,
            "createdAt": iso_utc(self.created_at),
            "updatedAt": iso_utc(self.updated_at),
            "instanceId": instance_id,
        }


@dataclass
class QrCode:
    """The QR an instance shows while `connecting`."""

    code: str
    base64: str
    pairing_code: str | None
    count: int
    generated_at: float

    def connect_view(self) -> dict[str, Any]:
        """The `connect` REST answer (with `count`)."""
        return {
            "pairingCode": self.pairing_code,
            "code": self.code,
            "base64": self.base64,
            "count": self.count,
        }


def default_settings() -> dict[str, Any]:
    """An instance's behaviour settings at create time."""
    return {
        "rejectCall": False,
        "msgCall": "",
        "groupsIgnore": False,
        "alwaysOnline": False,
        "readMessages": False,
        "readStatus": False,
        "syncFullHistory": False,
        "wavoipToken": "",
    }


@dataclass
class Instance:
    """One simulated WhatsApp number."""

    name: str
    token: str
    integration: str
    id: str
    number: str | None = None
    state: ConnectionState = "close"
    owner_jid: str | None = None
    profile_name: str | None = None
    webhook: WebhookConfig | None = None
    settings: dict[str, Any] = field(default_factory=default_settings)
    setting_id: str = field(default_factory=new_record_id)
    presence: str = "available"
    disconnection_reason_code: int | None = None
    disconnection_object: str | None = None
    disconnection_at: datetime | None = None
    created_at: datetime = field(default_factory=now_utc)
    updated_at: datetime = field(default_factory=now_utc)
    qr: QrCode | None = None
    qr_count: int = 0
    message_count: int = 0
    contacts: set[str] = field(default_factory=set)

    def touch(self) -> None:
        """Mark the row updated."""
        self.updated_at = now_utc()

    def setting_row(self) -> dict[str, Any]:
        """The Setting row (`settings/set`, `settings/find`, fetchInstances `Setting`)."""
        return {
            "id": self.setting_id,
            **self.settings,
            "createdAt": iso_utc(self.created_at),
            "updatedAt": iso_utc(self.updated_at),
            "instanceId": self.id,
        }

    def fetch_row(self, client_name: str) -> dict[str, Any]:
        """The Instance row of `fetchInstances` (it includes the token: redact in logs)."""
        return {
            "id": self.id,
            "name": self.name,
            "connectionStatus": self.state,
            "ownerJid": self.owner_jid,
            "profileName": self.profile_name,
            "profilePicUrl": None,
            "integration": self.integration,
            "number": self.number,
            "businessId": None,
            "token": self.token,
            "clientName": client_name,
            "disconnectionReasonCode": self.disconnection_reason_code,
            "disconnectionObject": self.disconnection_object,
            "disconnectionAt": iso_utc(self.disconnection_at) if self.disconnection_at else None,
            "createdAt": iso_utc(self.created_at),
            "updatedAt": iso_utc(self.updated_at),
            "Chatwoot": None,
            "Proxy": None,
            "Rabbitmq": None,
            "Nats": None,
            "Sqs": None,
            "Websocket": None,
            "Setting": self.setting_row(),
            "_count": {
                "Message": self.message_count,
                "Contact": len(self.contacts),
                "Chat": len(self.contacts),
            },
        }

    def control_view(self) -> dict[str, Any]:
        """A compact view for `GET /_sim/instances`."""
        return {
            "name": self.name,
            "id": self.id,
            "token": self.token,
            "integration": self.integration,
            "state": self.state,
            "number": self.number,
            "owner_jid": self.owner_jid,
            "profile_name": self.profile_name,
            "webhook": self.webhook.row(self.id) if self.webhook else None,
        }


@dataclass(frozen=True)
class SentRecord:
    """One accepted `sendText`."""

    instance: str
    number: str
    text: str
    delay: int
    id: str
    remote_jid: str
    at: datetime

    def row(self) -> dict[str, Any]:
        """The `GET /_sim/sent` row."""
        return {
            "instance": self.instance,
            "number": self.number,
            "text": self.text,
            "delay": self.delay,
            "id": self.id,
            "at": iso_utc(self.at),
            "remote_jid": self.remote_jid,
        }


@dataclass(frozen=True)
class RelayRecord:
    """A message one instance sent to another instance's number (`GET /_sim/relayed`)."""

    sender: str
    recipient: str
    id: str
    text: str
    outcome: str  # delivered (the peer got it), dropped (a `deliveries` fault), offline (peer not open)
    at: datetime

    def row(self) -> dict[str, Any]:
        """The `GET /_sim/relayed` row."""
        return {
            "from": self.sender,
            "to": self.recipient,
            "id": self.id,
            "text": self.text,
            "outcome": self.outcome,
            "at": iso_utc(self.at),
        }


@dataclass
class DeliveryRecord:
    """One webhook delivery (all its attempts), for `GET /_sim/webhooks`."""

    instance: str
    event: str
    url: str
    outcome: str = "pending"
    status: int | None = None
    attempts: int = 0
    error: str | None = None
    id: str = field(default_factory=new_record_id)
    at: datetime = field(default_factory=now_utc)

    def row(self) -> dict[str, Any]:
        """The `GET /_sim/webhooks` row."""
        return {
            "id": self.id,
            "instance": self.instance,
            "event": self.event,
            "url": self.url,
            "outcome": self.outcome,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
            "at": iso_utc(self.at),
        }


class SimulatorState:
    """Instances plus bounded logs; `reset` clears logs and faults, keeping instances."""

    def __init__(self, log_limit: int = 100_000) -> None:
        self.instances: dict[str, Instance] = {}
        self.faults = Faults()
        self.not_on_whatsapp: set[str] = set()
        self.sent: deque[SentRecord] = deque(maxlen=log_limit)
        self.deliveries: deque[DeliveryRecord] = deque(maxlen=log_limit)
        self.inbound: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self.presences: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self.completions: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self.relayed: deque[RelayRecord] = deque(maxlen=log_limit)
        self.transcriptions: deque[dict[str, Any]] = deque(maxlen=log_limit)
        # Media of delivered messages, for `getBase64FromMediaMessage` (kept across resets,
        # as Evolution keeps its messages).
        self.media = MediaLibrary(limit=min(log_limit, 10_000))

    def get(self, name: str) -> Instance | None:
        """The instance called `name`, if any."""
        return self.instances.get(name)

    def with_number(self, *digits: str) -> Instance | None:
        """The instance whose own number is one of `digits` (what WhatsApp routes a send to)."""
        wanted = {value for value in digits if value}
        for instance in self.instances.values():
            own = instance.owner_jid.split("@", 1)[0].split(":", 1)[0] if instance.owner_jid else ""
            if own and own in wanted:
                return instance
        return None

    def with_token(self, token: str) -> list[Instance]:
        """Instances whose token is `token`."""
        return [instance for instance in self.instances.values() if instance.token == token]

    def add(self, instance: Instance) -> None:
        """Register a new instance."""
        self.instances[instance.name] = instance

    def remove(self, name: str) -> Instance | None:
        """Forget an instance."""
        return self.instances.pop(name, None)

    def replace_instances(self, instances: Iterable[Instance]) -> None:
        """Install instances loaded from the state file."""
        self.instances = {instance.name: instance for instance in instances}

    def reset(self, *, instances: bool = False) -> None:
        """Clear logs, faults and registered numbers; instances too when asked."""
        self.faults.reset()
        self.not_on_whatsapp.clear()
        self.sent.clear()
        self.deliveries.clear()
        self.inbound.clear()
        self.presences.clear()
        self.completions.clear()
        self.relayed.clear()
        self.transcriptions.clear()
        if instances:
            self.instances.clear()
            self.media.clear()
