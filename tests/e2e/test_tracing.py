"""One trace follows a message from the webhook through guard, generator and sender to `sendText`.

The services run as processes with the standard OpenTelemetry variables pointing at a tiny
OTLP/HTTP receiver in this test (protobuf `ExportTraceServiceRequest` on `/v1/traces`), the
way they would point at a collector. The trace context travels in Kafka headers
(`traceparent`, staged in each outbox row), through the guard's debounce (its decision row keeps
it) and into the sender's HTTP call to Evolution.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from testkit import Infra, wait_until
from testkit.asgi import served
from testkit.stack import MirageStack, SimulatorClient

pytestmark = pytest.mark.e2e

LOG_DIR = Path(__file__).resolve().parents[2] / ".local" / "e2e-logs"
HOPS = ("mirage-ingest", "mirage-guard", "mirage-generator", "mirage-sender")
SERVER = ProtoSpan.SpanKind.SPAN_KIND_SERVER


@dataclass(frozen=True)
class Span:
    """What the test needs of one exported span."""

    service: str
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    attributes: dict[str, str]


class OtlpReceiver:
    """Collects the spans services export over OTLP/HTTP (protobuf)."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.app = Starlette(routes=[Route("/v1/traces", self._export, methods=["POST"])])

    async def _export(self, request: Request) -> Response:
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.body())
        for resource_spans in export.resource_spans:
            service = next(
                (a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"),
                "",
            )
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        Span(
                            service=service,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            name=span.name,
                            kind=span.kind,
                            attributes={a.key: a.value.string_value for a in span.attributes},
                        )
                    )
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")


@pytest.fixture(scope="module")
async def traced_stack(infra: Infra, database_dsn: str) -> AsyncIterator[tuple[MirageStack, OtlpReceiver]]:
    """The reply pipeline exporting its spans to a receiver of this test."""
    receiver = OtlpReceiver()
    async with served(receiver.app) as receiver_url:
        tracing = {
            "OTEL_SDK_DISABLED": "false",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver_url,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        mirage = MirageStack(
            infra=infra,
            database_dsn=database_dsn,
            log_dir=LOG_DIR,
            overrides={
                "ingest": tracing,
                "guard": {**tracing, "MIRAGE_GUARD_POLICY__DEBOUNCE_WINDOW_MS": "500"},
                "generator": tracing,
                "sender": {**tracing, "MIRAGE_SENDER_ECHO_WAIT_S": "1"},
            },
        )
        try:
            await mirage.start()
            yield mirage, receiver
        finally:
            mirage.stop()


async def test_one_trace_from_the_webhook_to_send_text(
    traced_stack: tuple[MirageStack, OtlpReceiver],
) -> None:
    stack, receiver = traced_stack
    instance = await stack.create_instance()
    sim = SimulatorClient(stack.simulator_url)
    phone = "5511987650001"
    try:
        await sim.inbound(instance.name, phone, "oi, tem horário amanhã?")
        await wait_until(
            lambda: sim.sent(instance=instance.name, number=phone), timeout=60, message="the reply"
        )
    finally:
        await sim.close()

    def send_text_span() -> Span | None:
        return next(
            (
                span
                for span in receiver.spans
                if span.service == "mirage-sender"
                and "sendText" in span.attributes.get("url.full", span.attributes.get("http.url", ""))
                and instance.name in span.attributes.get("url.full", span.attributes.get("http.url", ""))
            ),
            None,
        )

    sending: Span = await wait_until(
        send_text_span, timeout=30, message="the sender's sendText span exported"
    )

    def whole_trace() -> set[str] | None:
        services = {span.service for span in receiver.spans if span.trace_id == sending.trace_id}
        return services if services >= set(HOPS) else None

    services = await wait_until(whole_trace, timeout=30, message=f"spans of {HOPS} in the sendText trace")
    assert services >= set(HOPS)

    def linked_trace() -> list[Span] | None:
        """The trace once every span's parent arrived too: each process exports its spans in
        batches, and a parent ends (and is exported) after its children."""
        trace = [span for span in receiver.spans if span.trace_id == sending.trace_id]
        ids = {span.span_id for span in trace}
        return trace if all(span.parent_id in ids for span in trace if span.parent_id) else None

    # Every span hangs off another span of the same trace: no hop started a trace of its own.
    trace: list[Span] = await wait_until(
        linked_trace, timeout=30, message="every span's parent in the sendText trace"
    )
    # The trace starts at ingest's webhook request: its root is the HTTP server span.
    roots = [span for span in trace if not span.parent_id]
    assert [root.service for root in roots] == ["mirage-ingest"], roots
    assert "/webhook/evolution" in roots[0].name
    # One server span per webhook request: OpenTelemetry's instrumentation is the only one
    # (FastAPI's own telemetry would add a second server span around it).
    server_spans = [span for span in trace if span.service == "mirage-ingest" and span.kind == SERVER]
    assert len(server_spans) == 1, server_spans
