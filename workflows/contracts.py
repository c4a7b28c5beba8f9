"""Activity contracts of the package workflow: names, input/result models and options.

The workflows own these so no I/O library ever enters the sandbox; `activities/`
implements them under exactly these names.

A package runs three activities, whatever the number of integrations:
- `RECORD_LEDGER` (local): every queued ledger row in order, in the workflow task that
  queued them (rows a lost task wrote are voided by the next write: activities/ledger.py);
- `PERFORM_EFFECTS`: every due client notice, staff alert, CRM and booking write-back and
  lifecycle webhook of every pending entry, in one activity per drain; each target keeps
  its own idempotency (`outbound_messages`, `staff_alerts`, `integration_syncs`,
  `event_deliveries`), so a retry redoes only what is not yet done;
- `ISSUE_REFUND`: the Stripe refund step of a cancellation (a saga: its answer changes
  the book).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from workflows import policies
from workflows.calls import Contract
from workflows.models import (  # noqa: F401  (re-exported for activities)
    Entry,
    LedgerEffect,
    LifecycleEvent,
    LifecycleEventType,
    Model,
    Notice,
    PackageSnapshot,
)

MAX_LEDGER_BATCH = 50  # rows per local activity: a burst is written in a few statements


class LedgerWriter(Model):
    """The workflow task that writes: its run and its history length when it wrote. A task
    the server refused is retried with a longer history, so a write from a shorter one of
    the same run comes from a superseded task and is refused (see activities/ledger.py)."""

    run_id: str = Field(min_length=1)
    history_length: int = Field(ge=0)


class LedgerBatchInput(Model):
    """Queued ledger rows of one package, in seq order, from the front of its outbox: every
    entry before the first one is recorded by a task the server accepted."""

    package_id: str
    client_id: str
    effects: list[LedgerEffect] = Field(min_length=1, max_length=MAX_LEDGER_BATCH)
    writer: LedgerWriter


class LedgerRefusal(Model):
    """A row PostgreSQL refuses for good (a value out of range, …): it stays unwritten."""

    seq: int
    reason: str


class LedgerBatchResult(Model):
    """`written` rows from the front were recorded (or already were); the row after them
    is `refused` or, when None, every row was written."""

    written: int = Field(ge=0)
    inserted: int = Field(ge=0, description="rows that were new (the rest existed already)")
    refused: LedgerRefusal | None = None
    voided: int = Field(
        default=0, ge=0, description="rows of a lost workflow task moved to the voided table"
    )


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


# --- money and write-back ----------------------------------------------------------------
#
# Secrets, contact details and provider ids never travel in these inputs: the activities
# read them from configuration and Postgres by client id, so history holds no PII.


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


# --- one activity for every effect of a drain ----------------------------------------------


class RenewalOffer(Model):
    """What a renewal offer sells: the package type a Checkout Session is created for."""

    type_code: str
    name: str
    price_cents: int = Field(ge=0)
    fallback_url: str = Field(description="the spa's renewal page when Checkout fails")


class EffectsInput(Model):
    """Every effect a package owes right now. `attempt_limit` is the retry policy's
    maximum: on that attempt, what still fails is recorded as given up instead of raised."""

    package_id: str
    client_id: str
    notices: list[Notice] = Field(default_factory=list)
    offer: RenewalOffer | None = None
    events: list[LifecycleEvent] = Field(default_factory=list)
    sync: PackageSync | None = None
    attempt_limit: int = Field(ge=1)


EffectTarget = Literal[
    "sms",
    "email",
    "staff_alert",
    "staff_email",
    "checkout",
    "crm",
    "booking",
    "webhook",
    "klaviyo",
]


class EffectFailure(Model):
    """One target that failed for good: refused by the provider, or out of retries."""

    key: str = Field(description="notice key, event id, or sync:v<version>")
    target: EffectTarget
    staff_alert: bool = Field(description="the failure is of a staff alert itself")
    reason: str


class EffectsResult(Model):
    """Every effect of the input is settled: done, refused (recorded) or given up."""

    renewal_link: str | None = Field(
        default=None, description="the Checkout link the renewal offer went out with"
    )
    failures: list[EffectFailure] = Field(default_factory=list)
    sent: int = Field(default=0, description="messages and writes that reached a provider now")


RECORD_LEDGER = Contract(
    name="ledger.record_entries",
    arg=LedgerBatchInput,
    result=LedgerBatchResult,
    options=policies.LEDGER,
    local=True,
)
PERFORM_EFFECTS = Contract(
    name="effects.perform",
    arg=EffectsInput,
    result=EffectsResult,
    options=policies.EFFECTS,
)
ISSUE_REFUND = Contract(
    name="payments.issue_refund",
    arg=RefundInput,
    result=RefundResult,
    options=policies.REFUND,
)
