"""The reconciliation report: what a manager reads each week, computed in Postgres.

Where each figure comes from:

- **period** figures (sold, top-ups, consumed, forfeits, expired, cancelled, refunds,
  refused visits): ledger entries with `occurred_at` in [start, end), grouped by kind
  (index `ledger_kind_occurred_idx`), joined to their package for its kind;
- **now** figures (remaining, unused value by category, liability): open packages
  (status active or in_review) in the balance table (partial index `packages_open_idx`);
- the **ledger cross-check** of the liability: the signed sum of every value flow in the
  ledger (index-only over `ledger_value_flow_idx`), which must equal the balance table;
- the review queue and the latest stored overrun audit;
- **by location**, when the spa has set locations up: the same period and ledger figures
  grouped by the package's location (a package without one counts at the default), so
  they sum to the totals; a report *of* one location (`location=`) reads its packages
  only, in its own zone's days (the review queue stays the whole spa's). A spa with no
  location set up runs exactly the queries it always did;
- the **previous period** of the same length (sold, consumed, breakage, refused visits) and
  the ledger's liability at this period's start and end: a period already over is headed
  by its end figure, so the change from its start is exactly what the period sold, used,
  expired and cancelled (today's balance, later entries included, is a detail line).

Everything is read in one REPEATABLE READ read-only transaction, so the balance table and
the ledger are seen at the same instant (both are written in one transaction per entry).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from activities.reports.models import (
    Cancellations,
    CategoryValue,
    Consumption,
    Expiries,
    Liability,
    LocationFigures,
    LocationRef,
    Migrated,
    OpenBalances,
    OverrunAudit,
    Overruns,
    Period,
    PreviousPeriod,
    ReconciliationReport,
    ReviewBacklog,
    Sales,
)
from workflows.models import EntryKind

# Value flows of the liability (deferred revenue), by ledger kind. `value_cents` is the
# unsigned value an entry moved; booking, reminder, extension and pace_alert entries move
# none, and expiry_review only states the unused value without moving it. A refund moves value only when it withdrew units (a
# dashboard refund on an open package); a refund of an already cancelled package pays
# out the refund due that the cancellation entry already took off.
# An opening balance (a package brought in from the old system) is an inflow like a sale,
# so the cross-check agrees, but it is reported apart: liability taken over, not sold.
INFLOWS = (
    EntryKind.SALE,
    EntryKind.OPENING_BALANCE,
    EntryKind.TOP_UP,
    EntryKind.REVERSAL,
    EntryKind.REFUND_FAILED,
)
OUTFLOWS = (
    EntryKind.REDEMPTION,
    EntryKind.NO_SHOW,
    EntryKind.LATE_CANCEL,
    EntryKind.CANCELLATION,
    EntryKind.EXPIRY,
)
PERIOD_KINDS = (*INFLOWS, *OUTFLOWS, EntryKind.REFUND)

_PERIOD_FLOWS = """
SELECT e.kind, p.kind AS package_kind,
       count(*) AS entries,
       count(*) FILTER (WHERE e.units_delta <> 0) AS moving,
       coalesce(sum(e.units_delta), 0) AS units,
       coalesce(sum(e.value_cents), 0) AS value_cents,
       coalesce(sum(e.value_cents) FILTER (WHERE e.units_delta <> 0), 0) AS moving_value_cents,
       count(*) FILTER (WHERE e.balance_after < 0) AS below_zero
FROM ledger_entries e JOIN packages p ON p.package_id = e.package_id
WHERE e.kind = ANY($3::text[]) AND e.occurred_at >= $1 AND e.occurred_at < $2
GROUP BY e.kind, p.kind
"""

# Literal statuses: the partial index's predicate must be provable at plan time.
_OPEN_BY_CATEGORY = """
SELECT coalesce(t.categories[1], 'uncategorised') AS category, p.kind,
       count(*) AS packages,
       coalesce(sum(greatest(p.remaining, 0)), 0) AS remaining,
       coalesce(sum(p.unused_value_cents), 0) AS unused_value_cents
