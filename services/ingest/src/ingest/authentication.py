"""Who may call the webhook: per-instance secrets checked in constant time.

Evolution API does not sign bodies (evolution-api.md §3). Mirage configures each
instance's webhook itself, with a per-instance secret, in one of three forms:

- `jwt`: Evolution's `jwt_key` header option — it sends `Authorization: Bearer <JWT>`
  (HS256, `exp = iat + 600`). Signature and expiry are checked, so a replayed
  old token fails.
- `header`: a static secret header (`X-Mirage-Webhook-Secret` by default).
- `hmac`: `X-Hub-Signature-256: sha256=<hex>` over the raw body, for gateways that sign.

`none` is accepted only when unauthenticated webhooks are explicitly enabled for
local development.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from enum import StrEnum

import jwt


class AuthResult(StrEnum):
    """The outcome of authenticating one webhook call (stored on the raw event)."""

    OK = "ok"
    MISSING = "missing"
    INVALID = "invalid"
    EXPIRED = "expired"
    UNKNOWN_INSTANCE = "unknown_instance"
    NOT_ATTEMPTED = "not_attempted"
    DISABLED = "disabled"


class AuthMode(StrEnum):
    """How an instance's webhook proves it is Evolution calling."""

    JWT = "jwt"
    HEADER = "header"
    HMAC = "hmac"
    NONE = "none"


HMAC_HEADER = "x-hub-signature-256"


def authenticate(
    mode: AuthMode,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret_header: str,
    jwt_leeway_s: float,
    allow_unauthenticated: bool,
) -> AuthResult:
    """Check one call's credentials against the instance's secret."""
    match mode:
        case AuthMode.JWT:
            return _check_jwt(headers.get("authorization", ""), secret, jwt_leeway_s)
        case AuthMode.HEADER:
            given = headers.get(secret_header.lower())
            if not given:
                return AuthResult.MISSING
            return AuthResult.OK if _same(given, secret) else AuthResult.INVALID
        case AuthMode.HMAC:
            given = headers.get(HMAC_HEADER, "")
            if not given.startswith("sha256="):
                return AuthResult.MISSING
            expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            return AuthResult.OK if _same(given[7:].lower(), expected) else AuthResult.INVALID
        case AuthMode.NONE:
            return AuthResult.OK if allow_unauthenticated else AuthResult.DISABLED


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _check_jwt(authorization: str, secret: str, leeway_s: float) -> AuthResult:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return AuthResult.MISSING
    try:
        jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["exp", "iat"]},
            leeway=leeway_s,
        )
    except jwt.ExpiredSignatureError:
        return AuthResult.EXPIRED
    except jwt.PyJWTError:
        return AuthResult.INVALID
    return AuthResult.OK
