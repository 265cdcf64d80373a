"""The events a send ends with: `message.sent`, `message.failed` and its `admin.alert`.

Their ids are derived from the send id, so a redelivered command that somehow
re-creates one produces the same event, which consumers deduplicate.
"""

from __future__ import annotations

from datetime import datetime

from contracts import (
    AdminAlert,
    AdminAlertData,
    AlertCause,
    AlertSeverity,
    MessageFailed,
    MessageFailedData,
    MessageSent,
    MessageSentData,
    SendPurpose,
    SendText,
    stable_id,
)

PRODUCER = "sender"

# What the alert says (operators may read it on WhatsApp: Brazilian Portuguese).
_ALERT_TITLES = {
    AlertCause.SEND_EXHAUSTED: "Envio falhou após {attempts} tentativas",
    AlertCause.SEND_REJECTED: "Envio recusado pela Evolution API",
    AlertCause.SEND_AMBIGUOUS: "Envio com resultado incerto: pode ter sido entregue",
}


def message_sent(
    command: SendText,
    *,
    provider_message_id: str,
    attempts: int,
    sent_at: datetime,
    ambiguous_at: datetime | None = None,
) -> MessageSent:
    """`message.sent` for a send Evolution accepted (`ambiguous_at`: when it was reported
    ambiguous, for a send whose echo arrived after that)."""
    data = command.data
    return MessageSent(
        event_id=stable_id(PRODUCER, "message.sent", data.send_id),
        tenant_id=command.tenant_id,
        correlation_id=command.correlation_id,
        causation_id=command.event_id,
        data=MessageSentData(
            send_id=data.send_id,
            instance_id=data.instance_id,
            instance_name=data.instance_name,
            conversation_id=data.conversation_id,
            to=data.to,
            provider_message_id=provider_message_id,
            attempts=attempts,
            purpose=data.purpose,
            sent_at=sent_at,
            ambiguous_at=ambiguous_at,
        ),
    )


def message_failed(
    command: SendText,
    *,
    code: str,
    error: str,
    attempts: int,
    status_code: int | None = None,
    retryable: bool = False,
    ambiguous: bool = False,
    refused: bool = False,
) -> MessageFailed:
    """`message.failed` for a send that will not be attempted again."""
    data = command.data
    return MessageFailed(
        event_id=stable_id(PRODUCER, "message.failed", data.send_id),
        tenant_id=command.tenant_id,
        correlation_id=command.correlation_id,
        causation_id=command.event_id,
        data=MessageFailedData(
            send_id=data.send_id,
            instance_id=data.instance_id,
            instance_name=data.instance_name,
            conversation_id=data.conversation_id,
            to=data.to,
            error=error,
            failure_code=code,
            status_code=status_code,
            attempts=attempts,
            retryable=retryable,
            ambiguous=ambiguous,
            refused=refused,
            purpose=data.purpose,
        ),
    )


def alert_key(cause: AlertCause, command: SendText) -> str:
    """`<cause>:<instance_id>`: one number's failures aggregate into one alert in the cool-down."""
    return f"{cause}:{command.data.instance_id}"


def send_alert(
    command: SendText,
    *,
    cause: AlertCause,
    attempts: int,
    error: str,
    status_code: int | None = None,
) -> AdminAlert | None:
    """The admin alert for a failed or ambiguous send; None for sends that carry an alert.

    A failed send *of* an alert (to the admin's number) raises no alert: that would
    feed the failure back into the channel that is failing.
    """
    data = command.data
    if data.purpose is SendPurpose.ADMIN_ALERT:
        return None
    severity = AlertSeverity.CRITICAL if cause is AlertCause.SEND_AMBIGUOUS else AlertSeverity.WARNING
    context = {
        "instance_name": data.instance_name,
        "to": data.to,
        "purpose": str(data.purpose),
        "attempts": str(attempts),
        "error": error[:500],
    }
    if status_code is not None:
        context["status_code"] = str(status_code)
    return AdminAlert(
        event_id=stable_id(PRODUCER, "admin.alert", cause, data.send_id),
        tenant_id=command.tenant_id,
        correlation_id=command.correlation_id,
        causation_id=command.event_id,
        data=AdminAlertData(
            cause=cause,
            severity=severity,
            alert_key=alert_key(cause, command),
            title=_ALERT_TITLES[cause].format(attempts=attempts),
            detail=f"Número {data.instance_name} → {data.to}: {error[:300]}",
            instance_id=data.instance_id,
            conversation_id=data.conversation_id,
            contact_id=data.contact_id,
            send_id=data.send_id,
            campaign_id=data.campaign_id,
            context=context,
        ),
    )


def ambiguity_resolved_alert(command: SendText, *, provider_message_id: str) -> AdminAlert | None:
    """The resolution of an ambiguous send's alert, once its echo showed it went out after all."""
    data = command.data
    if data.purpose is SendPurpose.ADMIN_ALERT:
        return None  # an alert's own send raised no alert
    cause = AlertCause.SEND_AMBIGUOUS
    return AdminAlert(
        event_id=stable_id(PRODUCER, "admin.alert", cause, "resolved", data.send_id),
        tenant_id=command.tenant_id,
        correlation_id=command.correlation_id,
        causation_id=command.event_id,
        data=AdminAlertData(
            cause=cause,
            severity=AlertSeverity.INFO,
            alert_key=alert_key(cause, command),
            title="Envio incerto confirmado: a mensagem foi enviada",
            detail=(
                f"Número {data.instance_name} → {data.to}: o eco do WhatsApp chegou ({provider_message_id})."
            ),
            instance_id=data.instance_id,
            conversation_id=data.conversation_id,
            contact_id=data.contact_id,
            send_id=data.send_id,
            context={"instance_name": data.instance_name, "provider_message_id": provider_message_id},
            resolved=True,
        ),
    )