FROM packages p LEFT JOIN package_types t ON t.type_code = p.type_code
WHERE p.status IN ('active', 'in_review')
GROUP BY 1, 2
"""

_LEDGER_LIABILITY = """
SELECT coalesce(sum(CASE
           WHEN kind = ANY($1::text[]) THEN value_cents
           WHEN kind = ANY($2::text[]) OR (kind = 'refund' AND units_delta <> 0)
               THEN -value_cents
           ELSE 0 END), 0) AS ledger_cents
FROM ledger_entries
WHERE value_cents <> 0 AND ($3::timestamptz IS NULL OR occurred_at < $3)
"""

# The same three, by location. A package without one counts at the default location
# (`$default`); `$only` is the one location a report is of (NULL: every location).
_LOCATIONS = "SELECT location_id, name, timezone, is_default FROM locations ORDER BY location_id"

_PERIOD_FLOWS_BY_LOCATION = """
SELECT coalesce(p.location_id, $4) AS location_id, e.kind, p.kind AS package_kind,
       count(*) AS entries,
       count(*) FILTER (WHERE e.units_delta <> 0) AS moving,
       coalesce(sum(e.units_delta), 0) AS units,
       coalesce(sum(e.value_cents), 0) AS value_cents,
       coalesce(sum(e.value_cents) FILTER (WHERE e.units_delta <> 0), 0) AS moving_value_cents,
       count(*) FILTER (WHERE e.balance_after < 0) AS below_zero
FROM ledger_entries e JOIN packages p ON p.package_id = e.package_id
WHERE e.kind = ANY($3::text[]) AND e.occurred_at >= $1 AND e.occurred_at < $2
  AND ($5::text IS NULL OR coalesce(p.location_id, $4) = $5)
GROUP BY 1, 2, 3
"""

_OPEN_BY_LOCATION = """
SELECT coalesce(p.location_id, $1) AS location_id,
       coalesce(t.categories[1], 'uncategorised') AS category, p.kind,
       count(*) AS packages,
       coalesce(sum(greatest(p.remaining, 0)), 0) AS remaining,
       coalesce(sum(p.unused_value_cents), 0) AS unused_value_cents
FROM packages p LEFT JOIN package_types t ON t.type_code = p.type_code
WHERE p.status IN ('active', 'in_review')
  AND ($2::text IS NULL OR coalesce(p.location_id, $1) = $2)
GROUP BY 1, 2, 3
"""

_LEDGER_BY_LOCATION = """
SELECT coalesce(p.location_id, $3) AS location_id,
       coalesce(sum(e.flow), 0) AS ledger_cents,
       coalesce(sum(e.flow) FILTER (WHERE e.occurred_at < $5), 0) AS at_start,
       coalesce(sum(e.flow) FILTER (WHERE e.occurred_at < $6), 0) AS at_end
