"""The ASGI app: `create_app(settings)` for uvicorn; tests pass their own client and pool.

Errors have one shape everywhere, `{"detail": "<one line>"}`: validation errors are
flattened to a sentence naming the field; Temporal or PostgreSQL unreachable is a 503 with
Retry-After saying which; a value PostgreSQL cannot store is a 422; anything else is a 500
with an incident id in the log, never a stack trace. `door.RequestLimits` bounds every
request before any of this runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.db import apply_migrations, create_pool
from starter.api.deps import ApiDeps, Deps
from starter.api.door import RequestLimits
from starter.api.routes import (
    alerts,
    client_page,
    clients,
    codec,
    desk,
    docs,
    feeds,
    imports,
    locations,
    package_types,
    renew,
    reports,
    staff,
    team,
    webhooks,
)
from starter.api.schemas import Health
from starter.packages import Conflict, Invalid, NotFound, PunchcardError, Refused
from starter.staff import BOOTSTRAP_MANAGER, StaffService
from workers.settings import Settings
from workers.telemetry import Telemetry, setup_telemetry
from workers.worker import connect_temporal

log = logging.getLogger("punchcard.api")

RETRY_AFTER_SECONDS = 5


def unavailable(detail: str) -> JSONResponse:
    """A 503 every provider's retry logic understands: retry after a few seconds."""
    return JSONResponse(
        status_code=503,
        content={"detail": detail},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


DESCRIPTION = """Punchcard's staff API, provider webhooks and the front-desk page (/desk).

Staff endpoints take `Authorization: Bearer <token>` (`POST /api/staff` as a manager, or
`punchcard staff add`; the first manager from the CLI or PUNCHCARD_BOOTSTRAP_MANAGER_TOKEN).
Front desk reads, sells, records visits and keeps clients' details; a manager also
extends, cancels, tops up, resolves the review queue, opts clients back in to SMS and
changes the setup: package types, staff and their tokens."""


async def _bootstrap_manager(settings: Settings, pool: asyncpg.Pool) -> None:
    """With PUNCHCARD_BOOTSTRAP_MANAGER_TOKEN set and no active manager, create `owner`
    with that token, so a spa can be set up through the API alone."""
    if settings.bootstrap_manager_token is None:
        return
    token = settings.bootstrap_manager_token.get_secret_value()
    if await StaffService(pool).bootstrap(token):
        log.warning(
            "created manager %r from PUNCHCARD_BOOTSTRAP_MANAGER_TOKEN: give them a new "
            "token (POST /api/staff/%s/token) once the spa is set up",
            BOOTSTRAP_MANAGER.staff_id,
            BOOTSTRAP_MANAGER.staff_id,
        )


def create_app(
    settings: Settings | None = None,
    *,
    client: Client | None = None,
    pool: asyncpg.Pool | None = None,
    telemetry: Telemetry | None = None,
) -> FastAPI:
    """`telemetry` traces requests (and the client this app connects); shared with the
    embedded stack's worker, else set up here from settings."""
    settings = settings or Settings()
    own_telemetry = telemetry is None
    the_telemetry = telemetry or setup_telemetry(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_pool = pool is None
        the_pool = pool or await create_pool(
            settings.database_dsn(), max_size=settings.database_pool_size
        )
        try:
            if own_pool:
                await apply_migrations(the_pool)
            await _bootstrap_manager(settings, the_pool)
            the_client = client or await connect_temporal(settings, telemetry=the_telemetry)
            async with httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0)) as http:
                app.state.deps = ApiDeps.build(settings, the_client, the_pool, http)
                yield
        finally:
            if own_pool:
                await the_pool.close()
            if own_telemetry:
                the_telemetry.shutdown()

    app = FastAPI(
        title="Punchcard",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load from a CDN; routes/docs.py serves them locally
        redoc_url=None,
    )
    app.include_router(staff.router)
    app.include_router(clients.router)
    app.include_router(package_types.router)
    app.include_router(locations.router)
    app.include_router(team.router)
    app.include_router(alerts.router)
    app.include_router(imports.router)
    app.include_router(feeds.tokens_router)  # before /api/reports/{report_id}
    app.include_router(feeds.router)
    app.include_router(reports.router)
    app.include_router(reports.page_router)
    app.include_router(webhooks.router)
    app.include_router(renew.router)
    app.include_router(client_page.router)
    app.include_router(desk.router)
    app.include_router(codec.router)
    docs.install(app)
    app.add_middleware(codec.CodecCors, origins=codec.ui_origins(settings))
    the_telemetry.instrument_app(app)
    app.add_middleware(RequestLimits)  # added last: outermost, before tracing and CORS

    @app.get("/health", tags=["health"], responses={503: {"model": Health}})
    async def health(deps: Deps) -> Response:
        """Ready when Temporal and PostgreSQL both answer within two seconds."""
        temporal = database = "ok"
        try:
            await asyncio.wait_for(deps.client.service_client.check_health(), 2)
        except (RPCError, TimeoutError, OSError, RuntimeError) as err:
            temporal = f"unreachable: {str(err)[:200]}"
        try:
            await asyncio.wait_for(deps.pool.fetchval("SELECT 1"), 2)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError, OSError) as err:
            database = f"unreachable: {str(err)[:200] or type(err).__name__}"
        ok = temporal == database == "ok"
        body = Health(status="ok" if ok else "degraded", temporal=temporal, database=database)
        headers = None if ok else {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return JSONResponse(body.model_dump(), status_code=200 if ok else 503, headers=headers)

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/desk")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
        return JSONResponse(status_code=422, content={"detail": f"{where}: {first['msg']}"})

    @app.exception_handler(ValidationError)
    async def model_error(request: Request, exc: ValidationError) -> Response:
        """A value the API accepted but a message refuses (e.g. too long once prefixed)."""
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "value"
        return JSONResponse(status_code=422, content={"detail": f"{where}: {first['msg']}"})

    @app.exception_handler(PunchcardError)
    async def punchcard_error(request: Request, exc: PunchcardError) -> Response:
        if isinstance(exc, NotFound):
            status = 404
        elif isinstance(exc, Refused | Conflict):
            status = 409
        elif isinstance(exc, Invalid):
            status = 422
        else:
            status = 400
        return JSONResponse(status_code=status, content={"detail": str(exc)})

    @app.exception_handler(RPCError)
    async def temporal_error(request: Request, exc: RPCError) -> Response:
        if exc.status is RPCStatusCode.INVALID_ARGUMENT:
            return JSONResponse(status_code=400, content={"detail": f"invalid: {exc.message}"})
        log.error("Temporal error on %s: %s", request.url.path, exc.message[:500])
        return unavailable(f"Temporal: {exc.message[:200]}")

    @app.exception_handler(asyncpg.PostgresError)
    async def database_error(request: Request, exc: asyncpg.PostgresError) -> Response:
        if isinstance(exc, asyncpg.DataError):  # e.g. a NUL byte PostgreSQL cannot store
            return JSONResponse(status_code=422, content={"detail": f"invalid value: {exc}"})
        if isinstance(exc, asyncpg.ProgramLimitExceededError):  # e.g. an index row too long
            return JSONResponse(
                status_code=422, content={"detail": f"a value is too long to store: {exc}"}
            )
        if isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.CannotConnectNowError):
            log.error("database unreachable on %s: %s", request.url.path, exc)
            return unavailable("database unavailable")
        return await unexpected(request, exc)

    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(OSError)
    @app.exception_handler(TimeoutError)
    async def connection_error(request: Request, exc: Exception) -> Response:
        """A socket that is gone (FileNotFoundError for a Unix socket, refused, reset) or a
        call that timed out: PostgreSQL or Temporal is away, the sender should retry."""
        log.error("backend unreachable on %s: %s", request.url.path, type(exc).__name__)
        return unavailable("database or Temporal unavailable")

    @app.exception_handler(RuntimeError)
    async def runtime_error(request: Request, exc: RuntimeError) -> Response:
        if "client connect" in str(exc):  # the SDK's (re)connection to a Temporal not there
            log.error("Temporal unreachable on %s", request.url.path)
            return unavailable("Temporal unavailable")
        log.error("unexpected error on %s", request.url.path, exc_info=exc)
        return await unexpected(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        incident = uuid.uuid4().hex[:12]
        # The server logs the traceback itself (through the same redacting handler).
        log.error("unexpected error %s on %s: %s", incident, request.url.path, type(exc).__name__)
        return JSONResponse(
            status_code=500, content={"detail": f"internal error {incident}: it is logged"}
        )

    return app
