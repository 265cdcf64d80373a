"""Evolution's wire conventions: orjson responses, the error shape, bodies and schema checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

import orjson
from fastapi import Request
from starlette.responses import Response

JsonKind = Literal["string", "boolean", "integer", "number", "object", "array"]


class JsonResponse(Response):
    """A JSON response rendered by orjson (the hot path answers hundreds per second)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialise with orjson."""
        return orjson.dumps(content)


def reason_phrase(status: int) -> str:
    """`Bad Request`, `Not Found`, … for a status code."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class EvolutionError(Exception):
    """An error answered in Evolution's shape `{status, error, response:{message}}`."""

    def __init__(self, status: int, message: Any) -> None:
        super().__init__(f"{status}: {message!r}")
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        """The JSON body Evolution's error middleware writes."""
        return {
            "status": self.status,
            "error": reason_phrase(self.status),
            "response": {"message": self.message},
        }

    def response(self) -> JsonResponse:
        """The HTTP response for this error."""
        return JsonResponse(self.body(), status_code=self.status)


# Evolution's exception classes keep their constructor arguments as an array
# (`new BadRequestException(a, b)` → `message: [a, b]`); only Unauthorized is a string.
def bad_request(*messages: Any) -> EvolutionError:
    """400 with Evolution's array message."""
    return EvolutionError(400, list(messages))


def schema_error(problems: Sequence[str]) -> EvolutionError:
    """400 for a JSON-schema failure: Evolution nests the list of problems in an array."""
    return EvolutionError(400, [list(problems)])


def unauthorized() -> EvolutionError:
    """401 exactly as Evolution's auth guard answers it."""
    return EvolutionError(401, "Unauthorized")


def instance_not_found(name: str) -> EvolutionError:
    """404 from Evolution's instance-exists guard."""
    return EvolutionError(404, [f'The "{name}" instance does not exist'])


def route_not_found(method: str, path_and_query: str) -> EvolutionError:
    """404 from Express's fall-through handler."""
    return EvolutionError(404, [f"Cannot {method.upper()} {path_and_query}"])


async def json_body(request: Request) -> Any:
    """The parsed JSON body; an empty body is `{}` (as Express's json parser gives)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise bad_request(f"Invalid JSON body: {error}") from None


@dataclass(frozen=True)
class Prop:
    """One property of a JSON-schema-like object check."""

    name: str
    kind: JsonKind
    required: bool = False
    enum: tuple[str, ...] | None = None
    non_empty: bool = False
    # Evolution replaces the validator's message with a property's `description`.
    description: str | None = None


def is_kind(value: Any, kind: JsonKind) -> bool:
    """JSON-schema type test (booleans are not integers)."""
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    return isinstance(value, list)


def check_object(value: Any, props: Sequence[Prop], path: str = "") -> list[str]:
    """Problems with `value`, worded like the `jsonschema` messages Evolution returns."""
    # Evolution strips the leading "instance." from each message's stack, so nested
    # paths read "webhook.url …" while a root-level required property keeps "instance".
    where = path or "instance"
    if not isinstance(value, dict):
        return [f"{where} is not of a type(s) object"]
    problems: list[str] = []
    prefix = f"{path}." if path else ""
    for prop in props:
        if prop.name not in value:
            if prop.required:
                problems.append(f'{where} requires property "{prop.name}"')
            continue
        item = value[prop.name]
        if not is_kind(item, prop.kind):
            problems.append(prop.description or f"{prefix}{prop.name} is not of a type(s) {prop.kind}")
        elif prop.enum is not None and item not in prop.enum:
            problems.append(
                prop.description or f"{prefix}{prop.name} is not one of enum values: {','.join(prop.enum)}"
            )
        elif prop.non_empty and isinstance(item, str) and not item:
            problems.append(f'The "{prop.name}" cannot be empty')
    return problems