FROM (
    SELECT package_id, occurred_at, CASE
        WHEN kind = ANY($1::text[]) THEN value_cents
        WHEN kind = ANY($2::text[]) OR (kind = 'refund' AND units_delta <> 0) THEN -value_cents
        ELSE 0 END AS flow
    FROM ledger_entries WHERE value_cents <> 0
) e JOIN packages p ON p.package_id = e.package_id
WHERE $4::text IS NULL OR coalesce(p.location_id, $3) = $4
GROUP BY 1
"""

_OPEN_REVIEW = """
SELECT reason, count(*) AS items, min(created_at) AS oldest
FROM review_items WHERE status = 'open' GROUP BY reason
"""

_REFUSED = """
SELECT reason, count(*) AS items FROM review_items
WHERE created_at >= $1 AND created_at < $2 AND reason LIKE 'refused%'
GROUP BY reason
"""

_LATEST_AUDIT = """
SELECT summary FROM reports WHERE kind = 'overrun_audit' AND generated_at <= $1
ORDER BY generated_at DESC LIMIT 1
"""


Rows = Sequence[Mapping[str, Any]]


async def _fetch(conn: PoolConnectionProxy, sql: str, *args: object) -> list[dict[str, Any]]:
    return [dict(row) for row in await conn.fetch(sql, *args)]


@dataclass(frozen=True)
class _Ledger:
    """The ledger's liability: today (every entry), at the period's start and end."""

    today: int = 0
    at_start: int = 0
    at_end: int = 0


async def build_report(
    pool: asyncpg.Pool,
    period: Period,
    *,
    now: datetime | None = None,
    location: str | None = None,
) -> ReconciliationReport:
    """Read every figure of the report in one consistent snapshot: of every location, or
    of the one named (give its `period` in that location's zone).

    Raises:
        LookupError: `location` names no location set up.
    """
    generated_at = now or datetime.now(UTC)
    kinds = [k.value for k in PERIOD_KINDS]
    inflows, outflows = [k.value for k in INFLOWS], [k.value for k in OUTFLOWS]
    before = period.before()
    breakdown: list[LocationFigures] = []
    only: LocationRef | None = None
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        stored = await conn.fetch(_LOCATIONS)
        if not stored and location is None:  # one location: the queries it always ran
            flows: Rows = await _fetch(conn, _PERIOD_FLOWS, period.start, period.end, kinds)
            open_rows: Rows = await _fetch(conn, _OPEN_BY_CATEGORY)
            ledger = _Ledger(
                today=int(await conn.fetchval(_LEDGER_LIABILITY, inflows, outflows, None)),
                at_start=int(
                    await conn.fetchval(_LEDGER_LIABILITY, inflows, outflows, period.start)
                ),
                at_end=int(await conn.fetchval(_LEDGER_LIABILITY, inflows, outflows, period.end)),
            )
            before_flows: Rows = await _fetch(conn, _PERIOD_FLOWS, before.start, before.end, kinds)
        else:
            refs = {
                r["location_id"]: LocationRef(
                    location_id=r["location_id"], name=r["name"], timezone=r["timezone"]
                )
                for r in sorted(stored, key=lambda r: (not r["is_default"], r["location_id"]))
            }
            if location is not None and location not in refs:
                raise LookupError(f"no location {location!r}")
            default = next(iter(refs))
            only = None if location is None else refs[location]
            by_flows = await _fetch(
                conn, _PERIOD_FLOWS_BY_LOCATION, period.start, period.end, kinds, default, location
            )
            by_open = await _fetch(conn, _OPEN_BY_LOCATION, default, location)
            by_ledger = {
                r["location_id"]: _Ledger(
                    today=int(r["ledger_cents"]),
                    at_start=int(r["at_start"]),
                    at_end=int(r["at_end"]),
                )
                for r in await conn.fetch(
                    _LEDGER_BY_LOCATION,
                    inflows,
                    outflows,
                    default,
                    location,
                    period.start,
                    period.end,
                )
            }
            by_before = await _fetch(
                conn, _PERIOD_FLOWS_BY_LOCATION, before.start, before.end, kinds, default, location
            )
            flows = _merge(by_flows, ("kind", "package_kind"))
            open_rows = _merge(by_open, ("category", "kind"))
            before_flows = _merge(by_before, ("kind", "package_kind"))
            ledger = _Ledger(
                today=sum(x.today for x in by_ledger.values()),
                at_start=sum(x.at_start for x in by_ledger.values()),
                at_end=sum(x.at_end for x in by_ledger.values()),
            )
            if location is None and len(refs) > 1:
                breakdown = [
                    _location_figures(ref, by_flows, by_open, by_ledger.get(key, _Ledger()))
                    for key, ref in refs.items()
                ]
        review_rows = await conn.fetch(_OPEN_REVIEW)
        refused_rows = await conn.fetch(_REFUSED, period.start, period.end)
        audit = await conn.fetchval(_LATEST_AUDIT, generated_at)
        before_refused = await conn.fetch(_REFUSED, before.start, before.end)
    sales, consumption, expiries, cancellations = _period_figures(flows)
    migrated = _migrated(flows)
    categories, balances = _open_figures(open_rows)
    by_rule = _refused_by_rule(refused_rows)
    before_sales, before_consumption, before_expiries, _ = _period_figures(before_flows)
    previous = PreviousPeriod(
        period=before,
        sales=before_sales,
        consumption=before_consumption,
        expiries=before_expiries,
        refused_visits=sum(_refused_by_rule(before_refused).values()),
        liability_cents=ledger.at_start,
    )
    oldest = [r["oldest"] for r in review_rows]
    return ReconciliationReport(
        period=period,
        generated_at=generated_at,
        sales=sales,
        consumption=consumption,
        expiries=expiries,
        cancellations=cancellations,
        migrated=migrated,
        open=balances,
        categories=categories,
        liability=_liability(balances, categories, ledger.today, at_end=ledger.at_end),
        review=ReviewBacklog(
            open_items=sum(int(r["items"]) for r in review_rows),
            oldest_at=min(oldest) if oldest else None,
            by_reason={str(r["reason"]): int(r["items"]) for r in review_rows},
        ),
        overruns=Overruns(
            refused_visits=sum(by_rule.values()),
            by_rule=by_rule,
            over_balance_redemptions=consumption.over_balance,
            latest_audit=None
            if audit is None
            else OverrunAudit.model_validate_json(audit).summary(),
        ),
        previous=previous,
        location=only,
        locations=breakdown,
    )


_SUMMED = frozenset(
    {
        "entries",
        "moving",
        "units",
        "value_cents",
        "moving_value_cents",
        "below_zero",
        "packages",
        "remaining",
        "unused_value_cents",
    }
)


def _merge(rows: Rows, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows by location summed over the locations: the same rows the totals' queries give."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        into = merged.setdefault(key, {k: row[k] for k in keys})
        for column in _SUMMED & set(row.keys()):
            into[column] = into.get(column, 0) + int(row[column])
    return list(merged.values())


def _location_figures(
    ref: LocationRef, flows: Rows, open_rows: Rows, ledger: _Ledger
) -> LocationFigures:
    mine = [r for r in flows if r["location_id"] == ref.location_id]
    sales, consumption, expiries, cancellations = _period_figures(mine)
    categories, balances = _open_figures(
        [r for r in open_rows if r["location_id"] == ref.location_id]
    )
    return LocationFigures(
        location=ref,
        sales=sales,
        migrated=_migrated(mine),
        consumption=consumption,
        expiries=expiries,
        cancellations=cancellations,
        open=balances,
        balance_cents=sum(c.unused_value_cents for c in categories),
        at_start_cents=ledger.at_start,
        at_end_cents=ledger.at_end,
    )


def _refused_by_rule(rows: list[asyncpg.Record]) -> dict[str, int]:
    by_rule: dict[str, int] = {}
    for row in rows:
        rule = str(row["reason"]).removeprefix("refused").lstrip(":") or "unspecified"
        by_rule[rule] = by_rule.get(rule, 0) + int(row["items"])
    return by_rule


def _liability(
    balances: OpenBalances, categories: list[CategoryValue], ledger_cents: int, *, at_end: int
) -> Liability:
    balance_cents = sum(c.unused_value_cents for c in categories)
    return Liability(
        open_packages=balances.session_packages + balances.credit_packages,
        balance_cents=balance_cents,
        ledger_cents=ledger_cents,
        difference_cents=balance_cents - ledger_cents,
        at_end_cents=at_end,
    )


def _period_figures(rows: Rows) -> tuple[Sales, Consumption, Expiries, Cancellations]:
    got: dict[tuple[str, str], Mapping[str, Any]] = {
        (r["kind"], r["package_kind"]): r for r in rows
    }

    def pick(kind: EntryKind, package_kind: str, column: str) -> int:
        row = got.get((kind.value, package_kind))
        return 0 if row is None else int(row[column])

    def both(kind: EntryKind, column: str) -> int:
        return pick(kind, "sessions", column) + pick(kind, "dollars", column)

    redeemed = -pick(EntryKind.REDEMPTION, "sessions", "units")
    reversed_ = pick(EntryKind.REVERSAL, "sessions", "units")
    forfeit_kinds = (EntryKind.NO_SHOW, EntryKind.LATE_CANCEL)
    sales = Sales(
        packages=both(EntryKind.SALE, "entries"),
        value_cents=both(EntryKind.SALE, "value_cents"),
        sessions=pick(EntryKind.SALE, "sessions", "units"),
        credit_cents=pick(EntryKind.SALE, "dollars", "units"),
        top_ups=both(EntryKind.TOP_UP, "entries"),
        top_up_sessions=pick(EntryKind.TOP_UP, "sessions", "units"),
        top_up_value_cents=both(EntryKind.TOP_UP, "value_cents"),
    )
    consumption = Consumption(
        sessions_redeemed=redeemed,
        sessions_reversed=reversed_,
        sessions_consumed=redeemed - reversed_,
        credit_redeemed_cents=-pick(EntryKind.REDEMPTION, "dollars", "units")
        - pick(EntryKind.REVERSAL, "dollars", "units"),
        consumed_value_cents=both(EntryKind.REDEMPTION, "value_cents")
        - both(EntryKind.REVERSAL, "value_cents"),
        forfeits=sum(both(k, "moving") for k in forfeit_kinds),
        forfeit_sessions=-sum(pick(k, "sessions", "units") for k in forfeit_kinds),
        forfeit_value_cents=sum(both(k, "value_cents") for k in forfeit_kinds),
        over_balance=both(EntryKind.REDEMPTION, "below_zero"),
    )
    expiries = Expiries(
        packages=both(EntryKind.EXPIRY, "moving"),
        sessions=-pick(EntryKind.EXPIRY, "sessions", "units"),
        credit_cents=-pick(EntryKind.EXPIRY, "dollars", "units"),
        breakage_cents=both(EntryKind.EXPIRY, "value_cents"),
    )
    cancellations = Cancellations(
        packages=both(EntryKind.CANCELLATION, "entries"),
        refund_due_cents=both(EntryKind.CANCELLATION, "value_cents"),
        refunded_cents=both(EntryKind.REFUND, "value_cents"),
        restored=both(EntryKind.REFUND_FAILED, "moving"),
    )
    return sales, consumption, expiries, cancellations


def _migrated(rows: Rows) -> Migrated:
    """Opening balances brought in during the period, by package kind."""
    kind = EntryKind.OPENING_BALANCE.value
    got = {r["package_kind"]: r for r in rows if r["kind"] == kind}
    sessions, dollars = got.get("sessions"), got.get("dollars")
    return Migrated(
        packages=sum(int(r["entries"]) for r in got.values()),
        value_cents=sum(int(r["value_cents"]) for r in got.values()),
        sessions=0 if sessions is None else int(sessions["units"]),
        credit_cents=0 if dollars is None else int(dollars["units"]),
    )


def _open_figures(rows: Rows) -> tuple[list[CategoryValue], OpenBalances]:
    by_category: dict[str, CategoryValue] = {}
    balances = OpenBalances()
    for row in rows:
        sessions = row["kind"] == "sessions"
        packages, remaining = int(row["packages"]), int(row["remaining"])
        now = by_category.get(row["category"]) or CategoryValue(category=row["category"])
        by_category[row["category"]] = now.model_copy(
            update={
                "packages": now.packages + packages,
                "sessions": now.sessions + (remaining if sessions else 0),
                "credit_cents": now.credit_cents + (0 if sessions else remaining),
                "unused_value_cents": now.unused_value_cents + int(row["unused_value_cents"]),
            }
        )
        if sessions:
            balances = balances.model_copy(
                update={
                    "session_packages": balances.session_packages + packages,
                    "sessions_remaining": balances.sessions_remaining + remaining,
                }
            )
        else:
            balances = balances.model_copy(
                update={
                    "credit_packages": balances.credit_packages + packages,
                    "credit_remaining_cents": balances.credit_remaining_cents + remaining,
                }
            )
    ordered = sorted(by_category.values(), key=lambda c: (-c.unused_value_cents, c.category))
    return ordered, balances
