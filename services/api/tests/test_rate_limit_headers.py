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


class _FlakyRedis:
    """A Redis whose script fails while `failing` and admits otherwise; counts the calls."""

    def __init__(self) -> None:
        self.failing = True
        self.calls = 0

    def register_script(self, script: str) -> object:
        async def run(*, keys: list[str], args: list[object]) -> list[int]:
            self.calls += 1
            if self.failing:
                raise TimeoutError("Timeout reading from socket")
            return [1, 49, 60_000, 1_764_309_600_000]

        return run


async def test_one_slow_answer_does_not_switch_limiting_off() -> None:
    redis = _FlakyRedis()
    settings = RateLimitSettings(breaker_failures=3, breaker_open_s=60)
    limiter = RateLimiter(redis, settings, key_prefix="", metrics=ApiMetrics())  # type: ignore[arg-type]
    tenant = uuid.uuid4()
    assert await limiter.check(tenant, "GET /x") is None
    assert await limiter.check(tenant, "GET /x") is None
    redis.failing = False
    decided = await limiter.check(tenant, "GET /x")
    assert decided is not None
    assert decided.admitted
    # A success resets the count: two more failures still ask Redis every time.
    redis.failing = True
    for _ in range(2):
        assert await limiter.check(tenant, "GET /x") is None
    assert redis.calls == 5


async def test_failures_in_a_row_skip_redis_for_a_while() -> None:
    redis = _FlakyRedis()
    metrics = ApiMetrics()
    settings = RateLimitSettings(breaker_failures=3, breaker_open_s=60)
    limiter = RateLimiter(redis, settings, key_prefix="", metrics=metrics)  # type: ignore[arg-type]
    for _ in range(10):
        assert await limiter.check(uuid.uuid4(), "GET /x") is None
    assert redis.calls == 3
    assert metrics.registry.get_sample_value("mirage_api_rate_limit_fail_open_total") == 10
