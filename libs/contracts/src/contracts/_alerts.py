"""Admin alerts (the seed's "Notificar Admin")."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from contracts._envelope import Envelope, Payload
from contracts._vocabulary import AlertCause, AlertSeverity


class AdminAlertData(Payload):
    """Something an operator must know about."""

    cause: AlertCause
    severity: AlertSeverity = AlertSeverity.WARNING
    # Cause plus subject (`send_exhausted:<instance>`): alerts with the same key
    # inside the cool-down are one alert with a count.
    alert_key: str
    title: str
    detail: str = ""
    instance_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    send_id: uuid.UUID | None = None
    campaign_id: uuid.UUID | None = None
    context: dict[str, str] = Field(default_factory=dict)
    # True: the condition `alert_key` names has ended for this subject (an ambiguous send
    # turned out sent, a stalled consumer moved again); it resolves an occurrence, it is not one.
    resolved: bool = False


class AdminAlert(Envelope):
    """An alert for the tenant's administrators (topic `admin.alert`)."""

    type: Literal["admin.alert"] = "admin.alert"
    data: AdminAlertData
