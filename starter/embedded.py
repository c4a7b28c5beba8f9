"""`punchcard up`: the whole of Punchcard on one machine, from pip alone.

Start: the Temporal dev server (SQLite under DATA/temporal) and PostgreSQL (DATA/pg) come
up side by side; then migrations, the in-process worker, the demo spa, and DATA/run/stack.json
so CLI commands in another terminal find this stack. Stop, on Ctrl-C or SIGTERM, in
dependency order: the worker finishes in-flight tasks, then Temporal closes its SQLite
file, then PostgreSQL checkpoints. A second `up` on the same DATA finds every package,
balance and pending timer of the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from pydantic import SecretStr
from temporalio.client import Client

from activities.db import apply_migrations, create_pool
from activities.providers import ProviderRepository
from activities.repository import StaffRepository
from starter.api.serve import run_api
from starter.demo import demo_staff_tokens, load_demo
from starter.packages import PackageService, PunchcardError
from starter.processes import (
    EmbeddedPostgres,
    StackError,
    TemporalDevServer,
    ensure_port_free,
    redact_dsn,
    split_address,
)
from starter.stackfile import StackInfo, read_stack, remove_stack, write_stack
from workers.codec import CodecError, codec_from_settings, ensure_key_file, key_file
from workers.search_attributes import register_search_attributes
from workers.settings import Settings
from workers.telemetry import Telemetry, setup_telemetry
from workers.worker import connect_temporal, run_worker
from workflows import visibility

log = logging.getLogger("punchcard.embedded")

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})
READY_TIMEOUT = 90.0

Out = Callable[[str], None]


@dataclass(frozen=True)
class StackOptions:
    data_dir: Path
    demo: bool = True


async def run_stack(settings: Settings, options: StackOptions, *, out: Out) -> None:
    """Serve until SIGINT/SIGTERM, then stop everything in order. Raises StackError."""
    data_dir = options.data_dir.resolve()
    host, port = split_address(settings.temporal_address)
    if host not in LOCAL_HOSTS:
        raise StackError(
            f"PUNCHCARD_TEMPORAL_ADDRESS is {settings.temporal_address}: `punchcard up` runs its "
            "own Temporal on this machine; use `punchcard worker` against a remote cluster"
        )
    running = read_stack(data_dir)
    if running is not None:
        raise StackError(f"`punchcard up` is already running on {data_dir} (pid {running.pid})")
    hint = (
        "is another `punchcard up` or Temporal server running? Use other ports with "
        "`up --temporal-port N --ui-port N --api-port N` (or PUNCHCARD_TEMPORAL_ADDRESS / "
        "PUNCHCARD_TEMPORAL_UI_PORT / PUNCHCARD_API_PORT)"
    )
    ensure_port_free("127.0.0.1", port, "Temporal gRPC", hint)
    ensure_port_free("127.0.0.1", settings.temporal_ui_port, "Temporal UI", hint)
    ensure_port_free(_bind_host(settings.api_host), settings.api_port, "API", hint)
    data_dir.mkdir(parents=True, exist_ok=True)
    settings, key_source = _with_encryption(settings, data_dir)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    temporal = TemporalDevServer(
        data_dir=data_dir / "temporal",
        port=port,
        ui_port=settings.temporal_ui_port,
        namespace=settings.temporal_namespace,
        ui_codec_endpoint=codec_endpoint(settings),
    )
    postgres = EmbeddedPostgres(data_dir / "pg") if settings.database_url is None else None
    stack = _Stack(
        settings=settings,
        temporal=temporal,
        postgres=postgres,
        stop=stop,
        out=out,
        telemetry=setup_telemetry(settings),
        key_source=key_source,
    )
    try:
        await stack.serve(data_dir, options)
    finally:
        await stack.shutdown(data_dir)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _with_encryption(settings: Settings, data_dir: Path) -> tuple[Settings, str]:
    """Encrypt history by default: without PUNCHCARD_CODEC_KEYS, use (or make) DATA/codec-keys.
    Returns the settings and where the keys came from.

    The UI's origin defaults to this stack's UI port, under both local host names."""
    update: dict[str, object] = {}
    source = "PUNCHCARD_CODEC_KEYS"
    if settings.codec_keys is None:
        update["codec_keys"] = SecretStr(ensure_key_file(data_dir))
        source = str(key_file(data_dir))
    if "temporal_ui_origin" not in settings.model_fields_set:
        port = settings.temporal_ui_port
        update["temporal_ui_origin"] = f"http://localhost:{port},http://127.0.0.1:{port}"
    settings = settings.model_copy(update=update)
    try:
        codec_from_settings(settings)
    except CodecError as err:
        raise StackError(f"codec keys ({source}): {err}") from None
    return settings, source


def _bind_host(host: str) -> str:
    """Where to probe the API's port: its own address (a name resolves at bind)."""
    return "0.0.0.0" if host in ("0.0.0.0", "::") else host


