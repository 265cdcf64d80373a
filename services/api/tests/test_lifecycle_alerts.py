"""Which status changes raise an admin alert (unit)."""

from __future__ import annotations

import uuid

import pytest

from api.alerts.lifecycle_alerts import alert_for
from contracts import (
    AlertCause,
    AlertSeverity,
    InstanceState,
    InstanceStatusChanged,
    InstanceStatusChangedData,
)

S = InstanceState


def change(
    previous: InstanceState, current: InstanceState, reason: str, code: int | None = None
) -> InstanceStatusChanged:
    return InstanceStatusChanged(
        tenant_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        data=InstanceStatusChangedData(
            instance_id=uuid.uuid4(),
            instance_name="loja",
            previous=previous,
            current=current,
            reason=reason,
            status_code=code,
        ),
    )


def test_a_logout_asks_for_a_new_qr() -> None:
    event = change(S.CONNECTED, S.DISCONNECTED, "logged_out", 401)
    alert = alert_for(event)
    assert alert is not None
    assert alert.data.cause is AlertCause.INSTANCE_LOGGED_OUT
    assert alert.data.severity is AlertSeverity.WARNING
    assert alert.data.alert_key == f"instance_logged_out:{event.data.instance_id}"
    assert alert.data.context["status_code"] == "401"
    assert (alert.causation_id, alert.correlation_id, alert.tenant_id) == (
        event.event_id,
        event.correlation_id,
        event.tenant_id,
    )
    # A redelivery derives the same alert id, so the alert consumer counts it once.
    assert alert_for(event).event_id == alert.event_id  # type: ignore[union-attr]


def test_a_likely_ban_is_critical() -> None:
    alert = alert_for(change(S.CONNECTED, S.DISCONNECTED, "likely_banned", 403))
    assert alert is not None
    assert (alert.data.cause, alert.data.severity) == (
        AlertCause.INSTANCE_LIKELY_BANNED,
        AlertSeverity.CRITICAL,
    )


@pytest.mark.parametrize(
    ("previous", "current", "reason"),
    [
        (S.CONNECTED, S.DISCONNECTED, "connection_lost"),
        (S.CONNECTED, S.CLOSED, "operator_logout"),
        (S.OPEN, S.CONNECTED, "paired"),
        (S.DISCONNECTED, S.CONNECTING, "logged_out"),
    ],
)
def test_other_changes_raise_nothing(previous: InstanceState, current: InstanceState, reason: str) -> None:
    assert alert_for(change(previous, current, reason)) is None
