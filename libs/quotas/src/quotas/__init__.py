"""Sending quotas held in Redis (PRODUCT §4.1): counter keys in the tenant's local periods and
one atomic Lua script that takes from all of a send's counters, or from none."""

from quotas.gate import (
    TAKE_SCRIPT,
    Counter,
    QuotaGate,
    QuotaKeys,
    QuotaScope,
    QuotaVerdict,
)
from quotas.periods import LocalPeriods, local_periods

__all__ = [
    "TAKE_SCRIPT",
    "Counter",
    "LocalPeriods",
    "QuotaGate",
    "QuotaKeys",
    "QuotaScope",
    "QuotaVerdict",
    "local_periods",
]
