"""The permanent Postgres ledger: every workflow entry mirrored as one append-only row.

Temporal deletes closed histories after the namespace retention; finance needs years, so
each entry is written here together with the package's balance row.

The package workflow writes its queued rows in a local activity inside the workflow task
that accepted the updates, so the desk reads a balance the moment a redemption is
answered. That task can still be refused by the server after the rows were written (a
worker killed mid-task, an update aborted past the server's in-flight limit); the retried
task may then number the same updates differently, or refuse one. The workflow's history
is the truth, and every entry before a batch's first seq was written by a task the server
accepted, so any row at or after it that is not the batch's own is a lost task's row: the
write moves it to `ledger_voided_entries` (with the reason) and writes the batch in its
place, in one transaction. A writer of the same run with a shorter history than the last
one is itself a superseded task and is refused.

Failures:
    ApplicationError(type="UnknownClient", non_retryable) — the client row is missing.
    ApplicationError(type="LedgerStaleWriter", non_retryable) — a superseded workflow
        task; its own completion will be refused by the server anyway.
    ApplicationError(type="DatabaseRefused", non_retryable) — PostgreSQL refuses a value
        of the row (out of range, NUL in text, too large for an index; see
        activities.failures): answered as `refused`, the rows before it stay written.
    Anything else (the database unreachable, restarting) propagates and is retried.
"""

from __future__ import annotations

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.failures import is_refusal, refused
from workflows import contracts
from workflows.contracts import LedgerBatchInput, LedgerBatchResult, LedgerRefusal
from workflows.models import LedgerEffect
from workflows.policies import UNKNOWN_CLIENT

LEDGER_STALE_WRITER = "LedgerStaleWriter"
VOID_REASON = "written by a workflow task the server did not accept"

_CLIENT_EXISTS = "SELECT EXISTS (SELECT 1 FROM clients WHERE client_id = $1)"

# First entry of a package creates its balance row; later ones go through _ADVANCE_BALANCE.
_CREATE_BALANCE = """
INSERT INTO packages (
    package_id, client_id, type_code, name, kind, status, remaining, purchased_units,
    paid_cents, unused_value_cents, refund_due_cents, pace_at_risk, purchased_at,
    expires_at, parent_purchase_id, last_seq, payment_intent_id, location_id,
    awaiting_activation
) VALUES (
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19
)
ON CONFLICT (package_id) DO NOTHING
"""

# Only a newer entry moves the balance: a late retry of an older one must not roll it back.
_ADVANCE_BALANCE = """
UPDATE packages SET
    status = $2, remaining = $3, purchased_units = $4, paid_cents = $5,
    unused_value_cents = $6, refund_due_cents = $7, pace_at_risk = $8, expires_at = $9,
    last_seq = $10, frozen_through = $11, awaiting_activation = $12, updated_at = now()
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


_WRITER = """
SELECT ledger_writer_run, ledger_writer_events FROM packages WHERE package_id = $1 FOR UPDATE
"""

_SET_WRITER = """
UPDATE packages SET ledger_writer_run = $2, ledger_writer_events = $3 WHERE package_id = $1
"""

_FROM_SEQ = """
SELECT seq, idempotency_key, kind, units_delta, balance_after, value_cents, appointment_id,
       provider_id, actor, source, reason, outcome, occurred_at
