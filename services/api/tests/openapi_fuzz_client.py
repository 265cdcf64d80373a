"""The schemathesis client of `test_openapi_schemathesis`, run as a process of its own.

Generating the cases (Hypothesis) costs about twice what serving them does; in the test's
process the two took turns on one interpreter lock. As a separate process the client runs
beside the served api on the second core.

Usage: `python openapi_fuzz_client.py <input.json>`; the input holds `document`, `base_url`,
`known` (path parameter values), `headers` and `examples`; prints `{"sent": n, "failures": [...]}`.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from testkit.fuzzing import fuzz_settings

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def strategies(document: dict[str, Any], base_url: str, known: dict[str, str]) -> list[tuple[str, Any]]:
    """A strategy per operation and generation mode, plus one with the tenant's real ids."""
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=base_url)
    built: list[tuple[str, Any]] = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        if operation.path == "/events":
            continue  # an endless stream; covered by its own tests
        built.extend(
            (f"{operation.label} [{mode.value}]", operation.as_strategy(generation_mode=mode))
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        )
        # Random ids mostly answer 404; the tenant's real ids reach the handlers behind them.
        names = {
            parameter["name"]
            for parameter in document["paths"][operation.path][operation.method.lower()].get("parameters", [])
            if parameter["in"] == "path"
        }
        if names and names <= set(known):
            fixed = {name: known[name] for name in names}
            built.append((f"{operation.label} [known ids]", operation.as_strategy(path_parameters=fixed)))
    return built


def fuzz(
    built: list[tuple[str, Any]], base_url: str, headers: dict[str, str], examples: int
) -> tuple[int, list[str]]:
    """Send every strategy's examples; returns (requests sent, failures)."""
    failures: list[str] = []
    sent = 0
    for label, strategy in built:

        @hypothesis.given(case=strategy)
        @fuzz_settings(max_examples=examples, derandomize=True)
        def exercise(case: Any) -> None:
            nonlocal sent
            response = case.call(base_url=base_url, headers=headers)
            sent += 1
            case.validate_response(response, checks=CHECKS, headers=headers)

        try:
            exercise()
        except hypothesis.errors.Unsatisfiable:
            pass  # nothing invalid can be generated for an operation without parameters
        except (Exception, BaseExceptionGroup) as error:  # collect every operation's failure
            failures.append(f"{label}: {type(error).__name__}: {error}"[:3000])
    return sent, failures


def main() -> None:
    # Schemathesis's own strategies trip this Hypothesis deprecation; it says nothing about the api.
    warnings.simplefilter("ignore", hypothesis.errors.HypothesisDeprecationWarning)
    given = json.loads(Path(sys.argv[1]).read_text())
    built = strategies(given["document"], given["base_url"], given["known"])
    sent, failures = fuzz(built, given["base_url"], given["headers"], given["examples"])
    sys.stdout.write(json.dumps({"sent": sent, "failures": failures}))


if __name__ == "__main__":
    main()
