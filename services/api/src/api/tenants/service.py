"""Tenant and API key operations (used by the `mirage-admin` CLI, start-up seeding and requests)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from api.domain_errors import DomainError, ErrorKind
from api.tenants import repository
from api.tenants.keys import generate_key, hash_key
from api.tenants.repository import ApiKey, SlugTakenError, Tenant
from database import Pool

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
# A key's `last_used_at` is refreshed at most this often (each refresh is a write).
KEY_TOUCH_INTERVAL_S = 60.0


@dataclass(frozen=True)
class IssuedKey:
    """A key just issued: the stored record and the secret, shown this once."""

    key: ApiKey
    secret: str


def check_time_zone(time_zone: str) -> str:
    """`time_zone` when it is an IANA zone name, else a DomainError."""
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise DomainError(
            ErrorKind.INVALID, "invalid_time_zone", f"{time_zone!r} is not an IANA time zone"
        ) from error
    return time_zone


async def create_tenant(pool: Pool, slug: str, name: str, time_zone: str = "America/Sao_Paulo") -> Tenant:
    """Create a tenant with a unique lower-case slug."""
    if not _SLUG.fullmatch(slug):
        raise DomainError(
            ErrorKind.INVALID,
            "invalid_slug",
            "a slug is 1-64 lower-case letters, digits and inner hyphens",
        )
    if not name.strip():
        raise DomainError(ErrorKind.INVALID, "invalid_name", "the name must not be blank")
    check_time_zone(time_zone)
    async with pool.acquire() as conn:
        try:
            return await repository.insert_tenant(conn, slug, name.strip(), time_zone)
        except SlugTakenError:
            raise DomainError(ErrorKind.CONFLICT, "slug_taken", f"a tenant {slug!r} exists") from None


async def find_tenant(pool: Pool, slug: str) -> Tenant:
    """The tenant with `slug`."""
    tenant = await repository.tenant_by_slug(pool, slug)
    if tenant is None:
        raise DomainError(ErrorKind.NOT_FOUND, "tenant_not_found", f"no tenant {slug!r}")
    return tenant


async def issue_key(pool: Pool, tenant_id: uuid.UUID, name: str = "default") -> IssuedKey:
    """A new live key for the tenant."""
    new = generate_key()
    async with pool.acquire() as conn:
        key = await repository.insert_key(conn, tenant_id, name, new.prefix, new.key_hash)
    return IssuedKey(key=key, secret=new.secret)


async def rotate_key(pool: Pool, key_id: uuid.UUID) -> IssuedKey:
    """Replace a live key: a new key with the same name, the old one revoked, atomically."""
    new = generate_key()
    async with pool.acquire() as conn, conn.transaction():
        old = await repository.key_by_id(conn, key_id)
        if old is None:
            raise DomainError(ErrorKind.NOT_FOUND, "key_not_found", f"no key {key_id}")
        if old.revoked_at is not None:
            raise DomainError(ErrorKind.CONFLICT, "key_revoked", "a revoked key cannot be rotated")
        await repository.revoke_key(conn, key_id)
        key = await repository.insert_key(conn, old.tenant_id, old.name, new.prefix, new.key_hash)
    return IssuedKey(key=key, secret=new.secret)


async def revoke_key(pool: Pool, key_id: uuid.UUID) -> ApiKey:
    """Revoke a key; requests with it are refused from now on."""
    async with pool.acquire() as conn:
        key = await repository.revoke_key(conn, key_id)
    if key is None:
        raise DomainError(ErrorKind.NOT_FOUND, "key_not_found", f"no key {key_id}")
    return key


async def list_keys(pool: Pool, tenant_id: uuid.UUID) -> list[ApiKey]:
    """The tenant's keys (prefixes only), newest first."""
    return await repository.list_keys(pool, tenant_id)


async def authenticate(pool: Pool, secret: str) -> Tenant | None:
    """The tenant a presented key belongs to, if the key is live."""
    found = await repository.tenant_by_key_hash(pool, hash_key(secret))
    if found is None:
        return None
    tenant, key_id, last_used_at = found
    stale_before = datetime.now(UTC) - timedelta(seconds=KEY_TOUCH_INTERVAL_S)
    if last_used_at is None or last_used_at < stale_before:
        await repository.touch_key(pool, key_id, KEY_TOUCH_INTERVAL_S)
    return tenant
