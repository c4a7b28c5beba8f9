"""Activity contracts: names and input/result models.

The workflows own these so no I/O library ever enters the sandbox; `activities/`
implements them under exactly these names.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from workflows.models import Entry, Model, PackageSnapshot

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
