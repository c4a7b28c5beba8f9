"""The ledger activity against a real PostgreSQL: idempotent, ordered, append-only."""

from __future__ import annotations

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError

from activities.ledger import LEDGER_SEQ_CONFLICT
from activities.repository import ClientRecord, ClientRepository, LedgerReader
from tests.activities.helpers import SOLD_AT, ledger_input, record, sale
from workflows.contracts import LedgerEntryResult
from workflows.models import EntryKind, PackageStatus
from workflows.policies import UNKNOWN_CLIENT


@pytest.fixture
async def ana(pool: asyncpg.Pool) -> ClientRecord:
    return await ClientRepository(pool).upsert(
        ClientRecord(client_id="c-ana", name="Ana Test", phone="+15555550101")
    )


async def test_first_entry_creates_balance_row(pool: asyncpg.Pool, ana: ClientRecord) -> None:
    assert await record(pool, sale()) == LedgerEntryResult(inserted=True)

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
    assert (await record(pool, ledger_input(2, "appt-1", remaining=5))).inserted

    balance = await LedgerReader(pool).balance("pkg-1")
    assert balance is not None
    assert (balance.remaining, balance.unused_value_cents, balance.last_seq) == (5, 150_000, 2)


async def test_duplicate_key_writes_nothing(pool: asyncpg.Pool, ana: ClientRecord) -> None:
    await record(pool, sale())
    await record(pool, ledger_input(2, "appt-1", remaining=5))

    # A redelivery under the same key, even carrying a newer seq and snapshot, is ignored.
    again = await record(pool, ledger_input(3, "appt-1", remaining=4))

    assert again == LedgerEntryResult(inserted=False)
    reader = LedgerReader(pool)
    assert await reader.count_entries("pkg-1") == 2
    balance = await reader.balance("pkg-1")
    assert balance is not None
    assert (balance.remaining, balance.last_seq) == (5, 2)


async def test_duplicate_sale_writes_nothing(pool: asyncpg.Pool, ana: ClientRecord) -> None:
    await record(pool, sale())
    assert await record(pool, sale()) == LedgerEntryResult(inserted=False)
    assert await LedgerReader(pool).count_entries("pkg-1") == 1


async def test_older_seq_never_moves_balance_back(pool: asyncpg.Pool, ana: ClientRecord) -> None:
    await record(pool, sale())
    await record(pool, ledger_input(3, "appt-2", remaining=4))

    late = await record(pool, ledger_input(2, "appt-1", remaining=5))

    assert late.inserted
    reader = LedgerReader(pool)
    balance = await reader.balance("pkg-1")
    assert balance is not None
    assert (balance.remaining, balance.last_seq) == (4, 3)
    assert [e.seq for e in await reader.entries("pkg-1")] == [1, 2, 3]


async def test_unknown_client_is_permanent_and_writes_nothing(pool: asyncpg.Pool) -> None:
    with pytest.raises(ApplicationError) as caught:
        await record(pool, sale(client_id="c-ghost"))

    assert caught.value.type == UNKNOWN_CLIENT
    assert caught.value.non_retryable
    assert "c-ghost" in caught.value.message
    assert await LedgerReader(pool).balance("pkg-1") is None
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries") == 0


async def test_other_entry_at_same_seq_is_a_conflict(pool: asyncpg.Pool, ana: ClientRecord) -> None:
    await record(pool, sale())
    await record(pool, ledger_input(2, "appt-1", remaining=5))

    with pytest.raises(ApplicationError) as caught:
        await record(pool, ledger_input(2, "appt-9", remaining=4))

    assert caught.value.type == LEDGER_SEQ_CONFLICT
    assert not caught.value.non_retryable
    balance = await LedgerReader(pool).balance("pkg-1")
    assert balance is not None
    assert balance.remaining == 5


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
