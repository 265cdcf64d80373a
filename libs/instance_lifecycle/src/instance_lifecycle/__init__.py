"""The instance state machine of PRODUCT §2: the one place an instance's state changes."""

from instance_lifecycle.machine import (
    LEGAL_TRANSITIONS,
    REASONS,
    Plan,
    Trigger,
    plan,
    trigger_for_connection_update,
)
from instance_lifecycle.store import (
    QR_LIFETIME,
    Outcome,
    Pairing,
    QrCode,
    UnknownInstanceError,
    apply_trigger,
)

__all__ = [
    "LEGAL_TRANSITIONS",
    "QR_LIFETIME",
    "REASONS",
    "Outcome",
    "Pairing",
    "Plan",
    "QrCode",
    "Trigger",
    "UnknownInstanceError",
    "apply_trigger",
    "plan",
    "trigger_for_connection_update",
]
