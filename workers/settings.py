"""Configuration, from environment variables only (prefix PUNCHCARD_). Documented in README."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PUNCHCARD_", extra="ignore")

    # Temporal
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "punchcard-packages"
    # Visit workflows have a queue (and worker) of their own: workers/pair.py says why.
    # Empty: the task queue's name with "-visits".
    visit_task_queue: str = ""
    temporal_ui_port: int = 8233

    # PostgreSQL: when unset, `punchcard up` runs the embedded server under data_dir.
    database_url: SecretStr | None = None
    database_pool_size: int = Field(default=10, ge=1)
    data_dir: Path = Path(".punchcard")

    # The spa
    spa_name: str = "Punchcard Med Spa"
    spa_timezone: str = "America/New_York"
    # ISO 3166 region of the spa: phones imported without a country code are read as its.
    spa_country: str = "US"
    reminder_local_hour: int = Field(default=10, ge=0, le=23)
    default_expiry_months: int = Field(default=12, gt=0)
    renewal_url: str = "https://punchcard.invalid/renew/{package_id}"

    # Twilio (SMS). Without an account SID, SMS is recorded as not_configured, not sent.
    twilio_base_url: str = "https://api.twilio.com"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None

    # Email over SMTP. Without a host, email is recorded as not_configured, not sent.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    email_from: str = "Punchcard <no-reply@punchcard.invalid>"
    staff_email: str | None = None

    # Who messages clients about their packages: punchcard (Twilio/SMTP, the default),
    # klaviyo (lifecycle notices become Klaviyo events for the spa's flows; other notices
    # still go out through Punchcard) or both. See README "Klaviyo".
    client_messaging: Literal["punchcard", "klaviyo", "both"] = "punchcard"
    klaviyo_base_url: str = "https://a.klaviyo.com"
    klaviyo_private_key: SecretStr | None = None  # needs the events:write scope
    klaviyo_revision: str = "2026-07-15"  # the API revision header

    # HTTP API (staff endpoints, webhooks, the front-desk page)
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_public_url: str | None = None  # as providers call us, e.g. behind a TLS proxy
    # The client's own page (/me/{token}), linked from every client message when
    # api_public_url is set. The key lets the worker write one link per client into every
    # message (default: derived from codec_keys; with neither, each message gets a new one).
    client_page_days: int = Field(default=180, ge=1, le=3650)
    client_page_key: SecretStr | None = None
    manager_email: str | None = None  # review items older than a day are escalated here
    review_escalate_hours: float = Field(default=24, gt=0)
    visit_idle_days: float = Field(default=30, gt=0)
    # A completion, no-show or late-cancel webhook is answered once its visit settled it,
    # or after this many seconds (still 2xx: it is durable); 0 answers at once.
    webhook_settle_seconds: float = Field(default=5.0, ge=0, le=25)
    # The first manager's token on a spa with none (setup through the API alone); see README.
    bootstrap_manager_token: SecretStr | None = None

    # Boulevard webhooks. The signature scheme is unconfirmed (see README): configurable.
    boulevard_webhook_secret: SecretStr | None = None
    boulevard_signature_header: str = "x-blvd-signature,blvd-signature"
    boulevard_signature_encoding: str = "either"  # hex | base64 | either
    boulevard_allow_unsigned: bool = False

    # Mindbody: webhook signature key, and the Public API for ids-only cancellations.
    mindbody_signature_key: SecretStr | None = None
    mindbody_base_url: str = "https://api.mindbodyonline.com/public/v6"
    mindbody_api_key: SecretStr | None = None
    mindbody_staff_token: SecretStr | None = None

    # Stripe webhooks
    stripe_webhook_secret: SecretStr | None = None
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1)

    # Stripe API: renewal Checkout Sessions and refunds (balances stay ours).
    stripe_base_url: str = "https://api.stripe.com"
    stripe_secret_key: SecretStr | None = None
    stripe_currency: str = "usd"
    stripe_success_url: str = "https://punchcard.invalid/renewed?session={CHECKOUT_SESSION_ID}"
    stripe_cancel_url: str | None = None

    # The processor renewal checkouts go through: stripe | square. Refunds always go to
    # the processor a payment was made with (both may be configured).
    payment_processor: Literal["stripe", "square"] = "stripe"

    # Square: Payment Links for renewals, the Refunds API, payment/refund webhooks.
    # Sandbox: https://connect.squareupsandbox.com. Payments are in PUNCHCARD_STRIPE_CURRENCY.
    square_base_url: str = "https://connect.squareup.com"
    square_access_token: SecretStr | None = None
    square_version: str = "2025-01-23"  # the Square-Version header
    square_location_id: str | None = None
    square_redirect_url: str | None = None  # checkout_options.redirect_url; {package_id}
    square_webhook_signature_key: SecretStr | None = None
    # The notification URL exactly as configured in Square (it is signed); default:
    # PUNCHCARD_API_PUBLIC_URL + /webhooks/square.
    square_notification_url: str | None = None

    # CRM write-back after every balance change: none | hubspot | gohighlevel | salesforce
    crm_provider: Literal["none", "hubspot", "gohighlevel", "salesforce"] = "none"
    hubspot_base_url: str = "https://api.hubapi.com"
    hubspot_token: SecretStr | None = None
    hubspot_property_prefix: str = "punchcard_"
    gohighlevel_base_url: str = "https://services.leadconnectorhq.com"
    gohighlevel_token: SecretStr | None = None
    gohighlevel_location_id: str | None = None
    gohighlevel_field_keys: str = ""  # overrides, e.g. "sessions_remaining=contact.pc_left"
    # Salesforce: OAuth client credentials against the org's My Domain URL; the instance
    # URL comes with the token unless set. Upsert by external id (README: Salesforce).
    salesforce_login_url: str = "https://login.salesforce.com"
    salesforce_instance_url: str = ""
    salesforce_client_id: SecretStr | None = None
    salesforce_client_secret: SecretStr | None = None
    # JWT bearer flow instead, when a private key (PEM; "\n" escapes accepted) is set.
    salesforce_username: str | None = None
    salesforce_private_key: SecretStr | None = None
    salesforce_jwt_audience: str = "https://login.salesforce.com"
    salesforce_api_version: str = "v62.0"
    salesforce_object: str = "Contact"
    salesforce_external_id_field: str = "Punchcard_Client_Id__c"
    salesforce_field_names: str = ""  # overrides, e.g. "sessions_remaining=Sessions_Left__c"

    # Booking-platform write-back: which linked platforms get the remaining count.
    booking_write_back: str = ""  # comma list of mindbody, boulevard, zenoti
    mindbody_site_id: str | None = None
    boulevard_base_url: str = "https://dashboard.boulevard.io/api/2020-01"
    boulevard_business_id: str | None = None
    boulevard_api_key: str | None = None
    boulevard_api_secret: SecretStr | None = None
    # A renewal paid through Stripe also sold in Mindbody as a pricing option (README):
    # "type_code=<pricing option id>, …"; empty: off. Paid as comp | custom:<method id>.
    mindbody_renewal_pricing_options: str = ""
    mindbody_renewal_payment: str = "comp"
    mindbody_location_id: int | None = None

    # Outbound lifecycle webhooks (package.created, .redeemed, …), HMAC-signed.
    event_webhook_urls: str = ""  # comma-separated
    event_webhook_secret: SecretStr | None = None

    # Payload encryption in Temporal history: "kid:base64key,…", the first one encrypts.
    codec_keys: SecretStr | None = None
    temporal_ui_origin: str = "http://localhost:8233"  # CORS origin allowed on /codec

    # Observability
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    otel_endpoint: str | None = None  # OTLP/gRPC, e.g. http://otel-collector:4317
    otel_service_name: str = "punchcard"
    metrics_bind: str | None = None  # Prometheus endpoint, e.g. 0.0.0.0:9464
    log_format: Literal["text", "json"] = "text"

    # Reports: the weekly reconciliation (cron in the spa's time zone)
    reconciliation_cron: str = "0 7 * * MON"
    reports_dir: Path | None = None  # defaults to data_dir/reports
    # The reconciliation written to a Google Sheet after each run (Looker Studio reads it):
    # a service account's JSON key file, and the spreadsheet shared with its email as editor
    google_sheets_spreadsheet_id: str | None = None
    google_sheets_credentials_file: Path | None = None
    google_sheets_base_url: str = "https://sheets.googleapis.com"
    google_sheets_token_uri: str | None = None  # default: the key file's token_uri

    # Zenoti polling
    zenoti_base_url: str = "https://api.zenoti.com/v1"
    zenoti_api_key: SecretStr | None = None
    zenoti_appointments_path: str = "/appointments"  # the list endpoint, relative to the base
    zenoti_status_map: str = ""  # extra status mappings, e.g. "7=completed,12=skip"
    poll_interval_minutes: int = Field(default=15, ge=1)

    # Worker
    worker_max_concurrent_activities: int = Field(default=50, ge=1)
    worker_max_concurrent_workflow_tasks: int = Field(default=20, ge=1)
    # Workflows kept in memory between tasks (the sticky cache; the SDK's default). Bounds
    # the worker's memory whatever the number of open packages; one evicted is replayed
    # from its history on its next task.
    worker_max_cached_workflows: int = Field(default=1000, ge=0)
    # Pollers of workflow tasks (the SDK's defaults), and the share of them on the shared
    # queue, where every new workflow's first task waits (the rest poll the sticky queue).
    worker_workflow_task_polls: int = Field(default=5, ge=2)
    worker_nonsticky_poll_ratio: float = Field(default=0.2, gt=0, le=1)
    worker_graceful_shutdown_seconds: float = Field(default=10.0, ge=0)
    # Run workflows in Temporal's sandbox (modules re-imported per run, non-deterministic
    # calls refused). The test suite runs with it on, so a workflow that reads the clock
    # or does I/O fails CI; production runs without it, which halves the workflow task
    # time (see workers.worker.workflow_runner).
    worker_workflow_sandbox: bool = False

    @field_validator("bootstrap_manager_token", "client_page_key")
    @classmethod
    def _long_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 24:
            raise ValueError("use at least 24 random characters (e.g. `openssl rand -hex 24`)")
        return value

    @field_validator("spa_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as America/New_York)"
            ) from None
        return value

    @field_validator("spa_country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown country {value!r} (use a two-letter code such as US or CA)")
        return region

    @field_validator("api_public_url")
    @classmethod
    def _bare_origin(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or parts.path.strip("/")
            or parts.query
        ):
            raise ValueError(
                f"{value!r} must be a scheme and host only, e.g. https://punchcard.example"
            )
        return value.rstrip("/")

    @property
    def visit_queue(self) -> str:
        return self.visit_task_queue or f"{self.task_queue}-visits"

    def database_dsn(self) -> str:
        if self.database_url is None:
            raise ValueError("PUNCHCARD_DATABASE_URL is not set (the embedded stack sets it)")
        return self.database_url.get_secret_value()
