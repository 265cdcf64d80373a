"""API keys: random, prefixed, hashed (unit)."""

from __future__ import annotations

import hashlib

from api.tenants.keys import KEY_PREFIX, generate_key, hash_key, known_key, visible_prefix


def test_keys_are_random_prefixed_and_stored_as_sha256() -> None:
    keys = [generate_key() for _ in range(200)]
    assert len({key.secret for key in keys}) == 200
    for key in keys:
        assert key.secret.startswith(KEY_PREFIX)
        # 32 random bytes, URL-safe base64: 43 characters after the prefix.
        assert len(key.secret) == len(KEY_PREFIX) + 43
        assert key.key_hash == hashlib.sha256(key.secret.encode()).hexdigest()
        assert key.prefix == key.secret[: len(KEY_PREFIX) + 4]
        assert key.secret not in (key.prefix, key.key_hash)


def test_a_configured_key_is_hashed_the_same_way() -> None:
    demo = known_key("demo-key")
    assert demo.key_hash == hash_key("demo-key")
    assert demo.prefix == visible_prefix("demo-key") == "demo-key"
    assert hash_key("demo-key") != hash_key("demo-key ")
