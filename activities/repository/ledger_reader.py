"""The read side of what the activities wrote: balances, ledger entries, alerts, messages."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import asyncpg

from activities.repository.base import Row
from workflows.models import EntryKind, PackageSnapshot


class BalanceRow(PackageSnapshot):
    """One row of `packages`: the package's snapshot as of ledger entry `last_seq`."""

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
    package_id: str | None
    client_id: str | None
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
    "parent_purchase_id, last_seq, updated_at, location_id, frozen_through, "
    "awaiting_activation"
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

    async def shared_holders(self, parent_purchase_id: str) -> list[tuple[str, str, str]]:
        """(package id, client id, client name) of every share of one shared purchase."""
        rows = await self._pool.fetch(
            """
            SELECT p.package_id, p.client_id, COALESCE(c.name, p.client_id) AS name
            FROM packages p LEFT JOIN clients c ON c.client_id = p.client_id
            WHERE p.parent_purchase_id = $1
            ORDER BY p.package_id
            """,
            parent_purchase_id,
        )
        return [(r["package_id"], r["client_id"], r["name"]) for r in rows]

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
