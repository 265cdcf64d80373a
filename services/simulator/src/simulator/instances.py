"""Instance lifecycle: create, pair (QR), open, close, logout, delete, webhook and settings."""

from __future__ import annotations

import time
from typing import Any

from simulator.messages import (
    USER_SUFFIX,
    digits_of,
    disconnection_object,
    fake_owner_number,
    iso_utc,
    new_token,
    new_uuid,
    now_utc,
    pairing_code,
    qr_payload,
    qr_png_data_url,
)
from simulator.persistence import InstanceStore
from simulator.settings import SeedInstance, SimulatorSettings
from simulator.state import (
    INTEGRATIONS,
    SETTING_FLAGS,
    WEBHOOK_EVENTS,
    Instance,
    QrCode,
    SimulatorState,
    WebhookConfig,
)
from simulator.webhooks import WebhookDispatcher
from simulator.wire import EvolutionError, Prop, bad_request, check_object, schema_error

Event = tuple[str, Any]

# Close codes after which Evolution gives up and reports `close` (it reconnects on others).
TERMINAL_CLOSE_CODES = frozenset({401, 402, 403, 406})

PRESENCES = ("available", "unavailable", "composing", "recording", "paused")

_CREATE_PROPS = (
    Prop("instanceName", "string", required=True, non_empty=True),
    Prop("token", "string"),
    Prop("number", "string"),
    Prop("qrcode", "boolean"),
    Prop("integration", "string"),
    Prop("rejectCall", "boolean"),
    Prop("msgCall", "string"),
    Prop("groupsIgnore", "boolean"),
    Prop("alwaysOnline", "boolean"),
    Prop("readMessages", "boolean"),
    Prop("readStatus", "boolean"),
    Prop("syncFullHistory", "boolean"),
    Prop("wavoipToken", "string"),
    Prop("webhook", "object"),
)

_CREATE_WEBHOOK_PROPS = (
    Prop("url", "string", required=True, non_empty=True),
    Prop("byEvents", "boolean"),
    Prop("base64", "boolean"),
    Prop("headers", "object"),
    Prop("events", "array"),
)

_SET_WEBHOOK_PROPS = (
    Prop("enabled", "boolean", required=True),
    Prop("url", "string", required=True, non_empty=True),
    Prop("headers", "object"),
    Prop("byEvents", "boolean"),
    Prop("base64", "boolean"),
    Prop("events", "array"),
)

_SETTINGS_PROPS = (
    *(Prop(flag, "boolean", required=True) for flag in SETTING_FLAGS),
    Prop("msgCall", "string"),
    Prop("wavoipToken", "string"),
)

_PRESENCE_PROPS = (Prop("presence", "string", required=True, enum=PRESENCES),)


def _event_problems(events: Any, path: str) -> list[str]:
    if not isinstance(events, list):
        return []
    return [
        f"{path}[{index}] is not one of enum values: {','.join(WEBHOOK_EVENTS)}"
        for index, event in enumerate(events)
        if event not in WEBHOOK_EVENTS
    ]


def success(message: str) -> dict[str, Any]:
    """Evolution's `{status:"SUCCESS", error:false, response:{message}}`."""
    return {"status": "SUCCESS", "error": False, "response": {"message": message}}


