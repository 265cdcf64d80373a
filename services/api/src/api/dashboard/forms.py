"""Reading the dashboard's HTML form posts (URL-encoded, small) without a multipart parser."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from api.errors import ApiError

# A persona's 8000-character prompt, percent-encoded, fits with room to spare.
MAX_FORM_BYTES = 128 * 1024


async def form_fields(request: Request) -> dict[str, str]:
    """The posted fields (the last value of a repeated name wins)."""
    return {name: values[-1] for name, values in (await form_values(request)).items()}


async def form_values(request: Request) -> dict[str, list[str]]:
    """Every posted value of every field (checkbox groups repeat a name)."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise ApiError(415, "unsupported_media_type", "a form post is expected")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise ApiError(413, "payload_too_large", "the form is too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as error:
        raise ApiError(400, "bad_request", "the form cannot be read") from error
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(name, []).append(value)
    return values
