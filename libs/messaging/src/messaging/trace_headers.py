"""W3C trace context carried in Kafka headers, so one webhook can be followed across hops."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate


def current_trace_headers() -> dict[str, str]:
    """The active trace context as Kafka-safe string headers (`traceparent`, `tracestate`)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from_headers(headers: Mapping[str, str]) -> otel_context.Context:
    """The trace context a producer stored in `headers` (empty when there is none)."""
    return propagate.extract(dict(headers))


def decode_record_headers(raw: Iterable[tuple[str, bytes]] | None) -> dict[str, str]:
    """Kafka record headers as text, skipping values that are not UTF-8."""
    decoded: dict[str, str] = {}
    for name, value in raw or ():
        try:
            decoded[name] = value.decode()
        except UnicodeDecodeError:
            continue
    return decoded
