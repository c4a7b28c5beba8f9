"""Repositories against a real PostgreSQL: round trips, front-desk search, opt-outs, reads."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest
from pydantic import ValidationError
from temporalio.testing import ActivityEnvironment

from activities.alerts import StaffAlertActivities
from activities.repository import (
    ClientRecord,
    ClientRepository,
    LedgerReader,
    PackageTypeRecord,
    PackageTypeRepository,
)
from tests.activities.helpers import SOLD_AT, ledger_input, record, sale
from workflows.contracts import StaffAlertInput, StaffAlertResult
from workflows.models import EntryKind, PackageKind, PackageTerms

ANA = ClientRecord(client_id="c-ana", name="Ana Lopez", phone="+15555550101", email="a@x.test")
BEN = ClientRecord(client_id="c-ben", name="Ben Okafor", phone="+15555550102")
BEA = ClientRecord(client_id="c-bea", name="Bea Okafor", phone="+15555550102")

LASER = PackageTypeRecord(
    type_code="laser6",
    name="Laser hair removal, 6 sessions",
    units=6,
    price_cents=180_000,
    expiry_months=12,
    categories=["laser"],
    min_interval_days=28,
)
CREDIT = PackageTypeRecord(
    type_code="credit1500",
    name="Injectables credit",
    kind=PackageKind.DOLLARS,
    units=150_000,
    price_cents=150_000,
    categories=["injectables", "filler"],
    late_cancel_forfeits=True,
    vip_rollover_max=2,
    enforce_zero_balance=False,
)


@pytest.fixture
async def clients(pool: asyncpg.Pool) -> ClientRepository:
    repo = ClientRepository(pool)
    for client in (ANA, BEN, BEA):
        await repo.upsert(client)
    return repo


# --- clients --------------------------------------------------------------------------


async def test_client_round_trip(clients: ClientRepository) -> None:
    assert await clients.get("c-ana") == ANA
    assert await clients.get("c-nobody") is None

    moved = ANA.model_copy(update={"name": "Ana Lopez-Ruiz", "phone": None, "email": None})
    assert await clients.upsert(moved) == moved
    assert await clients.get("c-ana") == moved


def test_client_phone_must_be_e164() -> None:
    with pytest.raises(ValidationError):
        ClientRecord(client_id="c-x", name="X", phone="555-0101")


async def test_upsert_never_clears_an_opt_out(clients: ClientRepository) -> None:
    await clients.upsert(ANA.model_copy(update={"sms_opt_out": True, "email_opt_out": True}))

    stored = await clients.upsert(ANA)  # e.g. a CRM sync that knows nothing of the STOP

    assert (stored.sms_opt_out, stored.email_opt_out) == (True, True)
    assert await clients.set_sms_opt_out("c-ana", False)
    got = await clients.get("c-ana")
    assert got is not None
    assert (got.sms_opt_out, got.email_opt_out) == (False, True)
    assert not await clients.set_sms_opt_out("c-nobody", True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("okafor", ["c-bea", "c-ben"]),
        ("ANA lo", ["c-ana"]),
        ("+15555550101", ["c-ana"]),
        ("(555) 555-0102", ["c-bea", "c-ben"]),
        ("5550101", ["c-ana"]),
        ("0101", []),  # too few digits to mean a phone
        ("%", []),  # LIKE wildcards are matched literally
        ("_", []),
        ("   ", []),
    ],
)
async def test_find_by_name_or_phone(
    clients: ClientRepository, text: str, expected: list[str]
) -> None:
    assert sorted(c.client_id for c in await clients.find(text)) == expected


async def test_list_is_by_name_ignoring_case(pool: asyncpg.Pool) -> None:
    repo = ClientRepository(pool)
    assert await repo.list() == []
    adam = ClientRecord(client_id="c-adam", name="adam Zed")
    for client in (BEN, ANA, adam, BEA):
        await repo.upsert(client)

    assert await repo.list() == [adam, ANA, BEA, BEN]
    assert [c.client_id for c in await repo.list(limit=2)] == ["c-adam", "c-ana"]


async def test_opt_out_by_phone_touches_everyone_on_that_number(
    clients: ClientRepository,
) -> None:
    assert await clients.set_sms_opt_out_by_phone("+15555550102", True) == ["c-bea", "c-ben"]

    opted = {c: (await clients.get(c) or ANA).sms_opt_out for c in ("c-ana", "c-bea", "c-ben")}
    assert opted == {"c-ana": False, "c-bea": True, "c-ben": True}
    assert await clients.set_sms_opt_out_by_phone("+15555550199", True) == []
    assert await clients.set_sms_opt_out_by_phone("+15555550102", False) == ["c-bea", "c-ben"]
    bea = await clients.get("c-bea")
    assert bea is not None
    assert not bea.sms_opt_out


# --- package types --------------------------------------------------------------------


async def test_package_type_round_trip(pool: asyncpg.Pool) -> None:
    types = PackageTypeRepository(pool)
    await types.upsert(LASER)
    await types.upsert(CREDIT)

    assert await types.get("laser6") == LASER
    assert await types.get("credit1500") == CREDIT
    assert await types.get("nope") is None
    assert [t.type_code for t in await types.list()] == ["credit1500", "laser6"]

    repriced = LASER.model_copy(update={"price_cents": 200_000, "expiry_months": None})
    await types.upsert(repriced)
    assert await types.get("laser6") == repriced


def test_terms_are_the_type_without_its_expiry() -> None:
    assert CREDIT.terms() == PackageTerms(
        type_code="credit1500",
        name="Injectables credit",
        kind=PackageKind.DOLLARS,
        units=150_000,
        price_cents=150_000,
        categories=["injectables", "filler"],
        late_cancel_forfeits=True,
        vip_rollover_max=2,
        enforce_zero_balance=False,
    )


# --- ledger reader --------------------------------------------------------------------


async def test_balances_entries_and_counts(pool: asyncpg.Pool, clients: ClientRepository) -> None:
    later = SOLD_AT + timedelta(days=30)
    await record(pool, sale(package_id="pkg-old"))
    await record(pool, sale(package_id="pkg-new", purchased_at=later))
    await record(pool, ledger_input(2, "appt-1", remaining=5, package_id="pkg-old"))
    await record(pool, ledger_input(3, "appt-2", remaining=4, package_id="pkg-old"))
    reader = LedgerReader(pool)

    balances = await reader.balances_for_client("c-ana")
    assert [(b.package_id, b.remaining) for b in balances] == [("pkg-new", 6), ("pkg-old", 4)]
    assert await reader.balances_for_client("c-ben") == []
    assert await reader.balance("pkg-none") is None

    entries = await reader.entries("pkg-old")
    assert [(e.seq, e.idempotency_key, e.kind) for e in entries] == [
        (1, "sale", EntryKind.SALE),
        (2, "appt-1", EntryKind.REDEMPTION),
        (3, "appt-2", EntryKind.REDEMPTION),
    ]
    assert await reader.count_entries("pkg-old") == 3
    assert await reader.count_entries("pkg-old", EntryKind.REDEMPTION) == 2
    assert await reader.count_entries("pkg-old", "no_show") == 0
    assert await reader.count_entries("pkg-none") == 0


async def test_open_alerts_once_per_key(pool: asyncpg.Pool) -> None:
    alerts = StaffAlertActivities(pool)
    env = ActivityEnvironment()

    async def raise_alert(key: str) -> StaffAlertResult:
        alert = StaffAlertInput(
            alert_key=key, package_id="pkg-1", client_id="c-ana", kind="zero", message="m"
        )
        return await env.run(alerts.record_staff_alert, alert)

    assert await raise_alert("pkg-1:a") == StaffAlertResult(recorded=True)
    assert await raise_alert("pkg-1:a") == StaffAlertResult(recorded=False)
    for key in ("pkg-1:b", "pkg-1:c"):
        await raise_alert(key)
    await pool.execute(
        "UPDATE staff_alerts SET acknowledged_at = now(), acknowledged_by = 'mgr'"
        " WHERE alert_key = 'pkg-1:b'"
    )
    reader = LedgerReader(pool)

    assert [a.alert_key for a in await reader.open_alerts()] == ["pkg-1:a", "pkg-1:c"]
    [first] = await reader.open_alerts(limit=1)
    assert (first.alert_key, first.kind, first.acknowledged_at) == ("pkg-1:a", "zero", None)


async def test_messages_for_client(pool: asyncpg.Pool, clients: ClientRepository) -> None:
    await pool.executemany(
        """
        INSERT INTO outbound_messages (
            message_key, channel, client_id, package_id, kind, recipient, body, status
        ) VALUES ($1, $2, $3, 'pkg-1', 'redeemed', $4, 'Session 1 of 6 complete', $5)
        """,
        [
            ("m1", "sms", "c-ana", "+15555550101", "sent"),
            ("m1", "email", "c-ana", "a@x.test", "sent"),
            ("m2", "sms", "c-ben", "+15555550102", "opted_out"),
        ],
    )

    rows = await LedgerReader(pool).messages_for_client("c-ana")

    assert [(m.message_key, m.channel, m.status) for m in rows] == [
        ("m1", "email", "sent"),
        ("m1", "sms", "sent"),
    ]
    assert rows[0].attempts == 0
    assert await LedgerReader(pool).messages_for_client("c-nobody") == []
