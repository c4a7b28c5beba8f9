"""Traces from the HTTP request into the workflow and its activities, exporters chosen by
settings, Temporal metrics on Prometheus, and JSON logs without contact details."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import asyncpg
import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from activities.repository import (
    ClientRepository,
    PackageTypeRepository,
    Role,
    StaffMember,
    StaffRepository,
)
from starter.api.app import create_app
from starter.packages import PackageService, SaleRequest
from tests.conftest import eventually
from tests.workflows.conftest import ANA, LASER, Spa
from workers.settings import Settings
from workers.telemetry import Telemetry, log_handler, redact, setup_telemetry
from workers.worker import build_worker, connect_temporal
from workflows.ids import package_workflow_id
from workflows.models import RedeemRequest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Traced:
    http: httpx.AsyncClient
    token: dict[str, str]
    exporter: InMemorySpanExporter
    pool: asyncpg.Pool

    def spans(self) -> Sequence[ReadableSpan]:
        return self.exporter.get_finished_spans()

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name == name]


@pytest.fixture
async def traced(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Traced]:
    """API, client and worker sharing one tracer provider that exports to memory."""
    exporter = InMemorySpanExporter()
    telemetry = setup_telemetry(settings, span_exporter=exporter)
    client = await connect_temporal(settings, telemetry=telemetry)
    await ClientRepository(pool).upsert(ANA)
    await PackageTypeRepository(pool).upsert(LASER)
    token = await StaffRepository(pool).add(
        StaffMember(staff_id="fd", name="Front Desk", role=Role.FRONT_DESK)
    )
    app = create_app(settings, client=client, pool=pool, telemetry=telemetry)
    async with (
        build_worker(settings, client) as worker,
        worker,
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://punchcard.test"
        ) as http,
    ):
        yield Traced(http, {"Authorization": f"Bearer {token}"}, exporter, pool)
    telemetry.shutdown()


async def _finished(traced: Traced, name: str) -> list[ReadableSpan]:
    return traced.named(name)


def in_trace(spans: Sequence[ReadableSpan], trace_id: int) -> set[str]:
    return {s.name for s in spans if s.context is not None and s.context.trace_id == trace_id}


async def test_one_trace_runs_from_the_http_request_through_the_workflow_to_each_activity(
    traced: Traced,
) -> None:
    sale = await traced.http.post(
        "/api/sales", json={"client_id": ANA.client_id, "type_code": "laser6"}, headers=traced.token
    )
    assert sale.status_code == 201, sale.text
    [package] = sale.json()["package_ids"]
    completed = await traced.http.post(
        f"/api/packages/{package}/complete",
        json={"appointment_id": "appt-1"},
        headers=traced.token,
    )
    assert completed.status_code == 200, completed.text

    async def confirmations() -> int:
        count = await traced.pool.fetchval(
            "SELECT count(*) FROM outbound_messages"
            " WHERE package_id = $1 AND kind = 'confirmation' AND channel = 'sms'",
            package,
        )
        return int(count)

    # The confirmation is sent by the package's one effects activity of that drain.
    await eventually(confirmations, lambda n: n == 1)
    effects = await eventually(
        lambda: _finished(traced, "RunActivity:effects.perform"), lambda spans: len(spans) >= 1
    )

    [request] = traced.named("POST /api/sales")
    assert request.context is not None
    sale_trace = in_trace(traced.spans(), request.context.trace_id)
    assert {
        "POST /api/sales",
        "StartWorkflow:PackageWorkflow",
        "RunWorkflow:PackageWorkflow",
        "RunActivity:ledger.record_entries",
    } <= sale_trace

    # The update's own request: the HTTP span and the client's update call share a trace,
    # and the workflow's handling of it links back to that call. Workflow-side spans
    # (the handler and the activities it leads to) belong to the package's trace, which
    # began with the sale: that is how Temporal's tracing interceptor models a workflow.
    [update_request] = traced.named("POST /api/packages/{package_id}/complete")
    assert update_request.context is not None
    [start_update] = traced.named("StartWorkflowUpdate:redeem")
    assert start_update.context is not None
    assert start_update.context.trace_id == update_request.context.trace_id
    assert start_update.parent is not None
    assert start_update.parent.span_id == update_request.context.span_id
    [handled] = traced.named("HandleUpdate:redeem")
    assert handled.context is not None and handled.context.trace_id == request.context.trace_id
    assert [link.context.span_id for link in handled.links] == [start_update.context.span_id]
    for effect in effects:
        assert effect.context is not None and effect.context.trace_id == request.context.trace_id
        assert effect.attributes is not None
        assert effect.attributes["temporalWorkflowID"] == package_workflow_id(package)


async def test_search_strings_never_reach_the_trace(traced: Traced) -> None:
    found = await traced.http.get("/api/clients", params={"q": ANA.email}, headers=traced.token)
    assert found.status_code == 200
    [span] = traced.named("GET /api/clients")
    text = json.dumps(dict(span.attributes or {}))
    assert ANA.email not in text and "example.com" not in text


async def test_the_console_exporter_prints_request_spans(
    settings: Settings, client: Client, pool: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    console = settings.model_copy(
        update={"otel_exporter": "console", "otel_service_name": "punchcard-console-test"}
    )
    token = await StaffRepository(pool).add(
        StaffMember(staff_id="fd", name="Front Desk", role=Role.FRONT_DESK)
    )
    telemetry = setup_telemetry(console)
    app = create_app(console, client=client, pool=pool, telemetry=telemetry)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        assert (await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})).is_success
    telemetry.shutdown()  # flushes the batch
    out = capsys.readouterr().out
    assert '"name": "GET /api/me"' in out
    assert '"service.name": "punchcard-console-test"' in out


class _Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace receiver: what an OpenTelemetry Collector listens with."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.services: list[str] = []

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: object
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            for attribute in resource_spans.resource.attributes:
                if attribute.key == "service.name":
                    self.services.append(attribute.value.string_value)
            for scope_spans in resource_spans.scope_spans:
                self.names.extend(span.name for span in scope_spans.spans)
        return trace_service_pb2.ExportTraceServiceResponse()


async def test_the_otlp_exporter_sends_spans_to_the_configured_collector(
    settings: Settings,
) -> None:
    collector = _Collector()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        otlp = settings.model_copy(
            update={"otel_exporter": "otlp", "otel_endpoint": f"http://127.0.0.1:{port}"}
        )
        telemetry = setup_telemetry(otlp)
        assert telemetry.tracer_provider is not None
        with telemetry.tracer_provider.get_tracer("test").start_as_current_span("probe"):
            pass
        await _flush(telemetry)
        assert collector.names == ["probe"]
        assert collector.services == ["punchcard"]
    finally:
        await server.stop(None)


async def _flush(telemetry: Telemetry) -> None:
    """The exporter blocks on gRPC: flush from a thread while the collector serves here."""
    await asyncio.to_thread(telemetry.shutdown)


async def test_temporal_metrics_are_served_for_prometheus(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    """A separate Runtime with Prometheus, for this test's own client only."""
    port = free_port()
    metered = settings.model_copy(update={"metrics_bind": f"127.0.0.1:{port}"})
    telemetry = setup_telemetry(metered)
    client = await connect_temporal(metered, telemetry=telemetry)
    await ClientRepository(pool).upsert(ANA)
    await PackageTypeRepository(pool).upsert(LASER)
    service = PackageService(client=client, pool=pool, settings=metered)
    async with build_worker(metered, client) as worker, worker:
        [package] = (
            await service.sell(SaleRequest(client_id=ANA.client_id, type_code="laser6"))
        ).package_ids
        answer = await service.send(package, RedeemRequest(key="k1", appointment_id="a1"))
        assert answer.remaining == 5

        async def scrape() -> str:
            async with httpx.AsyncClient() as http:
                return (await http.get(f"http://127.0.0.1:{port}/metrics")).text

        text = await eventually(
            scrape, lambda t: "temporal_activity_execution_latency" in t, timeout=10
        )
    assert f'task_queue="{settings.task_queue}"' in text
    assert "temporal_workflow_task_execution_latency" in text


