"""The worker process: one registration list, real adapters, a graceful and bounded
shutdown (`workers.shutdown`).

Several replicas may run on one task queue; Temporal spreads the work between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.alerts import StaffAlertActivities
from activities.booking.mindbody import MindbodyApi
from activities.booking.zenoti import ZenotiApi, parse_status_map
from activities.db import apply_migrations, create_pool
from activities.effects import EffectActivities
from activities.events import EventActivities, WebhookPublisher, parse_urls
from activities.imports import ImportActivities
from activities.intake import IntakeActivities, VisitGateway
from activities.ledger import LedgerActivities
from activities.messaging import MessagingActivities, SmtpMailer, TwilioSms
from activities.messaging.handoff import KlaviyoHandoff
from activities.messaging.klaviyo import KlaviyoEvents
from activities.payment_intake import PaymentIntakeActivities
from activities.payments import PaymentActivities, StripeApi
from activities.payments.base import Processor
from activities.payments.renewal_links import RenewalLinks
from activities.payments.square import SquareApi, SquareProcessor
from activities.payments.stripe_processor import StripeProcessor
from activities.polling import PollingActivities
from activities.reports import ReportActivities
from activities.reports.sheets import SheetsPublisher, load_credentials
from activities.repository.client_pages import ClientPageLinks
from activities.sales import SalePolicy
from activities.writeback import build_sync_activities
from workers.codec import codec_from_settings, data_converter_for
from workers.pair import WorkerPair
from workers.schedules import ensure_schedules
from workers.search_attributes import check_search_attributes
from workers.settings import Settings
from workers.shutdown import LocalActivityShutdownInterceptor, close_pool, running
from workers.telemetry import Telemetry, setup_telemetry
from workflows.imports import ImportWorkflow
from workflows.models import NoticePolicy
from workflows.package import PackageWorkflow
from workflows.payment import PaymentWorkflow
from workflows.poll import PollLocationWorkflow
from workflows.reconcile import ReconciliationWorkflow
from workflows.review import ReviewEscalationWorkflow
from workflows.visit import VisitWorkflow

log = logging.getLogger("punchcard.worker")

# On the main task queue; VisitWorkflow has its own (workers/pair.py).
WORKFLOWS: Sequence[type] = (
    PackageWorkflow,
    PaymentWorkflow,
    ReviewEscalationWorkflow,
    PollLocationWorkflow,
    ReconciliationWorkflow,
    ImportWorkflow,
)


async def connect_temporal(settings: Settings, *, telemetry: Telemetry | None = None) -> Client:
    """A client whose payloads are encrypted (when keys are configured) and, with
    `telemetry`, traced and metered; workers built from it inherit both."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter_for(settings),
        interceptors=telemetry.interceptors() if telemetry else [],
        runtime=telemetry.runtime if telemetry else None,
    )


def activity_list(
    *,
    ledger: LedgerActivities,
    effects: EffectActivities,
    intake: IntakeActivities,
    polling: PollingActivities,
    payments: PaymentIntakeActivities,
    reports: ReportActivities,
    stripe: PaymentActivities,
    imports: ImportActivities,
) -> list[Any]:
    """The one registration list: every activity the workflows call."""
    return [
        ledger.record_entries,
        effects.perform,
        intake.find_candidates,
        intake.deliver_to_package,
        intake.open_review_item,
        intake.close_review_item,
        intake.record_route,
        intake.get_route,
        intake.alert_staff,
        intake.enrich_visit,
        intake.submit_visits,
        intake.escalate_reviews,
        polling.read_cursor,
        polling.fetch_page,
        polling.advance_cursor,
        payments.prepare_sale,
        payments.open_review,
        payments.close_review,
        payments.packages_for_payment,
        payments.deliver_refund,
        reports.build_reconciliation,
        reports.email_report,
        stripe.issue_refund,
        imports.process_batch,
        imports.finish,
    ]


def visit_gateway(settings: Settings, client: Client) -> VisitGateway:
    return VisitGateway(client, task_queue=settings.visit_queue, idle_days=settings.visit_idle_days)


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


def build_klaviyo(
    settings: Settings, pool: asyncpg.Pool, http: httpx.AsyncClient
) -> KlaviyoHandoff | None:
    """Klaviyo events when the spa hands client messaging to it. Without a key the worker
    refuses to start: in klaviyo mode no one would message the client at all."""
    if settings.client_messaging == "punchcard":
        return None
    key = settings.klaviyo_private_key
    if key is None or not key.get_secret_value():
        raise ValueError(
            f"PUNCHCARD_CLIENT_MESSAGING={settings.client_messaging} needs "
            "PUNCHCARD_KLAVIYO_PRIVATE_KEY (a private key with the events:write scope)"
        )
    events = KlaviyoEvents(
        http=http,
        base_url=settings.klaviyo_base_url,
        private_key=key,
        revision=settings.klaviyo_revision,
    )
    return KlaviyoHandoff(
        pool=pool, events=events, timezone=settings.spa_timezone, renewal_url=settings.renewal_url
    )


