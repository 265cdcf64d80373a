"""Webhook authentication: JWT, static header, HMAC; constant-time; replay-safe."""

from __future__ import annotations

import hashlib
import hmac
import time

import jwt

from ingest.authentication import AuthMode, AuthResult, JwtVerifier, authenticate

SECRET = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t!"
BODY = b'{"event":"messages.upsert"}'


def _check(
    mode: AuthMode, headers: dict[str, str], *, allow: bool = False, secret: str = SECRET
) -> AuthResult:
    return authenticate(
        mode,
        secret,
        headers,
        BODY,
        secret_header="X-Mirage-Webhook-Secret",
        jwt_verifier=JwtVerifier(leeway_s=0),
        allow_unauthenticated=allow,
    )


def _evolution_jwt(secret: str = SECRET, issued: float | None = None) -> str:
    iat = int(issued if issued is not None else time.time())
    return jwt.encode(
        {"iat": iat, "exp": iat + 600, "app": "evolution", "action": "webhook"}, secret, "HS256"
    )


def test_a_fresh_evolution_jwt_passes() -> None:
    assert _check(AuthMode.JWT, {"authorization": f"Bearer {_evolution_jwt()}"}) is AuthResult.OK


def test_a_replayed_old_jwt_fails_as_expired() -> None:
    old = _evolution_jwt(issued=time.time() - 3600)
    assert _check(AuthMode.JWT, {"authorization": f"Bearer {old}"}) is AuthResult.EXPIRED


def test_a_jwt_signed_with_another_key_fails() -> None:
    forged = _evolution_jwt(secret="another-secret-another-secret-12345")
    assert _check(AuthMode.JWT, {"authorization": f"Bearer {forged}"}) is AuthResult.INVALID


def test_a_missing_or_malformed_authorization_fails() -> None:
    assert _check(AuthMode.JWT, {}) is AuthResult.MISSING
    assert _check(AuthMode.JWT, {"authorization": "Basic abc"}) is AuthResult.MISSING
    assert _check(AuthMode.JWT, {"authorization": "Bearer not.a.jwt"}) is AuthResult.INVALID


def test_a_jwt_without_expiry_is_refused() -> None:
    token = jwt.encode({"iat": int(time.time())}, SECRET, "HS256")
    assert _check(AuthMode.JWT, {"authorization": f"Bearer {token}"}) is AuthResult.INVALID


def test_static_header() -> None:
    assert _check(AuthMode.HEADER, {"x-mirage-webhook-secret": SECRET}) is AuthResult.OK
    assert _check(AuthMode.HEADER, {"x-mirage-webhook-secret": "wrong"}) is AuthResult.INVALID
    assert _check(AuthMode.HEADER, {}) is AuthResult.MISSING


def test_hmac_of_the_raw_body() -> None:
    signature = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert _check(AuthMode.HMAC, {"x-hub-signature-256": f"sha256={signature}"}) is AuthResult.OK
    assert _check(AuthMode.HMAC, {"x-hub-signature-256": f"sha256={'0' * 64}"}) is AuthResult.INVALID
    assert _check(AuthMode.HMAC, {"x-hub-signature-256": signature}) is AuthResult.MISSING


def test_unauthenticated_mode_only_when_enabled() -> None:
    assert _check(AuthMode.NONE, {}) is AuthResult.DISABLED
    assert _check(AuthMode.NONE, {}, allow=True) is AuthResult.OK


def test_a_verified_token_is_remembered_until_it_expires_and_never_for_another_secret() -> None:
    verifier = JwtVerifier(leeway_s=0)
    token = _evolution_jwt()
    assert verifier.verify(f"Bearer {token}", SECRET) is AuthResult.OK
    assert verifier.verify(f"Bearer {token}", SECRET) is AuthResult.OK
    assert verifier.verify(f"Bearer {token}", "another-secret-another-secret-12345") is AuthResult.INVALID
    short = jwt.encode({"iat": int(time.time()) - 10, "exp": int(time.time()) + 1}, SECRET, "HS256")
    assert verifier.verify(f"Bearer {short}", SECRET) is AuthResult.OK
    verifier._verified[(SECRET, short)] = time.time() - 1  # the clock moved past its expiry
    assert verifier.verify(f"Bearer {short}", SECRET) is AuthResult.EXPIRED
