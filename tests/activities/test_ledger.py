"""The ledger activity against a real PostgreSQL: idempotent, ordered, append-only, and
converging on the workflow's history when a workflow task was lost after writing."""

from __future__ import annotations

import secrets

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError

from activities.ledger import LEDGER_STALE_WRITER, VOID_REASON
from activities.repository import ClientRecord, ClientRepository, LedgerReader
from tests.activities.helpers import SOLD_AT, ledger_input, record, sale
from workflows.models import EntryKind, PackageStatus
from workflows.policies import LEDGER, UNKNOWN_CLIENT


@pytest.fixture
async def ana(pool: asyncpg.Pool) -> ClientRecord:
    return await ClientRepository(pool).upsert(
        ClientRecord(client_id="c-ana", name="Ana Test", phone="+15555550101")
    )


async def test_first_entry_creates_balance_row(pool: asyncpg.Pool, ana: ClientRecord) -> None:
    assert (await record(pool, sale())).inserted == 1

    balance = await LedgerReader(pool).balance("pkg-1")
    assert balance is not None
    assert (balance.client_id, balance.remaining, balance.last_seq) == ("c-ana", 6, 1)
    assert balance.status is PackageStatus.ACTIVE
    assert balance.purchased_at == SOLD_AT
    [entry] = await LedgerReader(pool).entries("pkg-1")
    assert (entry.seq, entry.idempotency_key, entry.kind) == (1, "sale", EntryKind.SALE)
    assert (entry.units_delta, entry.balance_after, entry.value_cents) == (6, 6, 180_000)


async def test_later_entry_advances_balance(pool: asyncpg.Pool, ana: ClientRecord) -> None:
    await record(pool, sale())
    assert (await record(pool, ledger_input(2, "appt-1", remaining=5))).inserted == 1

    balance = await LedgerReader(pool).balance("pkg-1")
    assert balance is not None
    assert (balance.remaining, balance.unused_value_cents, balance.last_seq) == (5, 150_000, 2)


async def test_duplicate_key_writes_nothing(pool: asyncpg.Pool, ana: ClientRecord) -> None:
    await record(pool, sale())
    await record(pool, ledger_input(2, "appt-1", remaining=5))

    # A redelivery under the same key, even carrying a newer seq and snapshot, is ignored.
    again = await record(pool, ledger_input(3, "appt-1", remaining=4))

    assert (again.written, again.inserted) == (1, 0)
    reader = LedgerReader(pool)
    assert await reader.count_entries("pkg-1") == 2
    balance = await reader.balance("pkg-1")
    assert balance is not None
    assert (balance.remaining, balance.last_seq) == (5, 2)


async def test_duplicate_sale_writes_nothing(pool: asyncpg.Pool, ana: ClientRecord) -> None:
    await record(pool, sale())
    assert (await record(pool, sale())).inserted == 0
    assert await LedgerReader(pool).count_entries("pkg-1") == 1


async def test_a_superseded_task_of_the_same_run_writes_nothing(
    pool: asyncpg.Pool, ana: ClientRecord
) -> None:
    await record(pool, sale())
    await record(pool, ledger_input(2, "appt-1", remaining=5), history=40)

    with pytest.raises(ApplicationError) as caught:
        await record(pool, ledger_input(2, "appt-9", remaining=5), history=30)

    assert caught.value.type == LEDGER_STALE_WRITER and caught.value.non_retryable
    assert "superseded" in caught.value.message
    entries = await LedgerReader(pool).entries("pkg-1")
    assert [e.idempotency_key for e in entries] == ["sale", "appt-1"]
    # A new run (continue-as-new, a reset) starts its own count.
    assert (
        await record(pool, ledger_input(3, "appt-2", remaining=4), run="run-2", history=5)
    ).inserted


async def test_unknown_client_is_permanent_and_writes_nothing(pool: asyncpg.Pool) -> None:
    with pytest.raises(ApplicationError) as caught:
        await record(pool, sale(client_id="c-ghost"))

    assert caught.value.type == UNKNOWN_CLIENT
    assert caught.value.non_retryable
    assert "c-ghost" in caught.value.message
    assert await LedgerReader(pool).balance("pkg-1") is None
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries") == 0


