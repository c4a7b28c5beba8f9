"""Activity contracts: names and input/result models.

The workflows own these so no I/O library ever enters the sandbox; `activities/`
implements them under exactly these names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from workflows.models import (  # noqa: F401  (re-exported for activities)
    Entry,
    LifecycleEvent,
    LifecycleEventType,
    Model,
    PackageSnapshot,
)

RECORD_LEDGER_ENTRY = "ledger.record_entry"
SEND_CLIENT_SMS = "messaging.send_client_sms"
SEND_CLIENT_EMAIL = "messaging.send_client_email"
RECORD_STAFF_ALERT = "alerts.record_staff_alert"
SEND_STAFF_EMAIL = "messaging.send_staff_email"
RECORD_UNDELIVERED = "messaging.record_undelivered"


class LedgerEntryInput(Model):
    """Append one entry; the snapshot is the balance right after it (for the balance table)."""

    package_id: str
    client_id: str
    entry: Entry
    snapshot: PackageSnapshot


class LedgerEntryResult(Model):
    inserted: bool = Field(description="False when the (package, key) row already existed")


class ClientMessageInput(Model):
    """A message to a client; contact details and opt-outs are looked up by the activity."""

    message_key: str
    client_id: str
    package_id: str
    kind: str
    subject: str
    body: str


DeliveryStatus = Literal[
    "sent", "already_sent", "opted_out", "no_address", "not_configured", "rejected"
]


class DeliveryResult(Model):
    status: DeliveryStatus
    channel: Literal["sms", "email"]
    provider_message_id: str | None = None
    detail: str | None = None


class StaffAlertInput(Model):
    alert_key: str
    package_id: str
    client_id: str
    kind: str
    message: str


class StaffAlertResult(Model):
    recorded: bool


class UndeliveredInput(Model):
    """A message whose retries ran out (timed out, not rejected): recorded as failed."""

    message_key: str
    channel: Literal["sms", "email"]
    reason: str


# --- money and write-back (issue 4) ----------------------------------------------------
#
# Secrets, contact details and provider ids never travel in these inputs: the activities
# read them from configuration and Postgres by client id, so history holds no PII.

CREATE_RENEWAL_CHECKOUT = "payments.create_renewal_checkout"
ISSUE_REFUND = "payments.issue_refund"
SYNC_CRM = "crm.sync_package"
WRITE_BACK_BOOKING = "booking.write_back"
PUBLISH_EVENT = "events.publish"


class RenewalCheckoutInput(Model):
    """A Stripe Checkout Session for renewing `package_id` with a new `type_code` package.

    `offer_key` is the business key of the offer (package id and notice key); the adapter
    derives Stripe's Idempotency-Key from it, so a retried activity creates one session.
    """

    offer_key: str = Field(min_length=1, max_length=200)
    package_id: str
    client_id: str
    type_code: str
    name: str
    price_cents: int = Field(ge=0)


class RenewalCheckoutResult(Model):
    status: Literal["created", "not_configured"]
    url: str = Field(description="Checkout URL, or the spa's renewal page when not configured")
    session_id: str | None = None


class RefundInput(Model):
    """Refund part of a Stripe payment; `refund_key` becomes Stripe's Idempotency-Key."""

    refund_key: str = Field(min_length=1, max_length=200)
    package_id: str
    client_id: str
    payment_intent_id: str = Field(min_length=1)
    amount_cents: int = Field(gt=0)
    reason: str


class RefundResult(Model):
    refund_id: str
    status: str = Field(description="Stripe refund status: pending, succeeded, …")
    amount_cents: int


class PackageSync(Model):
    """What CRM and booking platforms learn after a balance change (latest version wins)."""

    version: int = Field(ge=1)
    package_id: str
    client_id: str
    type_code: str
    name: str
    kind: Literal["sessions", "dollars"]
    status: str
    remaining: int
    purchased_units: int
    expires_at: datetime | None
    last_session_at: datetime | None = None
    renewal_url: str | None = None


SyncStatus = Literal["updated", "not_configured", "not_linked", "read_only", "rejected"]


class SyncTargetResult(Model):
    target: str = Field(description="hubspot, gohighlevel, mindbody, boulevard, zenoti")
    status: SyncStatus
    detail: str | None = None


class SyncResult(Model):
    results: list[SyncTargetResult] = Field(default_factory=list)


class PublishResult(Model):
    endpoints: int
    delivered: int = Field(description="endpoints that answered 2xx (now or before)")
