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
    REPORT_REORDER_WINDOW,
    Outcome,
    Pairing,
    QrCode,
    UnknownInstanceError,
    apply_trigger,
    claim_report,
    database_now,
    report_applied_since,
)

__all__ = [
    "LEGAL_TRANSITIONS",
    "QR_LIFETIME",
    "REASONS",
    "REPORT_REORDER_WINDOW",
    "Outcome",
    "Pairing",
    "Plan",
    "QrCode",
    "Trigger",
    "UnknownInstanceError",
    "apply_trigger",
    "claim_report",
    "database_now",
    "plan",
    "report_applied_since",
    "trigger_for_connection_update",
]
