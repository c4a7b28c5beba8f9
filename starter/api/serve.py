"""Serve the API with uvicorn inside an asyncio program (the embedded stack, `punchcard api`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn

from starter.api.app import create_app
from workers.settings import Settings
from workers.telemetry import Telemetry


class _QuietServer(uvicorn.Server):
    """Leaves SIGINT/SIGTERM to the embedded stack, which stops everything in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_api(
    settings: Settings, *, stop: asyncio.Event, telemetry: Telemetry | None = None
) -> None:
    """Serve until `stop` is set; signals are left to the caller."""
    config = uvicorn.Config(
        create_app(settings, telemetry=telemetry),
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        lifespan="on",
    )
    server = _QuietServer(config)
    serving = asyncio.create_task(server.serve())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopper}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await serving
    if not server.started and not stop.is_set():
        raise RuntimeError(
            f"the API could not start on {settings.api_host}:{settings.api_port} "
            "(is the port taken? set PUNCHCARD_API_PORT)"
        )
