"""The WhatsApp copy of an admin alert: a `send.requested` to the tenant's `admin_phone`.

When the intake stores a *new* alert row (the first occurrence of its key in the cool-down),
it decides in the same transaction whether the admin gets a WhatsApp message, and stages the
command in the api's outbox when so:

- no `admin_phone` → `not_configured`;
- another row of the same key was sent within the tenant's cool-down (the operator
  acknowledged the previous one and it happened again) → `suppressed`;
- no connected instance of the tenant that may send → `no_instance`;
- otherwise → `staged`: sent through a connected instance, preferably not the one the
  alert is about (it may be the one failing).

The command has purpose `admin_alert`: it never goes through outreach, so no campaign quota
counts it, and the sender raises no alert when it fails (that would feed the failing channel).
Its send id derives from the alert row, so a redelivered alert event never sends twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from api.alerts.repository import StoredAlert
from contracts import AdminAlert, SendPurpose, SendText, SendTextData, stable_id
from contracts.phones import phone_digits
from database import Connection
from messaging import Outbox, StagedEvent

_SEVERITY = {"critical": "crítico", "warning": "aviso", "info": "informação"}

_CHOOSE = """
SELECT t.admin_phone,
       EXISTS (
           SELECT 1 FROM admin_alerts o
           WHERE o.tenant_id = t.id AND o.alert_key = $2 AND o.id <> $3 AND o.whatsapp_state = 'staged'
             AND o.whatsapp_staged_at > now() - make_interval(secs => t.alert_cooldown_s)
       ) AS recently_sent,
       via.id AS instance_id, via.name AS instance_name
FROM tenants t
LEFT JOIN LATERAL (
    SELECT i.id, i.name FROM instances i
    WHERE i.tenant_id = t.id AND i.state = 'connected' AND NOT i.sending_stopped
    ORDER BY (i.id IS NOT DISTINCT FROM $4::uuid), i.state_changed_at DESC, i.id
    LIMIT 1
) via ON true
WHERE t.id = $1
"""


@dataclass(frozen=True)
class WhatsAppCopy:
    """What became of an alert's WhatsApp copy."""

    state: str
    send_id: uuid.UUID | None = None


def alert_text(alert: StoredAlert) -> str:
    """The message the admin reads (Brazilian Portuguese)."""
    severity = _SEVERITY.get(alert.severity, alert.severity)
    lines = [f"⚠️ *Mirage — alerta ({severity})*", alert.title]
    if alert.detail:
        lines.append(alert.detail)
    instance = alert.context.get("instance_name")
    if instance:
        lines.append(f"Número: {instance}")
    lines.append("Veja e reconheça o alerta no painel, em Alertas.")
    return "\n".join(lines)[:4000]


async def stage_whatsapp_copy(
    conn: Connection, alert: StoredAlert, cause: AdminAlert, outbox: Outbox
) -> tuple[WhatsAppCopy, list[StagedEvent]]:
    """Decide and record the WhatsApp copy of a new alert row (inside the intake's transaction)."""
    row = await conn.fetchrow(_CHOOSE, alert.tenant_id, alert.alert_key, alert.id, alert.instance_id)
    staged: list[StagedEvent] = []
    phone = phone_digits(row["admin_phone"] or "") if row is not None else ""
    if row is None or len(phone) < 8:
        copy = WhatsAppCopy("not_configured")
    elif row["recently_sent"]:
        copy = WhatsAppCopy("suppressed")
    elif row["instance_id"] is None:
        copy = WhatsAppCopy("no_instance")
    else:
        send_id = stable_id("admin-alert-whatsapp", alert.id)
        command = SendText(
            event_id=stable_id("send.requested", "admin-alert-whatsapp", alert.id),
            tenant_id=alert.tenant_id,
            correlation_id=cause.correlation_id,
            causation_id=cause.event_id,
            data=SendTextData(
                send_id=send_id,
                instance_id=row["instance_id"],
                instance_name=row["instance_name"],
                to=phone,
                text=alert_text(alert),
                purpose=SendPurpose.ADMIN_ALERT,
            ),
        )
        staged = await outbox.stage(conn, [command])
        copy = WhatsAppCopy("staged", send_id)
    await conn.execute(
        "UPDATE admin_alerts SET whatsapp_state = $2, whatsapp_send_id = $3,"
        " whatsapp_staged_at = CASE WHEN $2 = 'staged' THEN now() END WHERE id = $1",
        alert.id,
        copy.state,
        copy.send_id,
    )
    return copy, staged
