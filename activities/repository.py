"""Repositories over the asyncpg pool: clients, package types and the ledger, read as models.

Starter code (API, CLI, webhooks, reports) reads and writes the database only through
these classes, so SQL lives in one place and callers get typed, frozen rows.
"""

from __future__ import annotations

import builtins
import re
from datetime import datetime
from typing import Literal

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from workflows.models import EntryKind, PackageKind, PackageStatus, PackageTerms

E164 = r"^\+[1-9]\d{1,14}$"
_MIN_PHONE_DIGITS = 7  # fewer digits than this match too many phones to mean anything


class Row(BaseModel):
    """Base for rows as stored: frozen, and no column left unnamed."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# --- clients --------------------------------------------------------------------------


class ClientRecord(Row):
    client_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    phone: str | None = Field(default=None, pattern=E164)
    email: str | None = None
    sms_opt_out: bool = False
    email_opt_out: bool = False


_CLIENT_COLUMNS = "client_id, name, phone, email, sms_opt_out, email_opt_out"


class ClientRepository:
    """Clients and their contact preferences."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert(self, client: ClientRecord) -> ClientRecord:
        """Create or update a client; returns the row as stored.

        Opt-outs are sticky: an upsert can set them but never clears them, so a CRM sync
        or CSV import cannot undo a client's STOP. Use `set_sms_opt_out` to opt back in.
        """
        row = await self._pool.fetchrow(
            f"""
            INSERT INTO clients ({_CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (client_id) DO UPDATE SET
                name = EXCLUDED.name,
                phone = EXCLUDED.phone,
                email = EXCLUDED.email,
                sms_opt_out = clients.sms_opt_out OR EXCLUDED.sms_opt_out,
                email_opt_out = clients.email_opt_out OR EXCLUDED.email_opt_out,
                updated_at = now()
            RETURNING {_CLIENT_COLUMNS}
            """,
            client.client_id,
            client.name,
            client.phone,
            client.email,
            client.sms_opt_out,
            client.email_opt_out,
        )
        assert row is not None  # INSERT … RETURNING always yields the row
        return ClientRecord.model_validate(dict(row))

    async def get(self, client_id: str) -> ClientRecord | None:
        row = await self._pool.fetchrow(
            f"SELECT {_CLIENT_COLUMNS} FROM clients WHERE client_id = $1", client_id
        )
        return None if row is None else ClientRecord.model_validate(dict(row))

    async def find(self, text: str, *, limit: int = 50) -> builtins.list[ClientRecord]:
        """Front-desk search: part of the name, or a phone typed in any format.

        A phone matches exactly, or by its trailing digits when the text has at least
        seven, so "(555) 555-0100" finds +15555550100.
        """
        text = text.strip()
        if not text:
            return []
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"
        digits = re.sub(r"\D", "", text)
        suffix = "%" + digits if len(digits) >= _MIN_PHONE_DIGITS else None
        rows = await self._pool.fetch(
            f"""
            SELECT {_CLIENT_COLUMNS} FROM clients
            WHERE name ILIKE $1 OR phone = $2 OR ($3::text IS NOT NULL AND phone LIKE $3)
            ORDER BY lower(name), client_id
            LIMIT $4
            """,
            pattern,
            text,
            suffix,
            limit,
        )
        return [ClientRecord.model_validate(dict(row)) for row in rows]

    async def set_sms_opt_out(self, client_id: str, opted_out: bool) -> bool:
        """Record a STOP (or a START); returns False when there is no such client."""
        status = await self._pool.execute(
            "UPDATE clients SET sms_opt_out = $2, updated_at = now() WHERE client_id = $1",
            client_id,
            opted_out,
        )
        return status != "UPDATE 0"

    async def set_sms_opt_out_by_phone(self, phone: str, opted_out: bool) -> builtins.list[str]:
        """Apply an inbound STOP/START to every client sharing that number (families do)."""
        rows = await self._pool.fetch(
            """
            UPDATE clients SET sms_opt_out = $2, updated_at = now()
            WHERE phone = $1
            RETURNING client_id
            """,
            phone,
            opted_out,
        )
        return sorted(row["client_id"] for row in rows)


