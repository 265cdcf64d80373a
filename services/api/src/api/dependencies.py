"""The `Annotated` dependency aliases every route uses, defined once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.context import ApiContext
from api.errors import ApiError
from api.ratelimit.limiter import endpoint_name
from api.ratelimit.response_headers import remember
from api.tenants.repository import Tenant
from api.tenants.service import authenticate
from database import Pool

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="BearerAuth",
    description="`Authorization: Bearer <API key>` (keys look like `mrg_live_…`).",
)
_api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="ApiKeyHeader",
    description="The same API key in an `X-API-Key` header.",
)


def _context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


Context = Annotated[ApiContext, Depends(_context)]


def _pool(context: Context) -> Pool:
    return context.pool


DatabasePool = Annotated[Pool, Depends(_pool)]


async def _tenant(
    context: Context,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_api_key_header)],
) -> Tenant:
    secret = bearer.credentials if bearer is not None else header_key
    if not secret:
        raise ApiError(
            401,
            "unauthorized",
            "an API key is required (Authorization: Bearer <key> or X-API-Key)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    tenant = await authenticate(context.pool, secret.strip())
    if tenant is None:
        raise ApiError(
            401, "unauthorized", "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    return tenant


CurrentTenant = Annotated[Tenant, Depends(_tenant)]


async def _enforce_rate_limit(request: Request, context: Context, tenant: CurrentTenant) -> None:
    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)
    endpoint = endpoint_name(request.method, template)
    decision = await context.limiter.check(tenant.id, endpoint)
    if decision is None:
        return
    remember(request.scope, decision)
    if not decision.admitted:
        raise ApiError(
            429,
            "rate_limited",
            f"rate limit of {decision.limit} requests per {decision.window_s}s reached for {endpoint}",
            headers=decision.headers(),
        )


# Router-level dependencies of every authenticated route: the API key, then the rate limit.
AUTHENTICATED = [Depends(_enforce_rate_limit)]