def build_stripe(settings: Settings, http: httpx.AsyncClient) -> StripeApi | None:
    key = settings.stripe_secret_key
    if key is None or not key.get_secret_value():
        return None
    return StripeApi(http, base_url=settings.stripe_base_url, secret_key=key)


def build_processors(settings: Settings, http: httpx.AsyncClient) -> dict[str, Processor]:
    """Every payment processor whose credentials are set, by name."""
    processors: dict[str, Processor] = {}
    api = build_stripe(settings, http)
    if api is not None:
        processors["stripe"] = StripeProcessor(
            api,
            currency=settings.stripe_currency,
            success_url=settings.stripe_success_url,
            cancel_url=settings.stripe_cancel_url,
        )
    token = settings.square_access_token
    if token is not None and token.get_secret_value() and settings.square_location_id:
        processors["square"] = SquareProcessor(
            SquareApi(
                http,
                access_token=token,
                base_url=settings.square_base_url,
                version=settings.square_version,
            ),
            location_id=settings.square_location_id,
            currency=settings.stripe_currency,
            redirect_url=settings.square_redirect_url,
        )
    return processors


def build_payments(
    settings: Settings, pool: asyncpg.Pool, http: httpx.AsyncClient
) -> PaymentActivities:
    """Renewal checkouts and refunds; with a public URL, offers carry stable links."""
    processors = build_processors(settings, http)
    return PaymentActivities(
        pool=pool,
        processor=processors.get(settings.payment_processor),
        refunders=list(processors.values()),
        renewal_url=settings.renewal_url,
        currency=settings.stripe_currency,
        links=(
            RenewalLinks(pool, public_url=settings.api_public_url)
            if settings.api_public_url
            else None
        ),
    )


def build_client_pages(settings: Settings, pool: asyncpg.Pool) -> ClientPageLinks | None:
    """Links to the client's own page, when the API has a public address."""
    if not settings.api_public_url:
        return None
    secret = settings.client_page_key or settings.codec_keys
    key = (
        hashlib.sha256(b"punchcard-client-page:" + secret.get_secret_value().encode()).digest()
        if secret is not None
        else None
    )
    return ClientPageLinks(
        pool,
        public_url=settings.api_public_url,
        key=key,
        lifetime=timedelta(days=settings.client_page_days),
    )


