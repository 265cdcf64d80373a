"""Rate-limit decisions and their headers (unit)."""

from __future__ import annotations

import uuid

from api.metrics import ApiMetrics
from api.ratelimit.limiter import Decision, RateLimiter, endpoint_name
from api.settings import RateLimitPolicy, RateLimitSettings


def decision(*, admitted: bool, remaining: int, reset_after_ms: int) -> Decision:
    return Decision(
        admitted=admitted,
        policy_name="default",
        limit=50,
        window_s=60,
        remaining=remaining,
        reset_after_ms=reset_after_ms,
        now_ms=1_764_309_600_000,
    )


def test_headers_within_the_limit() -> None:
    headers = decision(admitted=True, remaining=49, reset_after_ms=59_500).headers()
    assert headers == {
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "49",
        "X-RateLimit-Reset": "1764309660",
        "RateLimit-Policy": '"default";q=50;w=60',
        "RateLimit": '"default";r=49;t=60',
    }


def test_headers_over_the_limit_add_retry_after() -> None:
    headers = decision(admitted=False, remaining=0, reset_after_ms=1_200).headers()
    assert headers["X-RateLimit-Remaining"] == "0"
    assert headers["Retry-After"] == "2"
    assert headers["X-RateLimit-Reset"] == "1764309602"
    assert headers["RateLimit"] == '"default";r=0;t=2'
    # Never "retry after 0 seconds" while limited.
    assert decision(admitted=False, remaining=0, reset_after_ms=0).headers()["Retry-After"] == "1"


def test_endpoints_are_method_and_route_template() -> None:
    assert endpoint_name("get", "/instances/{instance_id}") == "GET /instances/{instance_id}"


class _NoRedis:
    def register_script(self, script: str) -> object:
        return object()


def test_per_endpoint_policies_override_the_default() -> None:
    settings = RateLimitSettings(endpoints={"POST /instances": RateLimitPolicy(limit=5, window_s=10)})
    limiter = RateLimiter(_NoRedis(), settings, key_prefix="p:", metrics=ApiMetrics())  # type: ignore[arg-type]
    assert limiter.policy_for("POST /instances") == ("POST /instances", RateLimitPolicy(limit=5, window_s=10))
    assert limiter.policy_for("GET /instances") == ("default", settings.default)
    tenant = uuid.UUID(int=7)
    assert limiter.key(tenant, "GET /instances") == f"p:rate_limit:{tenant}:GET /instances"


async def test_disabled_limits_make_no_decision() -> None:
    limiter = RateLimiter(_NoRedis(), RateLimitSettings(enabled=False), key_prefix="", metrics=ApiMetrics())  # type: ignore[arg-type]
    assert await limiter.check(uuid.uuid4(), "GET /x") is None
