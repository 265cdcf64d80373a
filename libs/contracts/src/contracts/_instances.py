"""Events about Evolution instances."""

from __future__ import annotations

import uuid
from typing import Literal

from contracts._envelope import Envelope, Payload
from contracts._vocabulary import InstanceState


class InstanceStatusChangedData(Payload):
    """One applied transition of the instance state machine."""

    instance_id: uuid.UUID
    instance_name: str
    previous: InstanceState | None
    current: InstanceState
    # Why: `qr_scanned`, `logged_out`, `likely_banned`, `operator`, `qr_expired`, …
    reason: str | None = None
    # Evolution's `statusReason` when the change came from `connection.update`.
    status_code: int | None = None
    sending_stopped: bool = False


class InstanceStatusChanged(Envelope):
    """An instance changed state (topic `instance.status_changed`)."""

    type: Literal["instance.status_changed"] = "instance.status_changed"
    data: InstanceStatusChangedData
