"""The permanent Postgres ledger: every workflow entry mirrored as one append-only row.

Temporal deletes closed histories after the namespace retention; finance needs years, so
each entry is written here together with the package's balance row, in one transaction.

Failures:
    ApplicationError(type="UnknownClient", non_retryable) — the client row is missing.
    ApplicationError(type="LedgerSeqConflict") — another entry already holds this seq
        (e.g. after a workflow reset); retried until an operator resolves it.
    ApplicationError(type="DatabaseRefused", non_retryable) — PostgreSQL refuses a value
        of the row (out of range, NUL in text, too large for an index; see
        activities.failures): the package records the failure and alerts staff.
    Anything else (the database unreachable, restarting) propagates and is retried.
"""

from __future__ import annotations

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.failures import is_refusal, refused
from workflows import contracts
from workflows.contracts import (
    LedgerBatchInput,
    LedgerBatchResult,
    LedgerEntryInput,
    LedgerEntryResult,
    LedgerRefusal,
)
from workflows.policies import INVALID_DATA, UNKNOWN_CLIENT

LEDGER_SEQ_CONFLICT = "LedgerSeqConflict"

_CLIENT_EXISTS = "SELECT EXISTS (SELECT 1 FROM clients WHERE client_id = $1)"

# First entry of a package creates its balance row; later ones go through _ADVANCE_BALANCE.
_CREATE_BALANCE = """
INSERT INTO packages (
    package_id, client_id, type_code, name, kind, status, remaining, purchased_units,
    paid_cents, unused_value_cents, refund_due_cents, pace_at_risk, purchased_at,
    expires_at, parent_purchase_id, last_seq, payment_intent_id, location_id
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
ON CONFLICT (package_id) DO NOTHING
"""

# Only a newer entry moves the balance: a late retry of an older one must not roll it back.
_ADVANCE_BALANCE = """
UPDATE packages SET
    status = $2, remaining = $3, purchased_units = $4, paid_cents = $5,
    unused_value_cents = $6, refund_due_cents = $7, pace_at_risk = $8, expires_at = $9,
    last_seq = $10, updated_at = now()
WHERE package_id = $1 AND last_seq < $10
"""

_INSERT_ENTRY = """
INSERT INTO ledger_entries (
    package_id, client_id, seq, idempotency_key, kind, units_delta, balance_after,
    value_cents, appointment_id, provider_id, actor, source, reason, outcome, occurred_at
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (package_id, idempotency_key) DO NOTHING
RETURNING entry_id
"""


class LedgerActivities:
    """Writes ledger rows and the balance projection; constructed with the worker's pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name=contracts.RECORD_LEDGER.name)
    async def record_entries(self, input: LedgerBatchInput) -> LedgerBatchResult:
        """Append the queued rows of one package in order, each in its own transaction.

        A row PostgreSQL refuses for good stops the batch there and is answered (not
        raised), so the rows before it stay written and the package can alert staff about
        that one row. Any other failure is raised and the whole batch retried: rows
        already written are no-ops by their key.
        """
        inserted = 0
        for written, effect in enumerate(input.effects):
            one = LedgerEntryInput(
                package_id=input.package_id,
                client_id=input.client_id,
                entry=effect.entry,
                snapshot=effect.snapshot,
            )
            try:
                result = await self.record_entry(one)
            except ApplicationError as err:
                if err.type != INVALID_DATA:
                    raise
                refusal = LedgerRefusal(seq=effect.entry.seq, reason=err.message)
                return LedgerBatchResult(written=written, inserted=inserted, refused=refusal)
            inserted += result.inserted
        return LedgerBatchResult(written=len(input.effects), inserted=inserted)

    async def record_entry(self, input: LedgerEntryInput) -> LedgerEntryResult:
        """Append one entry and advance the balance row, idempotent on the entry key.

        A duplicate delivery (same package and key) writes nothing, so retries and
        replays after a worker crash are safe.

        Raises:
            ApplicationError: `UnknownClient` (non-retryable) when the client row is
                missing, since retrying cannot create it; `LedgerSeqConflict` when a
                different entry already holds this seq; `InvalidData` (non-retryable)
                when PostgreSQL refuses a value of the row.
        """
        try:
            inserted = await self._write(input)
        except asyncpg.PostgresError as err:
            if not is_refusal(err):
                raise
            entry = input.entry
            activity.logger.error(
                "ledger entry seq %s of package %s refused: %s",
                entry.seq,
                input.package_id,
                type(err).__name__,
            )
            raise refused(
                err, f"ledger entry {entry.seq} ({entry.kind.value}) of {input.package_id!r}"
            ) from err
        return LedgerEntryResult(inserted=inserted)

    async def _write(self, input: LedgerEntryInput) -> bool:
        entry, snap = input.entry, input.snapshot
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(_CLIENT_EXISTS, input.client_id):
                raise ApplicationError(
                    f"unknown client {input.client_id!r}: create the client before "
                    f"recording package {input.package_id!r}",
                    type=UNKNOWN_CLIENT,
                    non_retryable=True,
                )
            # The ledger row references the package row, so the sale creates it first.
            await conn.execute(
                _CREATE_BALANCE,
                input.package_id,
                input.client_id,
                snap.type_code,
                snap.name,
                snap.kind.value,
                snap.status.value,
                snap.remaining,
                snap.purchased_units,
                snap.paid_cents,
                snap.unused_value_cents,
                snap.refund_due_cents,
                snap.pace_at_risk,
                snap.purchased_at,
                snap.expires_at,
                snap.parent_purchase_id,
                entry.seq,
                snap.payment_intent_id,
                snap.location_id,
            )
            try:
                entry_id = await conn.fetchval(
                    _INSERT_ENTRY,
                    input.package_id,
                    input.client_id,
                    entry.seq,
                    entry.key,
                    entry.kind.value,
                    entry.units_delta,
                    entry.balance_after,
                    entry.value_cents,
                    entry.appointment_id,
                    entry.provider_id,
                    entry.actor,
                    entry.source,
                    entry.reason,
                    entry.outcome,
                    entry.at,
                )
            except asyncpg.UniqueViolationError as err:
                raise ApplicationError(
                    f"package {input.package_id!r} already has a different entry at "
                    f"seq {entry.seq}",
                    type=LEDGER_SEQ_CONFLICT,
                ) from err
            if entry_id is None:
                activity.logger.info(
                    "ledger entry seq %s of package %s already recorded",
                    entry.seq,
                    input.package_id,
                )
                return False
            await conn.execute(
                _ADVANCE_BALANCE,
                input.package_id,
                snap.status.value,
                snap.remaining,
                snap.purchased_units,
                snap.paid_cents,
                snap.unused_value_cents,
                snap.refund_due_cents,
                snap.pace_at_risk,
                snap.expires_at,
                entry.seq,
            )
        activity.logger.info(
            "ledger entry seq %s (%s) of package %s recorded",
            entry.seq,
            entry.kind.value,
            input.package_id,
        )
        return True
