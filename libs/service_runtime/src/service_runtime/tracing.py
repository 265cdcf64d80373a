"""OpenTelemetry tracing, configured once per process from the standard `OTEL_*` variables."""

from __future__ import annotations

import os

import httpx
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)


def configure_tracing(default_service_name: str) -> TracerProvider | None:
    """Install the global tracer provider.

    Service identity comes from `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES`
    (set by the Helm chart), falling back to `default_service_name`. Spans are
    exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces
    variant) is set, to the console with `OTEL_TRACES_EXPORTER=console`, and are
    otherwise only propagated. `OTEL_SDK_DISABLED=true` turns it all off.
    """
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: default_service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    exporter_choice = os.environ.get("OTEL_TRACES_EXPORTER", "").lower()
    if exporter_choice == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter_choice != "none" and (
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def tracing_enabled() -> bool:
    """True once `configure_tracing` installed an SDK tracer provider in this process."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def traced_transport(transport: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
    """`transport` with a client span per request and the trace context in its headers
    (`traceparent`), when tracing is on; `transport` itself otherwise.

    For clients with a transport of their own (the Evolution client's aiohttp transport),
    which the global httpx instrumentation does not reach.
    """
    if not tracing_enabled():
        return transport
    from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransport  # noqa: PLC0415

    traced: httpx.AsyncBaseTransport = AsyncOpenTelemetryTransport(transport)
    return traced
