"""Schemathesis, stateful: sequences of calls that follow OpenAPI links from the app's own route table.

The api's document gets one link from every creating operation (`POST /x` answering 201 with an
`id`) to every operation under `/x/{x_id}`: a new resource route is linked without editing this
file. Schemathesis also infers links of its own. Each scenario creates resources and then reads,
changes, acts on and deletes them through the links; every response must be below 500, match the
documented status codes, content types and schemas, a created resource must be readable and a
deleted one must stay gone.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)

from api.app import create_app
from api.settings import RateLimitPolicy, RateLimitSettings
from testkit.asgi import served

from .conftest import Stack, TenantKey

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

SCENARIOS = 25
# Successful calls on a created resource (a path with an `_id}`) the links must lead to.
MIN_FOLLOWED = 5
MIN_CALLS = 250
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    ensure_resource_availability,
    use_after_free,
]


def with_links(document: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The document with a link from each creating operation to each operation on what it created."""
    linked = copy.deepcopy(document)
    count = 0
    for collection, methods in linked["paths"].items():
        create = methods.get("post")
        if create is None or "{" in collection or "201" not in create["responses"]:
            continue
        for path, operations in linked["paths"].items():
            prefix = path.removeprefix(collection + "/")
            if prefix == path or not prefix.startswith("{"):
                continue
            name = prefix[1 : prefix.index("}")]
            for method, operation in operations.items():
                links = create["responses"]["201"].setdefault("links", {})
                links[f"{method}_{operation['operationId']}"] = {
                    "operationId": operation["operationId"],
                    "parameters": {name: "$response.body#/id"},
                }
                count += 1
    return linked, count


def run_machine(
    document: dict[str, Any], base_url: str, headers: dict[str, str]
) -> tuple[int, dict[str, int], list[str]]:
    """Run the state machine; returns the calls it made, the 2xx answers on ids by operation,
    and the failed checks.

    Failures are collected, not raised: the api's state moves on between runs, so Hypothesis
    replaying a failing scenario would draw differently and report only "flaky"."""
    loaded = schemathesis.openapi.from_dict(document)
    loaded.config.update(base_url=base_url)
    # `/events` never ends; the operational endpoints have no state to follow.
    schema = loaded.exclude(path_regex=r"^/(events|metrics|livez|readyz|health|asyncapi.*)$")
    base = schema.as_state_machine()
    calls = 0
    failures: list[str] = []
    # Successful calls on a created resource's id: only a followed link gets those.
    followed: dict[str, int] = {}

    class Machine(base):  # type: ignore[valid-type, misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers}

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **_: Any
        ) -> None:
            nonlocal calls
            calls += 1
            if "_id}" in case.operation.path and response.status_code < 300:
                followed[case.operation.label] = followed.get(case.operation.label, 0) + 1
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (Exception, BaseExceptionGroup) as error:  # collected, reported together
                failures.append(f"{case.operation.label}: {type(error).__name__}: {error}"[:2000])

    # The api's state moves on between scenarios, so Hypothesis may find a scenario's draws
    # inconsistent on a later run and stop with `Flaky`: like Schemathesis's own runner, start
    # again (with new draws) until enough calls were made. The draws are random: a run whose
    # scenarios seldom reached a created resource (3 follows in one full run) gets more
    # scenarios, a bounded number of times, before the test judges how many links were followed.
    restarts = runs = 0
    while (calls < MIN_CALLS or sum(followed.values()) < MIN_FOLLOWED) and restarts < 20 and runs < 5:
        runs += 1
        try:
            Machine.run(
                settings=hypothesis.settings(
                    max_examples=SCENARIOS,
                    stateful_step_count=8,
                    deadline=None,
                    database=None,
                    phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
            )
        except hypothesis.errors.Flaky:
            restarts += 1
    return calls, followed, failures


async def test_linked_call_sequences_get_no_5xx_and_match_the_schema(stack: Stack, tenant: TenantKey) -> None:
    settings = stack.api_settings(
        rate_limit=RateLimitSettings(default=RateLimitPolicy(limit=1_000_000, window_s=60))
    )
    app = create_app(settings)
    async with served(app) as url:
        async with httpx.AsyncClient(base_url=url, headers=tenant.headers, timeout=30) as client:
            document = (await client.get("/openapi.json")).json()
        linked, count = with_links(document)
        # Instances, personas, the blacklist, warm-up pairs and campaigns are all created through
        # the api and each has operations on what it created.
        assert count >= 20, count
        calls, followed, failures = await asyncio.to_thread(run_machine, linked, url, tenant.headers)
    assert failures == [], "\n\n".join(failures[:20])
    assert calls >= MIN_CALLS
    # The links were followed: resources the scenarios created were acted on (random ids only
    # ever answer 404). Which operations varies from run to run; that some always do does not.
    assert sum(followed.values()) >= MIN_FOLLOWED, followed
    assert len(followed) >= 2, followed
