"""The overrun audit against the known spa: visits beyond what was bought, with the value;
shared packages counted once; credit, unknown clients and services kept apart."""

from __future__ import annotations

from datetime import date

import asyncpg

from activities.reports import AuditVisit, OverrunAuditor
from activities.reports.matching import unserved
from activities.repository import (
    ClientLink,
    ClientLinkRepository,
    ClientRecord,
    ClientRepository,
    PackageTypeRecord,
    PackageTypeRepository,
    ServiceCatalog,
    ServiceMapping,
)
from tests.activities.report_data import LASER, NY, Sold, Step, ny, record, sale, seed_week
from workflows.models import EntryKind

AFTER = ny(2026, 3, 11, 9)  # window: 2025-12-12 to 2026-03-11

SERVICES = {
    "Laser Full Face": "laser",
    "Signature Facial": "facial",
    "Glow Peel": "peel",
    "Botox": "injectables",
    "Skin check": "skincheck",  # no package type covers it
}


async def seed_audit(pool: asyncpg.Pool) -> None:
    """The known week, a catalog, a linked Boulevard id, and a session type for injectables
    (so injectables visits are package visits, unless paid from dollar credit)."""
    await seed_week(pool)
    await PackageTypeRepository(pool).upsert(
        PackageTypeRecord(
            type_code="botox3",
            name="Botox 3",
            units=3,
            price_cents=90_000,
            categories=["injectables"],
        )
    )
    catalog = ServiceCatalog(pool)
    for name, category in SERVICES.items():
        await catalog.upsert(ServiceMapping(platform="*", service_key=name, category=category))
    await ClientLinkRepository(pool).link(
        ClientLink(platform="boulevard", external_id="EXT-2", client_id="c2")
    )


def visit(
    line: int, ref: str, service: str, day: date, *, kind: str = "id", platform: str = "csv"
) -> AuditVisit:
    return AuditVisit.model_validate(
        {
            "line": line,
            "platform": platform,
            "appointment_id": f"a{line}",
            "client_ref": ref,
            "client_ref_kind": kind,
            "service_name": service,
            "service_date": day,
        }
    )


def export() -> list[AuditVisit]:
    feb = [date(2026, 2, d) for d in range(1, 29)]
    rows: list[AuditVisit] = []
    line = 1

    def add(ref: str, service: str, day: date, **kw: str) -> None:
        nonlocal line
        line += 1
        rows.append(visit(line, ref, service, day, **kw))

    for n in range(7):  # c1: 8 laser visits (one named by phone); had 6 (p1; p7 used up)
        add("c1", "Laser Full Face", feb[n])
    add("(555) 555-0001", "Laser Full Face", feb[8], kind="phone")
    for n in range(2):  # c1 holds injectables credit: not session overruns
        add("c1", "Botox", feb[10 + n])
    for n in range(3):  # c2: 3 facials + 3 peels on one shared facial/peel package of 5
        add("EXT-2", "Signature Facial", feb[n], platform="boulevard")
        add("EXT-2", "Glow Peel", feb[5 + n], platform="boulevard")
    add("cy@example.com", "Laser Full Face", feb[1], kind="email")  # c3: p3 expired, 2 unused
    add("cy@example.com", "Laser Full Face", feb[2], kind="email")
    add("c3", "Signature Facial", date(2026, 3, 8))  # after p5 was cancelled
    add("c2", "Botox", feb[3])  # c2 never held an injectables package
    add("zz-9", "Laser Full Face", feb[4])  # unknown client
    add("zz-9", "Glow Peel", feb[5])
    add("c1", "Mystery Glow", feb[6])  # unknown service
    add("c1", "Skin check", feb[7])  # no package covers it
    add("c1", "Laser Full Face", date(2025, 11, 1))  # before the window
    return rows


