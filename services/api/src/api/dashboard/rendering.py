"""Server-side rendering of dashboard pages: Jinja2 templates, static assets, security headers."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from api.dashboard.i18n import LANGUAGE_COOKIE, LANGUAGES, Translator, language_of, requested_language
from api.dashboard.navigation import NAVIGATION
from api.dashboard.viewer import Viewer

STATIC_PREFIX = "/ui/static/"
# Everything the pages load comes from this origin; QR codes are `data:` images. No inline
# script runs (the catalog subset is a JSON data block, which browsers never execute).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
# Pages show tenant data: never cached by the browser or a proxy.
PAGE_HEADERS = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
# Script messages every page gets; pages add their own prefixes.
_COMMON_SCRIPT_PREFIXES = ("common.", "error.", "live.")
_TIME_FORMATS = {"pt-BR": "%d/%m/%Y %H:%M", "en": "%Y-%m-%d %H:%M"}


def _package_dir(name: str) -> Path:
    return Path(str(resources.files("api.dashboard").joinpath(name)))


@cache
def templates() -> jinja2.Environment:
    """The template environment (autoescaping on, undefined names fail loudly)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_package_dir("templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True)
class StaticFile:
    """A file the dashboard serves, with the content hash that versions its URL."""

    path: Path
    version: str
    media_type: str


_MEDIA_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


@cache
def static_files() -> dict[str, StaticFile]:
    """Every servable static file by name (nothing outside this set is ever read)."""
    found: dict[str, StaticFile] = {}
    for path in sorted(_package_dir("static").iterdir()):
        if path.is_file() and path.suffix in _MEDIA_TYPES:
            version = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            found[path.name] = StaticFile(path=path, version=version, media_type=_MEDIA_TYPES[path.suffix])
    return found


def static_url(name: str) -> str:
    """The versioned URL of a static file (a new version is a new URL, so it can be cached for good)."""
    return f"{STATIC_PREFIX}{name}?v={static_files()[name].version}"


def formatter_for(translator: Translator, time_zone: str) -> Callable[[datetime | None], str]:
    """`when(datetime)`: a moment in the tenant's time zone, in the language's usual format."""
    zone = ZoneInfo(time_zone)
    pattern = _TIME_FORMATS.get(translator.language, _TIME_FORMATS["en"])

    def when(moment: datetime | None) -> str:
        if moment is None:
            return "—"
        return moment.astimezone(zone).strftime(pattern)

    return when


def remember_language(request: Request, response: Response) -> None:
    """Keep a `?lang=` choice for the rest of the browser session."""
    chosen = requested_language(request)
    if chosen is not None and request.cookies.get(LANGUAGE_COOKIE) != chosen:
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )


def render(
    request: Request,
    template: str,
    *,
    viewer: Viewer | None,
    active: str | None = None,
    status_code: int = 200,
    script_prefixes: Iterable[str] = (),
    values: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    """A full page (or a fragment when `template` starts with `_`) in the request's language."""
    translator = Translator(language_of(request))
    time_zone = viewer.tenant.time_zone if viewer is not None else "UTC"
    context: dict[str, Any] = {
        "t": translator,
        "viewer": viewer,
        "csrf_token": viewer.session.csrf_token if viewer is not None else "",
        "navigation": NAVIGATION,
        "languages": LANGUAGES,
        "active": active,
        "notice": None,
        "static": static_url,
        "when": formatter_for(translator, time_zone),
        "script_messages": {
            key: value
            for prefix in (*_COMMON_SCRIPT_PREFIXES, *script_prefixes)
            for key, value in translator.subset(prefix).items()
        },
    }
    context.update(values or {})
    body = templates().get_template(template).render(context)
    response = HTMLResponse(body, status_code=status_code, headers=PAGE_HEADERS)
    remember_language(request, response)
    return response