async def test_rows_of_a_lost_task_are_voided_by_the_next_write(
    pool: asyncpg.Pool, ana: ClientRecord
) -> None:
    """A task wrote appt-1 and appt-2 and was then refused by the server; the retried
    task got appt-2 alone (appt-1's caller had given up)."""
    await record(pool, sale())
    lost = await record(
        pool,
        ledger_input(2, "appt-1", remaining=5),
        ledger_input(3, "appt-2", remaining=4),
        history=20,
    )
    assert lost.inserted == 2

    kept = await record(pool, ledger_input(2, "appt-2", remaining=5), history=24)

    assert (kept.written, kept.inserted, kept.voided) == (1, 1, 2)
    reader = LedgerReader(pool)
    entries = await reader.entries("pkg-1")
    assert [(e.seq, e.idempotency_key, e.balance_after) for e in entries] == [
        (1, "sale", 6),
        (2, "appt-2", 5),
    ]
    balance = await reader.balance("pkg-1")
    assert balance is not None and (balance.remaining, balance.last_seq) == (5, 2)
    voided = await pool.fetch(
        "SELECT seq, idempotency_key, void_reason FROM ledger_voided_entries ORDER BY seq"
    )
    assert [tuple(r.values()) for r in voided] == [
        (2, "appt-1", VOID_REASON),
        (3, "appt-2", VOID_REASON),
    ]


async def test_the_same_batch_again_voids_nothing(pool: asyncpg.Pool, ana: ClientRecord) -> None:
    """A retried attempt of the same write (the database dropped the answer) is a no-op."""
    await record(pool, sale())
    batch = (ledger_input(2, "appt-1", remaining=5), ledger_input(3, "appt-2", remaining=4))
    await record(pool, *batch)

    again = await record(pool, *batch)

    assert (again.written, again.inserted, again.voided) == (2, 0, 0)
    assert await LedgerReader(pool).count_entries("pkg-1") == 3
    assert await pool.fetchval("SELECT count(*) FROM ledger_voided_entries") == 0


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET units_delta = 0 WHERE package_id = 'pkg-1'",
        "DELETE FROM ledger_entries WHERE package_id = 'pkg-1'",
    ],
)
async def test_ledger_refuses_update_and_delete(
    pool: asyncpg.Pool, ana: ClientRecord, statement: str
) -> None:
    await record(pool, sale())

    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pool.execute(statement)

    [entry] = await LedgerReader(pool).entries("pkg-1")
    assert entry.units_delta == 6


# --- values PostgreSQL refuses ----------------------------------------------------------


@pytest.mark.parametrize(
    ("entry_update", "snapshot_update", "says"),
    [
        ({"value_cents": 2**70}, {}, "out of int64 range"),
        ({}, {"remaining": 2**40}, "out of int32 range"),
        ({"reason": "typo\x00"}, {}, "0x00"),
        ({"key": secrets.token_urlsafe(9000)}, {}, "index row"),  # beyond a btree row
    ],
    ids=["bigint", "integer", "nul", "index-row"],
)
async def test_value_postgres_refuses_is_permanent_and_writes_nothing(
    pool: asyncpg.Pool,
    ana: ClientRecord,
    entry_update: dict[str, object],
    snapshot_update: dict[str, object],
    says: str,
) -> None:
    await record(pool, sale())
    good = ledger_input(2, "appt-1", remaining=5)
    bad = good.model_copy(
        update={
            "entry": good.entry.model_copy(update=entry_update),
            "snapshot": good.snapshot.model_copy(update=snapshot_update),
        }
    )

    result = await record(pool, bad, ledger_input(3, "appt-2", remaining=4))

    assert (result.written, result.inserted) == (0, 0)
    assert result.refused is not None and result.refused.seq == 2
    assert "ledger entry 2 (redemption)" in result.refused.reason and says in result.refused.reason
    reader = LedgerReader(pool)
    assert await reader.count_entries("pkg-1") == 1
    balance = await reader.balance("pkg-1")
    assert balance is not None and balance.remaining == 6


async def test_database_away_is_not_permanent(database_url: str, ana: ClientRecord) -> None:
    """An outage keeps its own error, which the LEDGER policy retries forever."""
    gone = await asyncpg.create_pool(database_url, min_size=0, max_size=1)
    await gone.close()

    with pytest.raises(Exception) as caught:
        await record(gone, sale())

    assert not isinstance(caught.value, ApplicationError)
    assert caught.value.__class__.__name__ not in LEDGER.retry.non_retryable_error_types
