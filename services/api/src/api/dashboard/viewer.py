"""Who is looking at the dashboard: the session cookie resolved to a tenant, or nobody."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

import structlog
from fastapi import Depends, Request
from redis.exceptions import RedisError

from api.context import ApiContext
from api.dashboard.sessions import SESSION_COOKIE, DashboardSession, SessionStore
from api.dependencies import Context
from api.errors import ApiError
from api.tenants import repository as tenants
from api.tenants.repository import Tenant

log = structlog.get_logger(__name__)

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class Viewer:
    """A signed-in browser: its tenant and session."""

    tenant: Tenant
    session: DashboardSession
    session_id: str


class SessionsUnavailableError(Exception):
    """The session store (Redis) does not answer."""


def session_store(request: Request) -> SessionStore:
    """The process's session store (opened by the dashboard router's lifespan)."""
    store: SessionStore = request.app.state.dashboard_sessions
    return store


async def find_viewer(request: Request, context: ApiContext) -> Viewer | None:
    """The signed-in tenant of this request, if its session and API key are still live."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    store = session_store(request)
    try:
        session = await store.find(session_id)
    except RedisError as error:
        log.warning("dashboard session store unavailable", error=str(error)[:200])
        raise SessionsUnavailableError from error
    if session is None:
        return None
    # The api's own key check: a key revoked since sign-in ends the session now.
    found = await tenants.tenant_by_key_hash(context.pool, session.key_hash)
    if found is None or found[0].id != session.tenant_id:
        await store.end(session_id)
        return None
    return Viewer(tenant=found[0], session=session, session_id=session_id)


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site (`Origin`/`Referer`)."""
    host = request.headers.get("host", "")
    for header in ("origin", "referer"):
        value = request.headers.get(header)
        if value:
            return value != "null" and urlsplit(value).netloc == host
    return True


def csrf_ok(viewer: Viewer, presented: str | None) -> bool:
    """The session's CSRF token was presented (constant-time comparison)."""
    return bool(presented) and secrets.compare_digest(
        str(presented).encode(), viewer.session.csrf_token.encode()
    )


async def _signed_in(request: Request, context: Context) -> Viewer:
    try:
        viewer = await find_viewer(request, context)
    except SessionsUnavailableError:
        raise ApiError(503, "sessions_unavailable", "the session store does not answer") from None
    if viewer is None:
        raise ApiError(401, "unauthorized", "sign in to the dashboard first")
    if request.method not in {"GET", "HEAD"} and not (
        same_origin(request) and csrf_ok(viewer, request.headers.get(CSRF_HEADER))
    ):
        raise ApiError(403, "forbidden", "missing or wrong CSRF token")
    return viewer


SignedIn = Annotated[Viewer, Depends(_signed_in)]
"""The signed-in viewer of a script request (401 without a session, 403 without the CSRF token)."""
