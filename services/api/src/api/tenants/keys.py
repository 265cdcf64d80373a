"""API keys: high-entropy random tokens with a short visible prefix, stored as SHA-256.

A key looks like `mrg_live_3tq8…` (43 random URL-safe characters after the prefix,
256 bits). Only its SHA-256 is stored: a fast hash is enough for a key this random
(no dictionary to try), and it lets every request find its key with one indexed
lookup. The first characters (`mrg_live_3tq8`) are kept in clear so operators can
tell keys apart in listings; the key itself is shown once, when issued.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

KEY_PREFIX = "mrg_live_"
# Characters of the key kept in clear for listings (the prefix plus four random ones).
VISIBLE_CHARS = len(KEY_PREFIX) + 4


@dataclass(frozen=True)
class NewKey:
    """A freshly generated key: the secret (shown once) and what is stored."""

    secret: str
    prefix: str
    key_hash: str


def hash_key(secret: str) -> str:
    """The stored form of a key: its SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8", errors="surrogatepass")).hexdigest()


def visible_prefix(secret: str) -> str:
    """The part of a key shown in listings."""
    return secret[:VISIBLE_CHARS]


def generate_key() -> NewKey:
    """A new random key."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewKey(secret=secret, prefix=visible_prefix(secret), key_hash=hash_key(secret))


def known_key(secret: str) -> NewKey:
    """A key whose secret is given by configuration (the demo tenant's)."""
    return NewKey(secret=secret, prefix=visible_prefix(secret), key_hash=hash_key(secret))
