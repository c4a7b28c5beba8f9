"""The worker process: one registration list, real adapters, graceful shutdown.

Several replicas may run on one task queue; Temporal spreads the work between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from activities.alerts import StaffAlertActivities
from activities.booking.mindbody import MindbodyApi
from activities.booking.zenoti import ZenotiApi, parse_status_map
from activities.db import apply_migrations, create_pool
from activities.intake import IntakeActivities, VisitGateway
from activities.ledger import LedgerActivities
from activities.messaging import MessagingActivities, SmtpMailer, TwilioSms
from activities.polling import PollingActivities
from workers.schedules import ensure_schedules
from workers.settings import Settings
from workflows.converter import make_data_converter
from workflows.package import PackageWorkflow
from workflows.poll import PollLocationWorkflow
from workflows.review import ReviewEscalationWorkflow
from workflows.visit import VisitWorkflow

log = logging.getLogger("punchcard.worker")

WORKFLOWS: Sequence[type] = (
    PackageWorkflow,
    VisitWorkflow,
    ReviewEscalationWorkflow,
    PollLocationWorkflow,
)


async def connect_temporal(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=make_data_converter(),
    )


def activity_list(
    *,
    ledger: LedgerActivities,
    alerts: StaffAlertActivities,
    messaging: MessagingActivities,
    intake: IntakeActivities,
    polling: PollingActivities,
) -> list[Any]:
    """The one registration list: every activity the workflows call."""
    return [
        ledger.record_entry,
        alerts.record_staff_alert,
        messaging.send_client_sms,
        messaging.send_client_email,
        messaging.send_staff_email,
        messaging.record_undelivered,
        intake.find_candidates,
        intake.deliver_to_package,
        intake.open_review_item,
        intake.close_review_item,
        intake.record_route,
        intake.enrich_visit,
        intake.submit_visits,
        intake.escalate_reviews,
        polling.read_cursor,
        polling.fetch_page,
        polling.advance_cursor,
    ]


def visit_gateway(settings: Settings, client: Client) -> VisitGateway:
    return VisitGateway(client, task_queue=settings.task_queue, idle_days=settings.visit_idle_days)


def build_mindbody(settings: Settings, http: httpx.AsyncClient) -> MindbodyApi | None:
    if settings.mindbody_api_key is None:
        return None
    token = settings.mindbody_staff_token
    return MindbodyApi(
        http,
        base_url=settings.mindbody_base_url,
        api_key=settings.mindbody_api_key.get_secret_value(),
        staff_token=None if token is None else token.get_secret_value(),
    )


def build_zenoti(settings: Settings, http: httpx.AsyncClient) -> ZenotiApi | None:
    if settings.zenoti_api_key is None:
        return None
    return ZenotiApi(
        http,
        base_url=settings.zenoti_base_url,
        api_key=settings.zenoti_api_key,
        appointments_path=settings.zenoti_appointments_path,
        status_map=parse_status_map(settings.zenoti_status_map),
    )


def build_sms(settings: Settings, http: httpx.AsyncClient) -> TwilioSms | None:
    if not settings.twilio_account_sid or settings.twilio_auth_token is None:
        return None
    return TwilioSms(
        http=http,
        base_url=settings.twilio_base_url,
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token,
        from_number=settings.twilio_from_number,
        messaging_service_sid=settings.twilio_messaging_service_sid,
    )


def build_mailer(settings: Settings) -> SmtpMailer | None:
    if not settings.smtp_host:
        return None
    return SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        sender=settings.email_from,
    )


@contextlib.asynccontextmanager
async def build_worker(
    settings: Settings, client: Client, *, with_schedules: bool = False
) -> AsyncIterator[Worker]:
    """Open the pool and HTTP client, migrate, and yield a worker wired to real adapters.

    `with_schedules` also ensures the Temporal Schedules (review escalation, polling):
    production workers do; tests start the schedules they need themselves."""
    pool = await create_pool(settings.database_dsn(), max_size=settings.database_pool_size)
    try:
        await apply_migrations(pool)
        if with_schedules:
            await ensure_schedules(client, settings, pool)
        async with httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0)) as http:
            messaging = MessagingActivities(
                pool=pool,
                sms=build_sms(settings, http),
                mailer=build_mailer(settings),
                staff_email=settings.staff_email,
            )
            intake = IntakeActivities(
                pool=pool,
                client=client,
                gateway=visit_gateway(settings, client),
                mindbody=build_mindbody(settings, http),
                mailer=build_mailer(settings),
                manager_email=settings.manager_email or settings.staff_email,
            )
            yield Worker(
                client,
                task_queue=settings.task_queue,
                workflows=list(WORKFLOWS),
                activities=activity_list(
                    ledger=LedgerActivities(pool),
                    alerts=StaffAlertActivities(pool),
                    messaging=messaging,
                    intake=intake,
                    polling=PollingActivities(pool, build_zenoti(settings, http)),
                ),
                max_concurrent_activities=settings.worker_max_concurrent_activities,
                max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
                graceful_shutdown_timeout=timedelta(
                    seconds=settings.worker_graceful_shutdown_seconds
                ),
            )
    finally:
        await pool.close()


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or `stop`), then finish in-flight tasks and exit."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    client = await connect_temporal(settings)
    async with build_worker(settings, client, with_schedules=True) as worker:
        log.info(
            "worker polling task queue %s at %s", settings.task_queue, settings.temporal_address
        )
        async with worker:
            await stop.wait()
            log.info("shutting down: finishing in-flight tasks")