FROM ledger_entries WHERE package_id = $1 AND seq >= $2
"""

_VOID = "DELETE FROM ledger_entries WHERE package_id = $1 AND seq = ANY($2::integer[])"

# After voiding, the balance row goes back to before the batch, so the batch moves it on.
_REWIND_BALANCE = "UPDATE packages SET last_seq = $2 WHERE package_id = $1"


class LedgerActivities:
    """Writes ledger rows and the balance projection; constructed with the worker's pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name=contracts.RECORD_LEDGER.name)
    async def record_entries(self, input: LedgerBatchInput) -> LedgerBatchResult:
        """Append the queued rows of one package in order, in one transaction.

        A row PostgreSQL refuses for good stops the batch there and is answered (not
        raised), so the rows before it stay written and the package can alert staff about
        that one row. Any other failure is raised and the whole batch retried: rows
        already written are no-ops by their key.

        Raises:
            ApplicationError: `UnknownClient` (non-retryable) when the client row is
                missing, since retrying cannot create it; `LedgerStaleWriter`
                (non-retryable) from a superseded workflow task.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(_CLIENT_EXISTS, input.client_id):
                raise ApplicationError(
                    f"unknown client {input.client_id!r}: create the client before "
                    f"recording package {input.package_id!r}",
                    type=UNKNOWN_CLIENT,
                    non_retryable=True,
                )
            await self._check_writer(conn, input)
            voided = await self._void_lost_rows(conn, input)
            inserted = 0
            for written, effect in enumerate(input.effects):
                try:
                    async with conn.transaction():  # a savepoint: a refusal undoes this row
                        inserted += await self._write(conn, input, effect)
                except Exception as err:
                    if not is_refusal(err):
                        raise
                    return LedgerBatchResult(
                        written=written,
                        inserted=inserted,
                        voided=voided,
                        refused=self._refusal(input, effect, err),
                    )
            await conn.execute(
                _SET_WRITER,
                input.package_id,
                input.writer.run_id,
                input.writer.history_length,
            )
        return LedgerBatchResult(written=len(input.effects), inserted=inserted, voided=voided)

    async def _check_writer(self, conn: PoolConnectionProxy, input: LedgerBatchInput) -> None:
        last = await conn.fetchrow(_WRITER, input.package_id)
        if (
            last is not None
            and last["ledger_writer_run"] == input.writer.run_id
            and last["ledger_writer_events"] > input.writer.history_length
        ):
            raise ApplicationError(
                f"package {input.package_id!r}: a newer workflow task (history length "
                f"{last['ledger_writer_events']}) already wrote its ledger; this task "
                f"(length {input.writer.history_length}) was superseded",
                type=LEDGER_STALE_WRITER,
                non_retryable=True,
            )

    async def _void_lost_rows(self, conn: PoolConnectionProxy, input: LedgerBatchInput) -> int:
        """Move rows at or after the batch's first seq that are not the batch's own."""
        first = input.effects[0].entry.seq
        ours = {e.entry.seq: _row_of(e) for e in input.effects}
        found = await conn.fetch(_FROM_SEQ, input.package_id, first)
        lost = [r["seq"] for r in found if ours.get(r["seq"]) != tuple(r.values())]
        if not lost:
            return 0
        await conn.execute("SELECT set_config('punchcard.void_reason', $1, true)", VOID_REASON)
        await conn.execute(_VOID, input.package_id, lost)
        await conn.execute("SELECT set_config('punchcard.void_reason', '', true)")
        await conn.execute(_REWIND_BALANCE, input.package_id, first - 1)
        activity.logger.warning(
            "package %s: voided %d ledger row(s) of a lost workflow task (seq %s)",
            input.package_id,
            len(lost),
            ", ".join(str(seq) for seq in sorted(lost)),
        )
        return len(lost)

    def _refusal(
        self, input: LedgerBatchInput, effect: LedgerEffect, err: Exception
    ) -> LedgerRefusal:
        entry = effect.entry
        activity.logger.error(
            "ledger entry seq %s of package %s refused: %s",
            entry.seq,
            input.package_id,
            type(err).__name__,
        )
        failure = refused(
            err, f"ledger entry {entry.seq} ({entry.kind.value}) of {input.package_id!r}"
        )
        return LedgerRefusal(seq=entry.seq, reason=failure.message)

    async def _write(
        self, conn: PoolConnectionProxy, input: LedgerBatchInput, effect: LedgerEffect
    ) -> int:
        """One row and the balance it leaves; 0 when its key was already recorded."""
        entry, snap = effect.entry, effect.snapshot
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
            snap.awaiting_activation,
        )
        entry_id = await conn.fetchval(
            _INSERT_ENTRY, input.package_id, input.client_id, *_row_of(effect)
        )
        if entry_id is None:
            activity.logger.info(
                "ledger entry seq %s of package %s already recorded", entry.seq, input.package_id
            )
            return 0
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
            snap.frozen_through,
            snap.awaiting_activation,
        )
        activity.logger.info(
            "ledger entry seq %s (%s) of package %s recorded",
            entry.seq,
            entry.kind.value,
            input.package_id,
        )
        return 1


def _row_of(effect: LedgerEffect) -> tuple[object, ...]:
    """The row's own columns, in `_FROM_SEQ` order (seq first, as `_INSERT_ENTRY` after
    package and client)."""
    entry = effect.entry
    return (
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
