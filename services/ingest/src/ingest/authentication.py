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
import time
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


class JwtVerifier:
    """Verifies Evolution's webhook JWTs; a token already verified is trusted until it expires.

    Evolution signs a token per call with a one-second `iat`, so a busy instance sends
    the same token many times a second: checking its signature once saves the HMAC and
    JSON work for the rest. The cache is keyed by secret and token, bounded, and an
    entry is only ever a token whose signature and expiry were checked.
    """

    def __init__(self, leeway_s: float, max_entries: int = 10_000) -> None:
        self.leeway_s = leeway_s
        self.max_entries = max_entries
        self._verified: dict[tuple[str, str], float] = {}

    def verify(self, authorization: str, secret: str) -> AuthResult:
        """Check `Authorization: Bearer <JWT>` against the instance's secret."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return AuthResult.MISSING
        key = (secret, token)
        expires = self._verified.get(key)
        if expires is not None:
            if time.time() <= expires + self.leeway_s:
                return AuthResult.OK
            del self._verified[key]
            return AuthResult.EXPIRED
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                options={"require": ["exp", "iat"]},
                leeway=self.leeway_s,
            )
        except jwt.ExpiredSignatureError:
            return AuthResult.EXPIRED
        except jwt.PyJWTError:
            return AuthResult.INVALID
        if len(self._verified) >= self.max_entries:
            self._verified.clear()
        self._verified[key] = float(claims["exp"])
        return AuthResult.OK


def authenticate(
    mode: AuthMode,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret_header: str,
    jwt_verifier: JwtVerifier,
    allow_unauthenticated: bool,
) -> AuthResult:
    """Check one call's credentials against the instance's secret."""
    match mode:
        case AuthMode.JWT:
            return jwt_verifier.verify(headers.get("authorization", ""), secret)
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