def codec_endpoint(settings: Settings) -> str:
    """The API's codec URL as a browser on this machine reaches it (same site as the UI)."""
    host = settings.api_host
    if host in LOCAL_HOSTS or host in ("0.0.0.0", "::"):
        host = "localhost"
    return f"http://{host}:{settings.api_port}/codec"


def codec_steps(endpoint: str) -> list[str]:
    """What a browser needs, once, to read decoded payloads in the dev server's UI.

    The dev server sets the UI's codec endpoint (`--ui-codec-endpoint`) but has no flag for
    sending credentials, and the UI sends the sign-in cookie to another origin only from the
    browser-level setting: so the endpoint is entered there too, with credentials ticked."""
    return [
        f"  UI codec      1. open {endpoint} and sign in with a staff token (8 h cookie)",
        "                2. in the Temporal UI click 'Codec Server' (top bar), choose 'Use my",
        "                   browser setting and ignore Cluster-level setting.', paste",
        f"                   {endpoint} as 'Codec Server Endpoint', tick 'Include",
        "                   cross-origin credentials', Apply",
    ]


@dataclass
class _Stack:
    settings: Settings
    temporal: TemporalDevServer
    postgres: EmbeddedPostgres | None
    stop: asyncio.Event
    out: Out
    telemetry: Telemetry
    key_source: str
    worker: asyncio.Task[None] | None = None
    api: asyncio.Task[None] | None = None
    tokens: dict[str, str] | None = None
    wrote_stack_file: bool = False

    async def serve(self, data_dir: Path, options: StackOptions) -> None:
        out, temporal, stop = self.out, self.temporal, self.stop
        out(f"punchcard: data directory {data_dir}")
        out(f"· Temporal dev server: starting on {temporal.address} (log {temporal.log_file})")
        temporal.start()
        if self.postgres is not None:
            out(f"· PostgreSQL: starting in {self.postgres.pgdata}")
            started = time.monotonic()
            dsn = await self.postgres.start()
            out(f"✓ PostgreSQL ready in {time.monotonic() - started:.1f}s")
        else:
            dsn = self.settings.database_dsn()
            out("· PostgreSQL: using PUNCHCARD_DATABASE_URL")
        started = time.monotonic()
        await temporal.wait_ready(timeout=READY_TIMEOUT, stop=stop)
        if stop.is_set():
            return
        out(f"✓ Temporal ready in {time.monotonic() - started:.1f}s")
        await self._register_search_attributes()
        settings = self.settings.model_copy(update={"database_url": SecretStr(dsn)})
        try:
            pool = await create_pool(dsn, max_size=4)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            raise StackError(f"cannot reach PostgreSQL at {redact_dsn(dsn)}: {err}") from None
        try:
            applied = await apply_migrations(pool)
            out(f"✓ schema: {'applied ' + ', '.join(applied) if applied else 'up to date'}")
            self.worker = asyncio.create_task(
                run_worker(settings, stop=stop, telemetry=self.telemetry)
            )
            out(
                f"✓ worker polling task queues {settings.task_queue!r} and {settings.visit_queue!r}"
            )
            if options.demo:
                await self._load_demo(settings, pool)
                self.tokens = await demo_staff_tokens(
                    StaffRepository(pool), data_dir / "run" / "demo-staff-tokens"
                )
        finally:
            await pool.close()
        if stop.is_set():
            return
        self.api = asyncio.create_task(run_api(settings, stop=stop, telemetry=self.telemetry))
        await _wait_http(f"http://{settings.api_host}:{settings.api_port}/health", timeout=20.0)
        if self.api.done():
            raise StackError(f"the API did not start: {self.api.exception()}")
        out(f"✓ API on http://{settings.api_host}:{settings.api_port}")
        ui_url = f"http://localhost:{settings.temporal_ui_port}"
        if self.postgres is not None:
            write_stack(data_dir, self._info(data_dir, settings, dsn, ui_url))
            self.wrote_stack_file = True
        await _wait_http(ui_url, timeout=15.0)
        self._banner(ui_url, dsn, options, data_dir)
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({stopper, self.worker, self.api}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if self.worker.done() and not stop.is_set():
            raise self._worker_failure()
        if self.api.done() and not stop.is_set():
            raise StackError(f"the API stopped unexpectedly: {self.api.exception()}")
        out("\npunchcard: stopping (API and worker, then Temporal, then PostgreSQL)…")

    async def _register_search_attributes(self) -> None:
        """A data directory from before an attribute existed has a namespace without it
        (start-dev registers them only in a new file): add what is missing."""
        client = await Client.connect(
            self.temporal.address, namespace=self.settings.temporal_namespace
        )
        added = await register_search_attributes(client, self.settings.temporal_namespace)
        names = ", ".join(k.name for k in visibility.ALL_KEYS)
        if added:
            self.out(f"✓ search attributes: registered {', '.join(added)}")
        else:
            self.out(f"✓ search attributes: {names}")

    async def _load_demo(self, settings: Settings, pool: asyncpg.Pool) -> None:
        """Load the demo while watching the worker: its updates need one to answer."""
        assert self.worker is not None
        client = await connect_temporal(settings)
        service = PackageService(client=client, pool=pool, settings=settings)
        demo = asyncio.create_task(load_demo(service, ProviderRepository(pool)))
        await asyncio.wait({demo, self.worker}, return_when=asyncio.FIRST_COMPLETED)
        if not demo.done():
            demo.cancel()
            if self.stop.is_set():
                return
            raise self._worker_failure()
        try:
            summary = demo.result()
        except (PunchcardError, TimeoutError) as err:
            raise StackError(f"the demo spa did not load: {err}") from None
        self.out(
            f"✓ demo spa: {summary.providers} providers, {summary.clients} clients, "
            f"{summary.types} package types, {len(summary.packages)} packages"
            + ("" if summary.new_entries else " (already loaded: nothing changed)")
        )

    def _worker_failure(self) -> StackError:
        """The worker task ended on its own: log why in full, report it in one line."""
        assert self.worker is not None and self.worker.done()
        error = None if self.worker.cancelled() else self.worker.exception()
        if error is not None:
            log.error("the worker failed", exc_info=error)
        return StackError(f"the worker stopped unexpectedly: {error or 'cancelled'}")

    def _info(self, data_dir: Path, settings: Settings, dsn: str, ui_url: str) -> StackInfo:
        return StackInfo(
            pid=os.getpid(),
            data_dir=str(data_dir),
            database_url=dsn,
            temporal_address=settings.temporal_address,
            temporal_namespace=settings.temporal_namespace,
            task_queue=settings.task_queue,
            ui_url=ui_url,
            temporal_pid=self.temporal.process.pid if self.temporal.process else None,
            postgres_pid=self.postgres.pid if self.postgres else None,
        )

    def _banner(self, ui_url: str, dsn: str, options: StackOptions, data_dir: Path) -> None:
        client = "ava" if options.demo else "<client>"
        where = []
        if data_dir != self.settings.data_dir.resolve():
            where = [f"  export PUNCHCARD_DATA_DIR={data_dir}"]
        api = f"http://{self.settings.api_host}:{self.settings.api_port}"
        tokens = [f"  {who} token: {token}" for who, token in (self.tokens or {}).items()]
        lines = [
            "",
            "Punchcard is running. Ctrl-C stops everything cleanly.",
            f"  Front desk    {api}/desk",
            f"  API           {api}/docs  (OpenAPI: {api}/openapi.json, health: {api}/health)",
            f"  Webhooks      {api}/webhooks/boulevard | mindbody | stripe | twilio/sms",
            *tokens,
            f"  Temporal UI   {ui_url}  (namespace {self.settings.temporal_namespace})",
            *self._encryption_lines(),
            f"  Temporal      {self.settings.temporal_address}",
            f"  PostgreSQL    {redact_dsn(dsn)}",
            "In another terminal:",
            *where,
            f"  .venv/bin/punchcard show {client}",
            "  .venv/bin/punchcard history demo-ava-laser"
            if options.demo
            else "  .venv/bin/punchcard types",
            "  .venv/bin/punchcard complete demo-ava-laser --appointment appt-103"
            if options.demo
            else "  .venv/bin/punchcard sell <client> <type>",
            "  .venv/bin/punchcard alerts",
            "",
        ]
        self.out("\n".join(lines))

    def _encryption_lines(self) -> list[str]:
        codec = codec_from_settings(self.settings)
        assert codec is not None  # _with_encryption saw to it
        return [
            f"  Encryption    history payloads are encrypted (key {codec.key_id!r}, from "
            f"{self.key_source})",
            *codec_steps(codec_endpoint(self.settings)),
        ]

    async def shutdown(self, data_dir: Path) -> None:
        """Worker first, then Temporal, then PostgreSQL; each step runs even if one fails."""
        errors: list[str] = []
        self.stop.set()
        if self.api is not None:
            try:
                await asyncio.wait_for(self.api, timeout=15)
                self.out("✓ API stopped")
            except Exception as err:  # the rest of the shutdown still runs
                errors.append(f"API: {err}")
        if self.worker is not None:
            try:
                if not self.worker.done():
                    await asyncio.wait_for(self.worker, timeout=60)
                elif not self.worker.cancelled():
                    self.worker.exception()  # a failure was reported by serve()
                self.out("✓ worker stopped")
            except Exception as err:  # the rest of the shutdown still runs
                errors.append(f"worker: {err}")
        if self.wrote_stack_file:
            remove_stack(data_dir, pid=os.getpid())
        await asyncio.to_thread(self.temporal.stop)
        self.out("✓ Temporal stopped")
        if self.postgres is not None:
            try:
                await asyncio.to_thread(self.postgres.stop)
                self.out("✓ PostgreSQL stopped")
            except StackError as err:
                errors.append(str(err))
        self.telemetry.shutdown()
        if errors:
            raise StackError("; ".join(errors))


async def _wait_http(url: str, *, timeout: float) -> None:
    """The UI starts with the server but may lag it; wait briefly so the banner is true."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2.0) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                await http.get(url)
                return
            await asyncio.sleep(0.2)
