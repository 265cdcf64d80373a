"""The webhook's security suite: forged, expired, replayed and wrong-algorithm JWTs, wrong header
secrets and HMACs all answer 401, are recorded, store no message and publish nothing; the error
bodies never echo a credential; both webhook routes refuse oversized bodies with 413."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import orjson
import pytest

from ingest.authentication import AuthMode, AuthResult, JwtVerifier, authenticate

from .test_webhook_integration import SECRET, Ingest, evolution_jwt, ingest, upsert

__all__ = ["ingest"]  # the fixture, imported to be used here

# A public key an attacker could know: the classic RS/HS confusion signs HS256 with it.
PUBLIC_PEM = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
    "4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u\n"
    "-----END PUBLIC KEY-----\n"
)


def _b64(part: bytes) -> str:
    return base64.urlsafe_b64encode(part).rstrip(b"=").decode()


def raw_token(header: dict[str, Any], claims: dict[str, Any], key: bytes | None, digest: Any = None) -> str:
    """A JWT built by hand, so any header (any `alg`) can be paired with any signature."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if key is None:
        return signing_input + "."
    signature = hmac.new(key, signing_input.encode(), digest or hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def fresh_claims(**changes: Any) -> dict[str, Any]:
    """What Evolution puts in its webhook JWT, now."""
    now = int(time.time())
    return {"iat": now, "exp": now + 600, "app": "evolution", "action": "webhook", **changes}


def bad_tokens() -> dict[str, str]:
    """Every way a bearer token must fail, by name."""
    now = int(time.time())
    secret = SECRET.encode()
    good = evolution_jwt()
    head, payload, signature = good.split(".")
    other_payload = _b64(json.dumps(fresh_claims(app="attacker")).encode())
    return {
        "alg_none": raw_token({"alg": "none", "typ": "JWT"}, fresh_claims(), None),
        "alg_None": raw_token({"alg": "None", "typ": "JWT"}, fresh_claims(), None),
        "alg_NONE_with_signature": raw_token({"alg": "NONE"}, fresh_claims(), secret),
        "hs512_with_the_right_secret": raw_token(
            {"alg": "HS512", "typ": "JWT"}, fresh_claims(), secret, hashlib.sha512
        ),
        "hs384_with_the_right_secret": raw_token(
            {"alg": "HS384", "typ": "JWT"}, fresh_claims(), secret, hashlib.sha384
        ),
        "rs256_header_hmac_signed": raw_token({"alg": "RS256", "typ": "JWT"}, fresh_claims(), secret),
        "es256_header_hmac_signed": raw_token({"alg": "ES256", "typ": "JWT"}, fresh_claims(), secret),
        "hs256_signed_with_a_public_key": raw_token(
            {"alg": "HS256", "typ": "JWT"}, fresh_claims(), PUBLIC_PEM.encode()
        ),
        "forged_with_another_secret": evolution_jwt(secret="not-the-instance-secret-0000000000"),
        "signed_with_an_empty_secret": raw_token({"alg": "HS256", "typ": "JWT"}, fresh_claims(), b""),
        "expired": evolution_jwt(issued=now - 700),
        "replayed_from_yesterday": evolution_jwt(issued=now - 86_400),
        "issued_in_the_future": raw_token(
            {"alg": "HS256", "typ": "JWT"}, fresh_claims(iat=now + 3600, exp=now + 4200), secret
        ),
        "not_yet_valid": raw_token({"alg": "HS256", "typ": "JWT"}, fresh_claims(nbf=now + 3600), secret),
        "without_expiry": raw_token({"alg": "HS256", "typ": "JWT"}, {"iat": now}, secret),
        "tampered_payload": f"{head}.{other_payload}.{signature}",
        "signature_stripped": f"{head}.{payload}.",
        "two_parts_only": f"{head}.{payload}",
        "garbage": "not-a-jwt-at-all",
        "the_secret_itself": SECRET,
    }


# ------------------------------------------------------------------------------------ unit level


@pytest.mark.parametrize("name", sorted(bad_tokens()))
def test_every_bad_token_fails_verification(name: str) -> None:
    token = bad_tokens()[name]
    result = JwtVerifier(leeway_s=30).verify(f"Bearer {token}", SECRET)
    assert result in {AuthResult.INVALID, AuthResult.EXPIRED, AuthResult.MISSING}, (name, result)


def test_a_rejected_token_is_never_remembered_as_verified() -> None:
    verifier = JwtVerifier(leeway_s=30)
    for token in bad_tokens().values():
        verifier.verify(f"Bearer {token}", SECRET)
    assert verifier._verified == {}
    # The good token still passes, so the refusals above are about the tokens.
    assert verifier.verify(f"Bearer {evolution_jwt()}", SECRET) is AuthResult.OK


@pytest.mark.parametrize(
    "given",
    [
        SECRET.upper(),
        SECRET[:-1],
        SECRET + "x",
        " " + SECRET,
        SECRET[: len(SECRET) // 2],
        "",
        "Bearer " + SECRET,
    ],
)
def test_a_wrong_header_secret_fails(given: str) -> None:
    result = authenticate(
        AuthMode.HEADER,
        SECRET,
        {"x-mirage-webhook-secret": given} if given else {},
        b"{}",
        secret_header="X-Mirage-Webhook-Secret",
        jwt_verifier=JwtVerifier(leeway_s=0),
        allow_unauthenticated=True,  # even in development, a configured secret is checked
    )
    assert result in {AuthResult.INVALID, AuthResult.MISSING}


# ------------------------------------------------------------------------------ through the app


async def refused(ingest: Ingest, response: Any, key_id: str, credential: str) -> str:
    """Assert a 401 that stored no message and echoes no credential; the recorded auth result."""
    assert response.status_code == 401, response.text
    assert credential not in response.text
    assert SECRET not in response.text
    row = await ingest.pool.fetchrow(
        "SELECT * FROM raw_events WHERE id = $1", response.json()["raw_event_id"]
    )
    assert row is not None
    assert row["http_status"] == 401
    assert row["auth_result"] in {"invalid", "expired", "missing"}
    stored = await ingest.pool.fetchval(
        "SELECT count(*) FROM messages WHERE instance_id = $1 AND provider_id = $2",
        ingest.instance_id,
        key_id,
    )
    assert stored == 0
    return str(row["auth_result"])


async def test_every_bad_jwt_is_401_recorded_and_stores_nothing(ingest: Ingest) -> None:
    key_id = uuid.uuid4().hex[:20].upper()
    document = ingest.envelope("messages.upsert", upsert(key_id=key_id))
    results: dict[str, str] = {}
    for name, token in bad_tokens().items():
        for path in ("/webhook/evolution", "/webhook/evolution/messages-upsert"):
            response = await ingest.post(document, token=token, path=path)
            results[name] = await refused(ingest, response, key_id, token)
    assert results["expired"] == "expired"
    assert results["replayed_from_yesterday"] == "expired"
    assert results["alg_none"] == "invalid"
    # No authorization at all, or the credential in the wrong header.
    body = orjson.dumps(document)
    for headers in ({}, {"x-mirage-webhook-secret": SECRET}, {"authorization": f"Basic {SECRET}"}):
        response = await ingest.client.post(
            "/webhook/evolution", content=body, headers={"content-type": "application/json", **headers}
        )
        assert await refused(ingest, response, key_id, SECRET) == "missing"
    # Nothing staged for Kafka either.
    staged = await ingest.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE payload::text LIKE '%' || $1 || '%'", key_id
    )
    assert staged == 0
    # The same body with a good token is accepted: the refusals were about the credentials.
    accepted = await ingest.post(document)
    assert accepted.status_code == 200, accepted.text


@pytest.mark.parametrize("mode", ["header", "hmac"])
async def test_wrong_header_secrets_and_signatures_are_401(ingest: Ingest, mode: str) -> None:
    name = f"sec-{uuid.uuid4().hex[:8]}"
    secret = f"per-instance-{uuid.uuid4().hex}"
    await ingest.pool.execute(
        "INSERT INTO instances (tenant_id, name, webhook_auth, webhook_secret, state)"
        " VALUES ($1, $2, $3, $4, 'open')",
        ingest.tenant_id,
        name,
        mode,
        secret,
    )
    key_id = uuid.uuid4().hex[:20].upper()
    body = orjson.dumps(ingest.envelope("messages.upsert", upsert(key_id=key_id), instance=name))
    good_hmac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if mode == "header":
        attempts = [
            {"x-mirage-webhook-secret": value} for value in (secret.upper(), secret[:-1], "x", SECRET)
        ]
        attempts.append({"authorization": f"Bearer {evolution_jwt(secret=secret)}"})  # the wrong scheme
        good = {"x-mirage-webhook-secret": secret}
    else:
        other_body = hmac.new(secret.encode(), body + b" ", hashlib.sha256).hexdigest()
        attempts = [
            {"x-hub-signature-256": f"sha256={other_body}"},
            {"x-hub-signature-256": f"sha256={'0' * 64}"},
            {"x-hub-signature-256": good_hmac},  # no `sha256=` prefix
            {"x-hub-signature-256": f"sha1={good_hmac}"},
            {"x-mirage-webhook-secret": secret},  # the wrong mechanism
        ]
        good = {"x-hub-signature-256": f"sha256={good_hmac}"}
    for headers in attempts:
        response = await ingest.client.post(
            "/webhook/evolution", content=body, headers={"content-type": "application/json", **headers}
        )
        assert response.status_code == 401, (headers, response.text)
        assert secret not in response.text
        assert await ingest.pool.fetchval("SELECT count(*) FROM messages WHERE provider_id = $1", key_id) == 0
    accepted = await ingest.client.post(
        "/webhook/evolution", content=body, headers={"content-type": "application/json", **good}
    )
    assert accepted.status_code == 200, accepted.text


async def test_both_webhook_routes_refuse_oversized_bodies_declared_or_streamed(ingest: Ingest) -> None:
    big = orjson.dumps(ingest.envelope("messages.upsert", upsert(text="x" * 70_000)))

    async def streamed() -> Any:
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    for path in ("/webhook/evolution", "/webhook/evolution/messages-upsert"):
        declared = await ingest.post(big, path=path)
        assert declared.status_code == 413, declared.text
        chunked = await ingest.client.post(
            path,
            content=streamed(),
            headers={"content-type": "application/json", "authorization": f"Bearer {evolution_jwt()}"},
        )
        assert chunked.status_code == 413, chunked.text
