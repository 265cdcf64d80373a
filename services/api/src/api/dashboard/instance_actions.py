"""Disconnecting an instance: the operator logs the number out but keeps the instance.

`DELETE /instances/{id}` logs out *and* deletes; the dashboard's Disconnect only logs
out (`→ closed`), so Reconnect can pair the same instance again with a new QR code.
As in deletion, the instance goes `closed` *before* Evolution logs it out, so the
`close 401` webhook the logout causes is refused by the state machine instead of being
taken for WhatsApp logging the number out (which would raise an alert).
"""

from __future__ import annotations

import uuid

from api.domain_errors import DomainError, ErrorKind
from api.instances.evolution_failures import domain_error_for
from api.instances.repository import Instance
from api.instances.service import InstanceService
from contracts import InstanceState, stable_id
from evolution_client import EvolutionError, EvolutionRejectedError
from instance_lifecycle import Trigger

_DISCONNECTABLE = frozenset(
    {
        InstanceState.OPEN,
        InstanceState.EXPIRED,
        InstanceState.CONNECTING,
        InstanceState.CONNECTED,
        InstanceState.DISCONNECTED,
        InstanceState.CLOSED,
    }
)


async def disconnect(service: InstanceService, tenant_id: uuid.UUID, instance_id: uuid.UUID) -> Instance:
    """`→ closed`, then log the number out at Evolution (a repeat is harmless)."""
    instance = await service.get(tenant_id, instance_id)
    if InstanceState(instance.state) not in _DISCONNECTABLE:
        raise DomainError(
            ErrorKind.CONFLICT,
            "illegal_transition",
            f"an instance in state {instance.state!r} cannot be disconnected",
        )
    correlation = stable_id("instance-disconnected", instance.id, instance.updated_at.isoformat())
    await service.apply(instance.id, Trigger.OPERATOR_LOGOUT, correlation_id=correlation)
    try:
        await service.evolution.logout(instance.name, token=instance.token)
    except EvolutionRejectedError:
        pass  # already logged out (400) or unknown to Evolution (404)
    except EvolutionError as error:
        raise domain_error_for(error, "log the instance out") from error
    return await service.get(tenant_id, instance_id)