def build_publisher(settings: Settings, http: httpx.AsyncClient) -> WebhookPublisher | None:
    """Lifecycle webhooks; URLs without a signing secret stop the worker at start."""
    urls = parse_urls(settings.event_webhook_urls)
    if not urls:
        return None
    return WebhookPublisher(
        http, urls=urls, secret=settings.event_webhook_secret, timezone=settings.spa_timezone
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


def build_sale_policy(settings: Settings) -> SalePolicy:
    """The spa's terms for a new package, for staff sales and Stripe purchases alike."""
    return SalePolicy(
        notices=NoticePolicy(
            spa_name=settings.spa_name,
            timezone=settings.spa_timezone,
            local_hour=settings.reminder_local_hour,
            renewal_url=settings.renewal_url,
        ),
        default_expiry_months=settings.default_expiry_months,
    )


def build_sheets(settings: Settings, http: httpx.AsyncClient) -> SheetsPublisher | None:
    """The Google Sheet the reconciliation is written to, when both its id and the service
    account's key file are set (one without the other is a configuration error)."""
    sheet, key_file = settings.google_sheets_spreadsheet_id, settings.google_sheets_credentials_file
    if sheet is None and key_file is None:
        return None
    if sheet is None or key_file is None:
        raise ValueError(
            "set both PUNCHCARD_GOOGLE_SHEETS_SPREADSHEET_ID and "
            "PUNCHCARD_GOOGLE_SHEETS_CREDENTIALS_FILE, or neither"
        )
    return SheetsPublisher(
        http=http,
        credentials=load_credentials(key_file, token_uri=settings.google_sheets_token_uri),
        spreadsheet_id=sheet,
        base_url=settings.google_sheets_base_url,
    )


def build_reports(
    settings: Settings, pool: asyncpg.Pool, http: httpx.AsyncClient | None = None
) -> ReportActivities:
    """The reconciliation goes to the manager (else the staff address), and to the Google
    Sheet when one is configured."""
    return ReportActivities(
        pool=pool,
        mailer=build_mailer(settings),
        manager_email=settings.manager_email or settings.staff_email,
        timezone=settings.spa_timezone,
        spa_name=settings.spa_name,
        reports_dir=settings.reports_dir or settings.data_dir / "reports",
        sheets=None if http is None else build_sheets(settings, http),
    )


@contextlib.asynccontextmanager
async def build_worker(
    settings: Settings, client: Client, *, with_schedules: bool = False
) -> AsyncIterator[WorkerPair]:
    """Open the pool and HTTP client, migrate, and yield the workers wired to real adapters.

    `with_schedules` also ensures the Temporal Schedules (review escalation, polling):
    production workers do; tests start the schedules they need themselves. Run the worker
    with `running(worker, graceful=...)`, which bounds its stop."""
    # Before anything else: without its search attributes the namespace fails every
    # package workflow task (MissingSearchAttributes says how to register them).
    await check_search_attributes(client, client.namespace)
    graceful = graceful_shutdown(settings)
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
            stripe = build_payments(settings, pool, http)
            effects = EffectActivities(
                alerts=StaffAlertActivities(pool),
                messaging=messaging,
                payments=stripe,
                sync=build_sync_activities(settings, pool, http),
                events=EventActivities(pool=pool, publisher=build_publisher(settings, http)),
                klaviyo=build_klaviyo(settings, pool, http),
                client_messaging=settings.client_messaging,
                pages=build_client_pages(settings, pool),
            )
            activities = activity_list(
                ledger=LedgerActivities(pool),
                effects=effects,
                intake=intake,
                polling=PollingActivities(pool, build_zenoti(settings, http)),
                payments=PaymentIntakeActivities(
                    pool=pool,
                    client=client,
                    sales=build_sale_policy(settings),
                    currency=settings.stripe_currency,
                ),
                reports=build_reports(settings, pool, http),
                stripe=stripe,
                imports=ImportActivities(
                    pool=pool,
                    client=client,
                    sales=build_sale_policy(settings),
                    task_queue=settings.task_queue,
                ),
            )

            def worker(task_queue: str, workflows: Sequence[type]) -> Worker:
                # Every activity on both: local activities run on the worker of the
                # workflow task, regular ones on the workflow's queue.
                return Worker(
                    client,
                    task_queue=task_queue,
                    workflows=list(workflows),
                    activities=activities,
                    max_concurrent_activities=settings.worker_max_concurrent_activities,
                    max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
                    max_cached_workflows=settings.worker_max_cached_workflows,
                    max_concurrent_workflow_task_polls=settings.worker_workflow_task_polls,
                    nonsticky_to_sticky_poll_ratio=settings.worker_nonsticky_poll_ratio,
                    graceful_shutdown_timeout=graceful,
                    interceptors=[LocalActivityShutdownInterceptor(graceful)],
                    workflow_runner=workflow_runner(settings),
                )

            yield WorkerPair(
                # VisitWorkflow stays on the main queue too, for runs started there before
                # visits had their own queue (1.0); new runs start on the visits' queue.
                main=worker(settings.task_queue, [*WORKFLOWS, VisitWorkflow]),
                visits=worker(settings.visit_queue, [VisitWorkflow]),
            )
    finally:
        await close_pool(pool)


def workflow_runner(settings: Settings) -> WorkflowRunner:
    """Temporal's sandbox when `worker_workflow_sandbox` (the test suite), else none.

    The sandbox re-imports a workflow's modules for every run and proxies the standard
    library, which cost a new visit workflow more than its own logic: in the burst bench
    (600 completions) a workflow task took 62 ms on average sandboxed, 31 ms with every
    module passed through, 21 ms unsandboxed; completions end to end 14/s, 17/s, 20/s.
    Passing modules through also lets `datetime.now()` through (the module is imported
    outside the sandbox), so it is no middle way. The guard stays where it catches
    mistakes: every workflow test runs sandboxed, and so does the replay of the committed
    histories; workflow modules keep no state (STYLE.md), so sharing them is safe.
    """
    if settings.worker_workflow_sandbox:
        return SandboxedWorkflowRunner()
    return UnsandboxedWorkflowRunner()


def graceful_shutdown(settings: Settings) -> timedelta:
    """How long in-flight activities get to finish once the worker is asked to stop."""
    return timedelta(seconds=settings.worker_graceful_shutdown_seconds)


async def run_worker(
    settings: Settings, *, stop: asyncio.Event | None = None, telemetry: Telemetry | None = None
) -> None:
    """Run until SIGINT/SIGTERM (or `stop`), then finish in-flight tasks and exit.

    The stop is bounded: activities get the graceful period, then are cancelled; if the
    SDK still has not stopped shortly after, `WorkerStopTimedOut` is raised.

    `telemetry` is shared with the caller's other clients (the embedded stack's API);
    without it the worker sets up its own from settings."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    own_telemetry = telemetry is None
    telemetry = telemetry or setup_telemetry(settings)
    try:
        await _serve(settings, stop, telemetry)
    finally:
        if own_telemetry:
            telemetry.shutdown()


async def _serve(settings: Settings, stop: asyncio.Event, telemetry: Telemetry) -> None:
    if codec_from_settings(settings) is None:
        log.warning(
            "PUNCHCARD_CODEC_KEYS is unset: payloads go to Temporal history unencrypted "
            "(make a key with `punchcard codec new-key`)"
        )
    client = await connect_temporal(settings, telemetry=telemetry)
    async with build_worker(settings, client, with_schedules=True) as worker:
        log.info(
            "worker polling task queues %s and %s at %s",
            settings.task_queue,
            settings.visit_queue,
            settings.temporal_address,
        )
        async with running(worker, graceful=graceful_shutdown(settings)):
            await stop.wait()
            log.info("shutting down: finishing in-flight tasks")