# --- package types --------------------------------------------------------------------


class PackageTypeRecord(Row):
    """What the spa sells; the terms are copied into each package at sale."""

    type_code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    kind: PackageKind = PackageKind.SESSIONS
    units: int = Field(gt=0)
    price_cents: int = Field(ge=0)
    expiry_months: int | None = Field(default=None, gt=0, description="None: the spa default")
    categories: builtins.list[str] = Field(default_factory=builtins.list)
    no_show_forfeits: bool = False
    late_cancel_forfeits: bool = False
    vip_rollover_max: int = Field(default=0, ge=0)
    min_interval_days: int | None = Field(default=None, gt=0)
    enforce_zero_balance: bool = True

    def terms(self) -> PackageTerms:
        """The terms frozen into a package sold today (expiry is computed by the seller)."""
        return PackageTerms(
            type_code=self.type_code,
            name=self.name,
            kind=self.kind,
            units=self.units,
            price_cents=self.price_cents,
            categories=self.categories,
            no_show_forfeits=self.no_show_forfeits,
            late_cancel_forfeits=self.late_cancel_forfeits,
            vip_rollover_max=self.vip_rollover_max,
            min_interval_days=self.min_interval_days,
            enforce_zero_balance=self.enforce_zero_balance,
        )


_TYPE_COLUMNS = (
    "type_code, name, kind, units, price_cents, expiry_months, categories, no_show_forfeits, "
    "late_cancel_forfeits, vip_rollover_max, min_interval_days, enforce_zero_balance"
)