def test_redaction_masks_emails_and_phone_numbers_but_not_ids_or_dates() -> None:
    line = (
        f"client {ANA.email} / {ANA.phone} / (555) 555-0199 / 555.555.0198 paid pkg_9f3a "
        "on 2026-03-14T17:00:00-05:00 for appointment 100015531 "
        "urn:blvd:Client:8e8e8e8e-0000-4000-8000-000000000020"
    )
    masked = redact(line)
    for secret in (ANA.email, ANA.phone, "(555) 555-0199", "555.555.0198"):
        assert secret not in masked
    for kept in ("pkg_9f3a", "2026-03-14T17:00:00-05:00", "100015531", "8e8e8e8e-0000-4000"):
        assert kept in masked


async def test_json_logs_are_json_lines_without_contact_details(
    settings: Settings, spa: Spa
) -> None:
    buffer = io.StringIO()
    handler = log_handler(settings.model_copy(update={"log_format": "json"}), stream=buffer)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        [package] = await spa.sell("laser6")
        await spa.service.send(package, RedeemRequest(key="k1", appointment_id="a1"))
        await eventually(lambda: spa.messages("confirmation", "email"), lambda n: n == 1)
        # A careless log line elsewhere is caught by the net.
        logging.getLogger("punchcard.test").warning(
            "could not reach %s at %s", ANA.email, ANA.phone
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)

    lines = buffer.getvalue().splitlines()
    entries = [json.loads(line) for line in lines]
    assert len(entries) >= 3
    text = buffer.getvalue()
    for secret in (ANA.email, ANA.phone, ANA.name):
        assert secret not in text
    assert {"ts", "level", "logger", "message"} <= set(entries[0])
    sent = [
        e
        for e in entries
        if e.get("activity", {}).get("workflow_id") == package_workflow_id(package)
    ]
    assert sent, "activity log lines carry the workflow id"
    [careless] = [e for e in entries if e["logger"] == "punchcard.test"]
    assert careless["message"] == "could not reach [email] at [phone]"
