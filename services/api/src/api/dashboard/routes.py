"""The dashboard's router: pages, sign-in, the scripts' routes and the static files.

`app.py` includes it once. Its lifespan opens the session store's Redis client after
the api's own start-up (which built the context it reads) and closes it first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, Response

from api.context import ApiContext
from api.dashboard import campaign_pages, metrics_pages, pages, script_routes, signin, warmup_pages
from api.dashboard.rendering import SECURITY_HEADERS, STATIC_PREFIX, static_files
from api.dashboard.sessions import SessionStore
from api.redis_connections import fast_failing_redis

# A session lookup slower than this fails (the page says so) instead of hanging.
SESSION_REDIS_TIMEOUT_S = 1.0


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    context: ApiContext = app.state.context
    redis = fast_failing_redis(context.settings.redis, timeout_s=SESSION_REDIS_TIMEOUT_S)
    app.state.dashboard_sessions = SessionStore(redis, key_prefix=context.settings.redis.key_prefix)
    try:
        yield
    finally:
        await redis.aclose()


router = APIRouter(lifespan=_lifespan, include_in_schema=False)


@router.get(STATIC_PREFIX + "{name}")
async def static_file(name: str, request: Request) -> Response:
    """A stylesheet or script of the dashboard (versioned URLs are cached for good)."""
    found = static_files().get(name)
    if found is None:
        return Response("not found", status_code=404, media_type="text/plain", headers=SECURITY_HEADERS)
    versioned = request.query_params.get("v") == found.version
    cache = "public, max-age=31536000, immutable" if versioned else "no-cache"
    return FileResponse(
        found.path, media_type=found.media_type, headers={**SECURITY_HEADERS, "Cache-Control": cache}
    )


router.include_router(signin.router)
router.include_router(script_routes.router)
router.include_router(pages.router)
router.include_router(campaign_pages.router)
router.include_router(warmup_pages.router)
router.include_router(metrics_pages.router)