class PackageTypeRepository:
    """The catalogue of package types."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert(self, package_type: PackageTypeRecord) -> None:
        """Create or replace a type; packages already sold keep their own terms."""
        t = package_type
        await self._pool.execute(
            f"""
            INSERT INTO package_types ({_TYPE_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (type_code) DO UPDATE SET
                name = EXCLUDED.name,
                kind = EXCLUDED.kind,
                units = EXCLUDED.units,
                price_cents = EXCLUDED.price_cents,
                expiry_months = EXCLUDED.expiry_months,
                categories = EXCLUDED.categories,
                no_show_forfeits = EXCLUDED.no_show_forfeits,
                late_cancel_forfeits = EXCLUDED.late_cancel_forfeits,
                vip_rollover_max = EXCLUDED.vip_rollover_max,
                min_interval_days = EXCLUDED.min_interval_days,
                enforce_zero_balance = EXCLUDED.enforce_zero_balance
            """,
            t.type_code,
            t.name,
            t.kind.value,
            t.units,
            t.price_cents,
            t.expiry_months,
            t.categories,
            t.no_show_forfeits,
            t.late_cancel_forfeits,
            t.vip_rollover_max,
            t.min_interval_days,
            t.enforce_zero_balance,
        )

    async def get(self, type_code: str) -> PackageTypeRecord | None:
        row = await self._pool.fetchrow(
            f"SELECT {_TYPE_COLUMNS} FROM package_types WHERE type_code = $1", type_code
        )
        return None if row is None else PackageTypeRecord.model_validate(dict(row))

    async def list(self) -> builtins.list[PackageTypeRecord]:
        rows = await self._pool.fetch(
            f"SELECT {_TYPE_COLUMNS} FROM package_types ORDER BY type_code"
        )
        return [PackageTypeRecord.model_validate(dict(row)) for row in rows]


# --- ledger, balances, alerts, messages (read side) -----------------------------------


class BalanceRow(Row):
    """One row of `packages`: the balance as of entry `last_seq`."""

    package_id: str
    client_id: str
    type_code: str
    name: str
    kind: PackageKind
    status: PackageStatus
    remaining: int
    purchased_units: int
    paid_cents: int
    unused_value_cents: int
    refund_due_cents: int | None
    pace_at_risk: bool
    purchased_at: datetime
    expires_at: datetime | None
    parent_purchase_id: str | None
    last_seq: int
    updated_at: datetime


class LedgerRow(Row):
    entry_id: int
    package_id: str
    client_id: str
    seq: int
    idempotency_key: str
    kind: EntryKind
    units_delta: int
    balance_after: int
    value_cents: int
    appointment_id: str | None
    provider_id: str | None
    actor: str
    source: str
    reason: str | None
    outcome: str
    occurred_at: datetime
    recorded_at: datetime


class AlertRow(Row):
    alert_key: str
    package_id: str
    client_id: str
    kind: str
    message: str
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class MessageRow(Row):
    message_key: str
    channel: Literal["sms", "email"]
    client_id: str | None
    package_id: str | None
    kind: str
    recipient: str | None
    subject: str | None
    body: str
    status: str
    provider_message_id: str | None
    error: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime


_BALANCE_COLUMNS = (
    "package_id, client_id, type_code, name, kind, status, remaining, purchased_units, "
    "paid_cents, unused_value_cents, refund_due_cents, pace_at_risk, purchased_at, expires_at, "
    "parent_purchase_id, last_seq, updated_at"
)
_LEDGER_COLUMNS = (
    "entry_id, package_id, client_id, seq, idempotency_key, kind, units_delta, balance_after, "
    "value_cents, appointment_id, provider_id, actor, source, reason, outcome, occurred_at, "
    "recorded_at"
)
_ALERT_COLUMNS = (
    "alert_key, package_id, client_id, kind, message, created_at, acknowledged_at, acknowledged_by"
)
_MESSAGE_COLUMNS = (
    "message_key, channel, client_id, package_id, kind, recipient, subject, body, status, "
    "provider_message_id, error, attempts, created_at, updated_at"
)


class LedgerReader:
    """Read-only views of what the activities wrote, for the API, CLI and reports."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def balances_for_client(self, client_id: str) -> list[BalanceRow]:
        """Every package of the client, newest purchase first."""
        rows = await self._pool.fetch(
            f"""
            SELECT {_BALANCE_COLUMNS} FROM packages WHERE client_id = $1
            ORDER BY purchased_at DESC, package_id DESC
            """,
            client_id,
        )
        return [BalanceRow.model_validate(dict(row)) for row in rows]

    async def balance(self, package_id: str) -> BalanceRow | None:
        row = await self._pool.fetchrow(
            f"SELECT {_BALANCE_COLUMNS} FROM packages WHERE package_id = $1", package_id
        )
        return None if row is None else BalanceRow.model_validate(dict(row))

    async def entries(self, package_id: str) -> list[LedgerRow]:
        """The package's audit trail in the order the workflow wrote it."""
        rows = await self._pool.fetch(
            f"SELECT {_LEDGER_COLUMNS} FROM ledger_entries WHERE package_id = $1 ORDER BY seq",
            package_id,
        )
        return [LedgerRow.model_validate(dict(row)) for row in rows]

    async def count_entries(self, package_id: str, kind: str | None = None) -> int:
        count = await self._pool.fetchval(
            """
            SELECT count(*) FROM ledger_entries
            WHERE package_id = $1 AND ($2::text IS NULL OR kind = $2)
            """,
            package_id,
            kind,
        )
        return int(count)

    async def open_alerts(self, limit: int = 50) -> list[AlertRow]:
        """Unacknowledged alerts, oldest first: the queue staff work down."""
        rows = await self._pool.fetch(
            f"""
            SELECT {_ALERT_COLUMNS} FROM staff_alerts WHERE acknowledged_at IS NULL
            ORDER BY created_at, alert_key
            LIMIT $1
            """,
            limit,
        )
        return [AlertRow.model_validate(dict(row)) for row in rows]

    async def messages_for_client(self, client_id: str) -> list[MessageRow]:
        """Every message attempt to the client, oldest first."""
        rows = await self._pool.fetch(
            f"""
            SELECT {_MESSAGE_COLUMNS} FROM outbound_messages WHERE client_id = $1
            ORDER BY created_at, message_key, channel
            """,
            client_id,
        )
        return [MessageRow.model_validate(dict(row)) for row in rows]
