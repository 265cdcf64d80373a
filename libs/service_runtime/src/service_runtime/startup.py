"""Fail fast at start-up with one line that names the setting to fix."""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from pydantic import ValidationError

EXIT_CONFIGURATION = 2


class StartupError(Exception):
    """A dependency or a setting keeps the service from starting.

    `setting` names the environment variable(s) an operator should check.
    """

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.setting = setting

    def __str__(self) -> str:
        return f"{self.message} (check {self.setting})" if self.setting else self.message


def _settings_error_line(error: ValidationError, env_prefix: str) -> str:
    problems = []
    for item in error.errors():
        path = "__".join(str(part).upper() for part in item["loc"])
        problems.append(f"{env_prefix}{path}: {item['msg']}")
    return "invalid settings: " + "; ".join(problems)


def _fail(service: str, line: str) -> NoReturn:
    print(f"{service}: cannot start: {line}", file=sys.stderr)  # noqa: T201
    raise SystemExit(EXIT_CONFIGURATION)


def run_service(
    service: str,
    main: Callable[[], Coroutine[Any, Any, None]],
    *,
    env_prefix: str = "MIRAGE_",
) -> None:
    """Run `main` on uvloop; configuration and start-up failures end in one stderr line."""
    try:
        import uvloop  # noqa: PLC0415  (optional speed-up, imported only to run)

        uvloop.run(main())
    except StartupError as error:
        _fail(service, str(error))
    except ValidationError as error:
        _fail(service, _settings_error_line(error, env_prefix))
    except KeyboardInterrupt:
        pass
