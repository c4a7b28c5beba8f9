"""Traces, metrics and logs, configured once per process from settings.

- Traces: an OpenTelemetry tracer provider exporting to the console or to an OTLP/gRPC
  collector (PUNCHCARD_OTEL_EXPORTER). The API's request spans (FastAPI instrumentation)
  and Temporal's `TracingInterceptor` share it, so a trace runs from the HTTP request
  through the client call into the workflow and each activity.
- Metrics: Temporal's SDK metrics on a Prometheus `/metrics` endpoint
  (PUNCHCARD_METRICS_BIND), through a `Runtime` the process's clients share.
- Logs: text or JSON lines (PUNCHCARD_LOG_FORMAT), with a filter that masks anything
  shaped like an email address or phone number — ids only in logs, this is the net.

No provider is installed globally: entry points build a `Telemetry` and pass it down.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from temporalio.client import Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from workers.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

TRACER_NAME = "punchcard"

# Safety net for logs: addresses, E.164 numbers and North-American formatted numbers.
# Every repetition is bounded (RFC 5321: 64-character local part, 63-character labels), so
# each starting position costs at most a fixed number of steps and the whole pass is
# linear: a line is redacted inside the event loop, and the unbounded pattern this
# replaced let one request freeze the process for minutes. Lines are cut at
# MAX_LOG_CHARS first.
MAX_LOG_CHARS = 8_192
_EMAIL = re.compile(r"[\w.+%-]{0,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
_PHONE = re.compile(r"(?<![\w-])(?:\+\d[\d ().-]{6,18}\d|\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4})(?![\w-])")


def redact(text: str) -> str:
    """Mask email- and phone-shaped substrings of `text`, cut to MAX_LOG_CHARS."""
    if len(text) > MAX_LOG_CHARS:
        text = f"{text[:MAX_LOG_CHARS]}… [{len(text) - MAX_LOG_CHARS} characters cut]"
    if "@" in text:
        text = _EMAIL.sub("[email]", text)
    return _PHONE.sub("[phone]", text)


@dataclass
class Telemetry:
    """What one process uses for traces and metrics; empty when both are off."""

    tracer_provider: TracerProvider | None = None
    runtime: Runtime | None = None
    _interceptor: TracingInterceptor | None = field(default=None, repr=False)

    @property
    def tracing(self) -> bool:
        return self.tracer_provider is not None

    def interceptors(self) -> list[Interceptor]:
        """Client interceptors; workers built from that client inherit them."""
        if self.tracer_provider is None:
            return []
        if self._interceptor is None:
            self._interceptor = TracingInterceptor(self.tracer_provider.get_tracer(TRACER_NAME))
        return [self._interceptor]

    def instrument_app(self, app: FastAPI) -> None:
        """One server span per HTTP request (health checks excluded), query strings dropped."""
        if self.tracer_provider is None:
            return
        # Imported here: worker processes never load the web instrumentation.
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.tracer_provider,
            excluded_urls="/health",
            server_request_hook=_drop_query,
            exclude_spans=["receive", "send"],
        )

    def shutdown(self) -> None:
        """Flush and stop span export (metrics stop with the process)."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()


def _drop_query(span: trace.Span, scope: Mapping[str, Any]) -> None:
    """Search strings (e.g. GET /clients?q=<email>) must not reach the trace backend."""
    if not scope.get("query_string") or not span.is_recording():
        return
    attributes: Mapping[str, Any] = getattr(span, "attributes", None) or {}
    if "http.target" in attributes:
        span.set_attribute("http.target", str(scope.get("path", "")))
    if "url.query" in attributes:
        span.set_attribute("url.query", "[dropped]")
    for name in ("http.url", "url.full"):
        if name in attributes:
            span.set_attribute(name, str(attributes[name]).split("?", 1)[0])


def setup_telemetry(settings: Settings, *, span_exporter: SpanExporter | None = None) -> Telemetry:
    """Build the process's telemetry from settings.

    Args:
        settings: otel_exporter (none | console | otlp), otel_endpoint, otel_service_name,
            metrics_bind.
        span_exporter: export here instead (tests use an in-memory exporter); spans are
            then exported one by one as they end.
    """
    provider: TracerProvider | None = None
    if span_exporter is not None or settings.otel_exporter != "none":
        provider = TracerProvider(
            resource=Resource.create({SERVICE_NAME: settings.otel_service_name})
        )
        if span_exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        else:
            provider.add_span_processor(BatchSpanProcessor(_exporter(settings)))
    runtime = None
    if settings.metrics_bind:
        runtime = Runtime(
            telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=settings.metrics_bind))
        )
    return Telemetry(tracer_provider=provider, runtime=runtime)


def _exporter(settings: Settings) -> SpanExporter:
    if settings.otel_exporter == "console":
        return ConsoleSpanExporter(out=sys.stdout)
    # Imported here: grpc loads only in processes that export over OTLP.
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    endpoint = settings.otel_endpoint
    insecure = endpoint.startswith("http://") if endpoint else None
    return OTLPSpanExporter(endpoint=endpoint, insecure=insecure)


# --- logs --------------------------------------------------------------------------------


class RedactPii(logging.Filter):
    """Rewrite each record's message (and traceback) with contact details masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_TEMPORAL_EXTRAS = ("temporal_workflow", "temporal_activity")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, Temporal ids, trace ids."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _TEMPORAL_EXTRAS:
            value = getattr(record, name, None)
            if isinstance(value, Mapping):
                entry[name.removeprefix("temporal_")] = {
                    k: v for k, v in value.items() if isinstance(v, str | int | float | bool)
                }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["error"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_handler(settings: Settings, *, stream: IO[str] | None = None) -> logging.Handler:
    """A handler in the configured format that masks contact details."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    handler.addFilter(RedactPii())
    return handler


def configure_logging(
    settings: Settings,
    *,
    level: int = logging.INFO,
    punchcard_level: int | None = None,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Replace the root logger's handlers with one from `log_handler`; returns it.

    `level` applies to the root logger (libraries), `punchcard_level` to "punchcard.*".
    """
    handler = log_handler(settings, stream=stream)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    if punchcard_level is not None:
        logging.getLogger("punchcard").setLevel(punchcard_level)
    # httpx logs every request URL at INFO; a CRM addressed by email puts it in the URL.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
    return handler