async def test_audit_lists_clients_over_what_they_bought_with_the_value(
    pool: asyncpg.Pool,
) -> None:
    await seed_audit(pool)

    audit = await OverrunAuditor(pool).audit(
        export(), report_id="audit-1", platform="csv", timezone=NY, now=AFTER
    )

    assert (audit.window_start, audit.window_end) == (date(2025, 12, 12), date(2026, 3, 11))
    found = {
        (o.client_id, o.category): (o.visits, o.available, o.excess, o.session_value_cents)
        for o in audit.overruns
    }
    assert found == {
        ("c1", "laser"): (8, 6, 2, 30_000),  # ($1,800 + $1,800) / 12 sessions
        ("c2", "peel"): (3, 2, 1, 10_000),  # the shared package lends each session once
        ("c3", "facial"): (1, 0, 1, 10_000),  # cancelled before the visit
        ("c3", "laser"): (2, 0, 2, 30_000),  # expired with 2 unused, then 2 visits
    }
    assert [o.client_name for o in audit.overruns] == ["Ana One", "Ben Two", "Cy Three", "Cy Three"]
    assert (audit.excess_sessions, audit.value_cents) == (6, 140_000)
    assert [(n.client_id, n.category, n.visits) for n in audit.no_package] == [
        ("c2", "injectables", 1)
    ]
    assert audit.paid_from_credit == 2
    assert audit.not_package_services == 1
    assert audit.outside_window == 1
    assert audit.visits_read == len(export())
    assert audit.counted == 8 + 6 + 3 + 1
    [unknown] = audit.unknown_clients
    assert (unknown.reference, unknown.visits) == ("zz-9", 2)
    assert unknown.lines == [v.line for v in export() if v.client_ref == "zz-9"]
    [mystery] = audit.unknown_services
    assert mystery.service == "Mystery Glow" and mystery.lines == [
        v.line for v in export() if v.service_name == "Mystery Glow"
    ]
    summary = audit.summary()
    assert (summary.clients, summary.excess_sessions, summary.value_cents) == (3, 6, 140_000)
    assert (summary.unknown_clients, summary.unknown_services, summary.without_package) == (1, 1, 1)


async def test_visits_within_what_was_bought_are_no_overrun(pool: asyncpg.Pool) -> None:
    await seed_audit(pool)
    visits = [visit(n + 2, "c1", "Laser Full Face", date(2026, 3, n + 1)) for n in range(6)]

    audit = await OverrunAuditor(pool).audit(
        visits, report_id="audit-2", platform="csv", timezone=NY, now=AFTER
    )

    assert audit.overruns == [] and audit.counted == 6
    assert (audit.excess_sessions, audit.value_cents) == (0, 0)


async def test_a_visit_reversed_after_the_window_began_gives_its_session_back(
    pool: asyncpg.Pool,
) -> None:
    await seed_audit(pool)
    await ClientRepository(pool).upsert(ClientRecord(client_id="c4", name="Di Four"))
    await record(
        pool,
        Sold(
            "p8",
            "c4",
            LASER,
            (
                sale(LASER, ny(2025, 10, 1)),
                Step(EntryKind.REDEMPTION, ny(2025, 12, 1), -1, 30_000, 150_000, appointment="v"),
                Step(EntryKind.REVERSAL, ny(2025, 12, 20), +1, 30_000, 180_000, appointment="v"),
            ),
        ),
    )
    feb = [date(2026, 2, d) for d in range(1, 8)]
    six = [visit(n + 2, "c4", "Laser Full Face", feb[n]) for n in range(6)]
    seven = [*six, visit(8, "c4", "Laser Full Face", feb[6])]

    within = await OverrunAuditor(pool).audit(
        six, report_id="a6", platform="csv", timezone=NY, now=AFTER
    )
    beyond = await OverrunAuditor(pool).audit(
        seven, report_id="a7", platform="csv", timezone=NY, now=AFTER
    )

    # 5 left at the window's start (Dec 12), plus the one given back on Dec 20.
    assert within.overruns == []
    [over] = beyond.overruns
    assert (over.available, over.excess, over.value_cents) == (6, 1, 30_000)


def test_a_package_covering_two_categories_lends_each_session_once() -> None:
    both = frozenset({"facial", "peel"})
    assert unserved({"facial": 3, "peel": 3}, [(both, 5)]) == {"facial": 0, "peel": 1}
    # Serving a first took the shared package; b can only use it, so a moves to its own.
    assert unserved({"a": 1, "b": 1}, [(frozenset({"a", "b"}), 1), (frozenset({"a"}), 1)]) == {
        "a": 0,
        "b": 0,
    }
    # The only package x can use is shared with y's bigger one: x is still one short.
    assert unserved({"x": 2, "y": 0}, [(frozenset({"x", "y"}), 1), (frozenset({"y"}), 5)]) == {
        "x": 1,
        "y": 0,
    }
    assert unserved({"laser": 4}, []) == {"laser": 4}
