"""Sign-in and sign-out: an API key in, a server-side session cookie out."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from redis.exceptions import RedisError

from api.dashboard.forms import form_fields
from api.dashboard.i18n import Translator, language_of
from api.dashboard.rendering import SECURITY_HEADERS, remember_language, render
from api.dashboard.sessions import SESSION_COOKIE
from api.dashboard.viewer import (
    CSRF_FIELD,
    SessionsUnavailableError,
    csrf_ok,
    find_viewer,
    same_origin,
    session_store,
)
from api.dependencies import Context
from api.tenants.keys import hash_key
from api.tenants.service import authenticate

router = APIRouter(include_in_schema=False)

LOGIN_PATH = "/ui/login"


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a local page only (never another site, never a script route)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if value.startswith(("/ui/api/", "/ui/static/", LOGIN_PATH)):
        return "/"
    return value


def to_login(request: Request) -> RedirectResponse:
    """Send a signed-out browser to the sign-in page, coming back here afterwards."""
    here = request.url.path
    target = f"{LOGIN_PATH}?{urlencode({'next': here})}" if here != "/" else LOGIN_PATH
    response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
    remember_language(request, response)
    return response


def _login_page(request: Request, *, error: str | None, next_page: str, status_code: int = 200) -> Response:
    notice = None
    t = Translator(language_of(request))
    if request.query_params.get("signed_out"):
        notice = t("login.signed_out")
    return render(
        request,
        "login.html",
        viewer=None,
        status_code=status_code,
        values={"error": error, "next": next_page, "notice": notice},
    )


@router.get(LOGIN_PATH)
async def login_page(request: Request, context: Context) -> Response:
    """The sign-in form (a signed-in browser goes straight on)."""
    next_page = safe_next(request.query_params.get("next"))
    try:
        if await find_viewer(request, context) is not None:
            return RedirectResponse(next_page, status_code=303)
    except SessionsUnavailableError:
        pass
    return _login_page(request, error=None, next_page=next_page)


@router.post(LOGIN_PATH)
async def login(request: Request, context: Context) -> Response:
    """Check the API key with the api's own authentication and open a session."""
    t = Translator(language_of(request))
    if not same_origin(request):
        return _login_page(request, error=t("login.cross_site"), next_page="/", status_code=403)
    fields = await form_fields(request)
    next_page = safe_next(fields.get("next"))
    secret = fields.get("api_key", "").strip()
    if not secret:
        return _login_page(request, error=t("login.empty"), next_page=next_page, status_code=422)
    tenant = await authenticate(context.pool, secret)
    if tenant is None:
        return _login_page(request, error=t("login.invalid"), next_page=next_page, status_code=401)
    try:
        session_id, _ = await session_store(request).create(tenant.id, hash_key(secret))
    except RedisError:
        return _login_page(request, error=t("login.unavailable"), next_page=next_page, status_code=503)
    response = RedirectResponse(next_page, status_code=303, headers=SECURITY_HEADERS)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    remember_language(request, response)
    return response


@router.post("/ui/logout")
async def logout(request: Request, context: Context) -> Response:
    """End the session (the cookie is worthless from now on) and go back to the sign-in page."""
    try:
        viewer = await find_viewer(request, context)
    except SessionsUnavailableError:
        viewer = None
    if viewer is not None:
        fields = await form_fields(request)
        if not (same_origin(request) and csrf_ok(viewer, fields.get(CSRF_FIELD))):
            return Response(status_code=403, headers=SECURITY_HEADERS)
        await session_store(request).end(viewer.session_id)
    response = RedirectResponse(f"{LOGIN_PATH}?signed_out=1", status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
