"""Creating and changing warm-up pairs: the tenant's instances and personas, the declared ages."""

from __future__ import annotations

import uuid
from typing import Any

from api.domain_errors import DomainError, ErrorKind, not_found
from api.tenants.repository import Tenant
from api.warmup import repository
from api.warmup.repository import PairExistsError
from api.warmup.schemas import PairCreate, PairSettings, PairUpdate
from database import Connection, Pool

DEFAULT_MIN_GAP_MINUTES = 60
DEFAULT_JITTER_MINUTES = 10


def _invalid(code: str, message: str) -> DomainError:
    return DomainError(ErrorKind.INVALID, code, message)


def _pair_exists() -> DomainError:
    return DomainError(
        ErrorKind.CONFLICT, "warmup_pair_exists", "these two numbers already form a warm-up pair"
    )


async def _instance(conn: Connection, tenant_id: uuid.UUID, ref: str) -> repository.TenantInstance:
    found = await repository.find_instance(conn, tenant_id, ref)
    if found is None:
        raise _invalid("unknown_instance", f"the tenant has no instance {ref!r}")
    return found


async def _check_persona(conn: Connection, tenant_id: uuid.UUID, persona_id: uuid.UUID | None) -> None:
    if persona_id is not None and not await repository.persona_exists(conn, tenant_id, persona_id):
        raise _invalid("unknown_persona", f"the tenant has no persona {persona_id}")


def _columns(body: PairSettings, explicit: set[str]) -> dict[str, Any]:
    """The stored columns of the settings given (`null` leaves a setting alone, except the
    persona overrides and the round cap, where an explicit `null` clears them)."""
    values: dict[str, Any] = {}
    simple = {
        "name": "name",
        "time_zone": "time_zone",
        "profile": "profile",
        "initiator": "initiator_mode",
        "initiator_weight_a": "initiator_weight_a",
    }
    for field, column in simple.items():
        if getattr(body, field) is not None:
            values[column] = getattr(body, field)
    for field, column in (
        ("persona_a", "persona_a_id"),
        ("persona_b", "persona_b_id"),
        ("max_rounds_per_day", "max_rounds_per_day"),
    ):
        if field in explicit:
            values[column] = getattr(body, field)
    if body.windows is not None:
        values["windows"] = [window.model_dump() for window in body.windows]
    if body.min_gap_minutes is not None:
        values["min_delay_s"] = body.min_gap_minutes * 60
    if body.gap_jitter_minutes is not None:
        values["jitter_s"] = body.gap_jitter_minutes * 60
    if body.turns is not None:
        values["min_turns"], values["max_turns"] = body.turns.min, body.turns.max
    return values


async def create_pair(pool: Pool, tenant: Tenant, body: PairCreate) -> uuid.UUID:
    """Store a new pair of two of the tenant's instances, and the ages declared for them."""
    async with pool.acquire() as conn, conn.transaction():
        a = await _instance(conn, tenant.id, body.instance_a)
        b = await _instance(conn, tenant.id, body.instance_b)
        if a.id == b.id:
            raise _invalid("same_instance", "a pair needs two different instances")
        await _check_persona(conn, tenant.id, body.persona_a)
        await _check_persona(conn, tenant.id, body.persona_b)
        values = {
            "name": f"{a.name} <-> {b.name}",
            "time_zone": tenant.time_zone,
            "windows": [],
            "min_delay_s": DEFAULT_MIN_GAP_MINUTES * 60,
            "jitter_s": DEFAULT_JITTER_MINUTES * 60,
            **_columns(body, body.model_fields_set),
            "instance_a_id": a.id,
            "instance_b_id": b.id,
        }
        try:
            pair_id = await repository.insert_pair(conn, tenant.id, values)
        except PairExistsError:
            raise _pair_exists() from None
        for instance, age in ((a, body.age_a_days), (b, body.age_b_days)):
            if age is not None:
                await repository.declare_age(conn, tenant.id, instance.id, age)
    return pair_id


async def update_pair(pool: Pool, tenant: Tenant, pair_id: uuid.UUID, body: PairUpdate) -> None:
    """Change what was given; `not_found` for another tenant's (or a deleted) pair."""
    async with pool.acquire() as conn, conn.transaction():
        pair = await repository.get_pair(conn, tenant.id, pair_id)
        if pair is None:
            raise not_found("warmup_pair")
        await _check_persona(conn, tenant.id, body.persona_a)
        await _check_persona(conn, tenant.id, body.persona_b)
        changes = _columns(body, body.model_fields_set)
        if body.active is not None:
            changes["active"] = body.active
        await repository.update_pair(conn, tenant.id, pair_id, changes)
        for number, age in ((pair.a, body.age_a_days), (pair.b, body.age_b_days)):
            if age is not None:
                await repository.declare_age(conn, tenant.id, number.id, age)


async def set_active(pool: Pool, tenant: Tenant, pair_id: uuid.UUID, *, active: bool) -> None:
    """Pause or resume a pair (a round in progress ends at its next step when paused)."""
    async with pool.acquire() as conn, conn.transaction():
        if not await repository.update_pair(conn, tenant.id, pair_id, {"active": active}):
            raise not_found("warmup_pair")