class InstanceService:
    """Decides every instance state change and the webhook events it produces."""

    def __init__(
        self,
        settings: SimulatorSettings,
        state: SimulatorState,
        webhooks: WebhookDispatcher,
        store: InstanceStore | None = None,
    ) -> None:
        self._settings = settings
        self._state = state
        self._webhooks = webhooks
        self._store = store

    def changed(self) -> None:
        """Persist instances (when a state file is configured)."""
        if self._store is not None:
            self._store.changed()

    # --- create -----------------------------------------------------------------

    def ensure_name_free(self, body: Any) -> None:
        """403 when the body's `instanceName` is taken (Evolution checks it before auth)."""
        name = body.get("instanceName") if isinstance(body, dict) else None
        if isinstance(name, str) and name in self._state.instances:
            raise EvolutionError(403, [f'This name "{name}" is already in use.'])

    def create(self, body: Any) -> dict[str, Any]:
        """`POST /instance/create`: store the instance and answer Evolution's create shape."""
        problems = check_object(body, _CREATE_PROPS)
        hook_body = body.get("webhook") if isinstance(body, dict) else None
        if isinstance(hook_body, dict):
            problems += check_object(hook_body, _CREATE_WEBHOOK_PROPS, "webhook")
            problems += _event_problems(hook_body.get("events"), "webhook.events")
        if problems:
            raise schema_error(problems)
        integration = body.get("integration")
        if integration not in INTEGRATIONS:
            raise bad_request("Invalid integration")
        if integration == "WHATSAPP-BUSINESS":
            for required in ("token", "number"):
                if not body.get(required):
                    raise bad_request(f"{required} is required")
        name: str = body["instanceName"]
        self.ensure_name_free(body)
        instance = Instance(
            name=name,
            token=body.get("token") or new_token(),
            integration=integration,
            id=new_uuid(),
            number=body.get("number") or None,
        )
        for flag in SETTING_FLAGS:
            instance.settings[flag] = body.get(flag) is True
        instance.settings["msgCall"] = body.get("msgCall") or ""
        instance.settings["wavoipToken"] = body.get("wavoipToken") or ""
        if isinstance(hook_body, dict):
            # Evolution stores a create-time webhook as enabled, whatever the body says.
            instance.webhook = WebhookConfig(
                url=hook_body["url"],
                enabled=True,
                by_events=hook_body.get("byEvents") is True,
                base64=hook_body.get("base64") is True,
                headers=dict(hook_body.get("headers") or {}),
                events=list(hook_body.get("events") or []),
            )
        self._state.add(instance)
        self.changed()
        events: list[Event] = [
            ("instance.create", {"instanceName": instance.name, "instanceId": instance.id})
        ]
        qrcode: dict[str, Any] | None = None
        if body.get("qrcode") is True and integration == "WHATSAPP-BAILEYS":
            events += self._start_pairing(instance, instance.number)
            qrcode = instance.qr.connect_view() if instance.qr else None
        self._webhooks.emit_many(instance, events)
        # Evolution echoes the create body's webhook fields; undefined ones vanish from its JSON.
        webhook_view: dict[str, Any] = {}
        if isinstance(hook_body, dict):
            fields = {"webhookUrl": "url", "webhookHeaders": "headers"}
            fields |= {"webhookByEvents": "byEvents", "webhookBase64": "base64"}
            webhook_view = {
                name: hook_body[source]
                for name, source in fields.items()
                if hook_body.get(source) is not None
            }
        response: dict[str, Any] = {
            "instance": {
                "instanceName": instance.name,
                "instanceId": instance.id,
                "integration": instance.integration,
                "webhookWaBusiness": None,
                "accessTokenWaBusiness": "",
                "status": instance.state,
            },
            "hash": instance.token,
            "webhook": webhook_view,
            "websocket": {},
            "rabbitmq": {},
            "nats": {},
            "sqs": {},
            "settings": dict(instance.settings),
        }
        if qrcode is not None:
            response["qrcode"] = qrcode
        return response

    def seed(self, seeds: list[SeedInstance]) -> None:
        """Create the configured start-up instances that do not exist yet (no webhooks)."""
        for seed in seeds:
            if seed.name in self._state.instances:
                continue
            instance = Instance(
                name=seed.name,
                token=seed.token or new_token(),
                integration=seed.integration,
                id=new_uuid(),
                number=seed.number,
            )
            if seed.webhook_url:
                instance.webhook = WebhookConfig(
                    url=seed.webhook_url,
                    by_events=seed.webhook_by_events,
                    headers=dict(seed.webhook_headers),
                    events=list(seed.webhook_events),
                )
            if seed.connected:
                self._open(instance, None, None)
            self._state.add(instance)
        if seeds:
            self.changed()

    # --- pairing and connection ---------------------------------------------------

    def _new_qr(self, instance: Instance, number: str | None) -> Event:
        instance.qr_count += 1
        code = qr_payload()
        instance.qr = QrCode(
            code=code,
            base64=qr_png_data_url(code),
            pairing_code=pairing_code() if number else None,
            count=instance.qr_count,
            generated_at=time.monotonic(),
        )
        return (
            "qrcode.updated",
            {
                "qrcode": {
                    "instance": instance.name,
                    "pairingCode": instance.qr.pairing_code,
                    "code": instance.qr.code,
                    "base64": instance.qr.base64,
                }
            },
        )

    def _start_pairing(self, instance: Instance, number: str | None) -> list[Event]:
        instance.state = "connecting"
        instance.qr_count = 0
        instance.touch()
        connecting = ("connection.update", self._connecting_data(instance))
        return [connecting, self._new_qr(instance, number)]

    def _connecting_data(self, instance: Instance) -> dict[str, Any]:
        return {"instance": instance.name, "state": "connecting", "statusReason": 200}

    def connection_state(self, instance: Instance) -> dict[str, Any]:
        """`GET /instance/connectionState/{instance}`."""
        return {"instance": {"instanceName": instance.name, "state": instance.state}}

    def connect(self, instance: Instance, number: str | None) -> dict[str, Any]:
        """`GET /instance/connect/{instance}`: the QR (a fresh one when stale) or the state."""
        if instance.state == "open":
            return self.connection_state(instance)
        events: list[Event] = []
        if instance.state == "close" or instance.qr is None:
            events = self._start_pairing(instance, number)
        elif time.monotonic() - instance.qr.generated_at >= self._settings.qr_refresh_s or (
            number and instance.qr.pairing_code is None
        ):
            events = [self._new_qr(instance, number)]
        self._webhooks.emit_many(instance, events)
        self.changed()
        return instance.qr.connect_view() if instance.qr else self.connection_state(instance)

    def restart(self, instance: Instance) -> dict[str, Any]:
        """`POST /instance/restart/{instance}`: reconnect; a closed one answers 200 `{error}`."""
        if instance.state == "close":
            return {"error": True, "message": f'The "{instance.name}" instance is not connected'}
        if instance.state == "connecting":
            return self.connect(instance, None)
        self._webhooks.emit_many(instance, self._reconnect(instance))
        return self.connection_state(instance)

    def _open(self, instance: Instance, number: str | None, profile_name: str | None) -> Event:
        # The same phone keeps its JID across reconnects unless a scan names another one.
        if number and digits_of(number):
            instance.owner_jid = digits_of(number) + USER_SUFFIX
        elif instance.owner_jid is None:
            digits = digits_of(instance.number or "") or fake_owner_number(instance.name)
            instance.owner_jid = digits + USER_SUFFIX
        instance.state = "open"
        instance.profile_name = profile_name or instance.profile_name or instance.name
        instance.qr = None
        instance.qr_count = 0
        instance.touch()
        return (
            "connection.update",
            {
                "instance": instance.name,
                "wuid": instance.owner_jid,
                "profileName": instance.profile_name,
                "profilePictureUrl": None,
                "state": "open",
                "statusReason": 200,
            },
        )

    def scan(
        self, instance: Instance, number: str | None = None, profile_name: str | None = None
    ) -> list[Event]:
        """A person scans the QR: the instance opens. Returns the events to deliver."""
        event = self._open(instance, number, profile_name)
        self.changed()
        return [event]

    def _reconnect(self, instance: Instance) -> list[Event]:
        # A non-terminal close: Evolution reconnects silently, reporting connecting then open.
        return [
            ("connection.update", self._connecting_data(instance)),
            self._open(instance, None, None),
        ]

    def disconnect(self, instance: Instance, reason: int, *, refused: bool = False) -> list[Event]:
        """The connection drops with `reason`; returns the events Evolution would emit."""
        if refused:
            events: list[Event] = [
                (
                    "qrcode.updated",
                    {"message": "QR code limit reached, please login again", "statusCode": 500},
                ),
                (
                    "connection.update",
                    {
                        "instance": instance.name,
                        "state": "refused",
                        "statusReason": 428,
                        "wuid": instance.owner_jid,
                        "profileName": instance.profile_name,
                        "profilePictureUrl": None,
                    },
                ),
            ]
            self._mark_closed(instance, 428)
            return events
        if reason not in TERMINAL_CLOSE_CODES:
            if instance.state != "open":
                raise EvolutionError(
                    409,
                    [
                        f'The "{instance.name}" instance is not connected; only a terminal '
                        f"close ({sorted(TERMINAL_CLOSE_CODES)}) or refused applies"
                    ],
                )
            return self._reconnect(instance)
        moment = self._mark_closed(instance, reason)
        return [
            (
                "status.instance",
                {
                    "instance": instance.name,
                    "status": "closed",
                    "disconnectionAt": moment,
                    "disconnectionReasonCode": reason,
                    "disconnectionObject": instance.disconnection_object,
                },
            ),
            ("connection.update", {"instance": instance.name, "state": "close", "statusReason": reason}),
            ("logout.instance", None),
        ]

    def _mark_closed(self, instance: Instance, reason: int) -> str:
        moment = now_utc()
        instance.state = "close"
        instance.qr = None
        instance.disconnection_reason_code = reason
        instance.disconnection_object = disconnection_object(reason, moment)
        instance.disconnection_at = moment
        instance.touch()
        self.changed()
        return iso_utc(moment)

    def logout(self, instance: Instance) -> dict[str, Any]:
        """`DELETE /instance/logout/{instance}`: 400 when already closed."""
        if instance.state == "close":
            raise bad_request(f'The "{instance.name}" instance is not connected')
        self._webhooks.emit_many(instance, self.disconnect(instance, 401))
        return success("Instance logged out")

    def delete(self, instance: Instance) -> dict[str, Any]:
        """`DELETE /instance/delete/{instance}`: logs out first when connected."""
        events: list[Event] = []
        if instance.state != "close":
            events += self.disconnect(instance, 401)
        events += [
            ("instance.delete", {"instanceName": instance.name, "instanceId": instance.id}),
            ("remove.instance", None),
        ]
        self._state.remove(instance.name)
        self.changed()
        # The removed instance object still carries the webhook settings for these.
        self._webhooks.emit_many(instance, events)
        return success("Instance deleted")

    # --- reading ------------------------------------------------------------------

    def fetch(
        self,
        visible: list[Instance],
        *,
        instance_name: str | None,
        instance_id: str | None,
        number: str | None,
    ) -> list[dict[str, Any]]:
        """`GET /instance/fetchInstances` rows among `visible`, filtered by the query."""
        if instance_name and not any(item.name == instance_name for item in visible):
            raise EvolutionError(404, [f'Instance "{instance_name}" not found'])
        rows = []
        for item in visible:
            if instance_name and item.name != instance_name:
                continue
            if instance_id and item.id != instance_id:
                continue
            if number and digits_of(item.number or "") != digits_of(number):
                continue
            rows.append(item.fetch_row(self._settings.client_name))
        return rows

    # --- webhook, settings, presence ------------------------------------------------

    def set_webhook(self, instance: Instance, body: Any) -> dict[str, Any]:
        """`POST /webhook/set/{instance}`: the body must be `{"webhook": {...}}`."""
        problems = check_object(body, (Prop("webhook", "object", required=True),))
        if not problems:
            hook_body = body["webhook"]
            problems = check_object(hook_body, _SET_WEBHOOK_PROPS, "webhook")
            problems += _event_problems(hook_body.get("events"), "webhook.events")
        if problems:
            raise schema_error(problems)
        enabled: bool = hook_body["enabled"]
        previous = instance.webhook
        hook = WebhookConfig(
            url=hook_body["url"],
            enabled=enabled,
            by_events=hook_body.get("byEvents") is True,
            base64=hook_body.get("base64") is True,
            headers=dict(hook_body.get("headers") or {}),
            # A disabled webhook has its event list cleared.
            events=list(hook_body.get("events") or []) if enabled else [],
        )
        if previous is not None:
            hook.id = previous.id
            hook.created_at = previous.created_at
        instance.webhook = hook
        instance.touch()
        self.changed()
        return hook.row(instance.id)

    def find_webhook(self, instance: Instance) -> dict[str, Any] | None:
        """`GET /webhook/find/{instance}`: the row or `null`."""
        return instance.webhook.row(instance.id) if instance.webhook else None

    def set_settings(self, instance: Instance, body: Any) -> dict[str, Any]:
        """`POST /settings/set/{instance}`: all six booleans required."""
        problems = check_object(body, _SETTINGS_PROPS)
        if problems:
            raise schema_error(problems)
        for flag in SETTING_FLAGS:
            instance.settings[flag] = body[flag]
        instance.settings["msgCall"] = body.get("msgCall") or ""
        instance.settings["wavoipToken"] = body.get("wavoipToken") or ""
        instance.touch()
        self.changed()
        return instance.setting_row()

    def set_presence(self, instance: Instance, body: Any) -> dict[str, Any]:
        """`POST /instance/setPresence/{instance}`: the instance-wide presence."""
        problems = check_object(body, _PRESENCE_PROPS)
        if problems:
            raise schema_error(problems)
        require_open(instance)
        instance.presence = body["presence"]
        return {"presence": instance.presence}


def require_open(instance: Instance) -> None:
    """Evolution answers a closed socket with Baileys' `Connection Closed` as a 500."""
    if instance.state != "open":
        raise EvolutionError(500, ["Error: Connection Closed"])
