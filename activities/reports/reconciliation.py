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
- the **previous period** of the same length (sold, consumed, breakage, refused visits) and
  the ledger's liability at this period's start and end: a period already over is headed
  by its end figure, so the change from its start is exactly what the period sold, used,
  expired and cancelled (today's balance, later entries included, is a detail line).

Everything is read in one REPEATABLE READ read-only transaction, so the balance table and
the ledger are seen at the same instant (both are written in one transaction per entry).
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from activities.reports.models import (
    Cancellations,
    CategoryValue,
    Consumption,
    Expiries,
    Liability,
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


async def build_report(
    pool: asyncpg.Pool, period: Period, *, now: datetime | None = None
) -> ReconciliationReport:
    """Read every figure of the report in one consistent snapshot."""
    generated_at = now or datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        flows = await conn.fetch(
            _PERIOD_FLOWS, period.start, period.end, [k.value for k in PERIOD_KINDS]
        )
        open_rows = await conn.fetch(_OPEN_BY_CATEGORY)
        inflows, outflows = [k.value for k in INFLOWS], [k.value for k in OUTFLOWS]
        ledger_cents = await conn.fetchval(_LEDGER_LIABILITY, inflows, outflows, None)
        review_rows = await conn.fetch(_OPEN_REVIEW)
        refused_rows = await conn.fetch(_REFUSED, period.start, period.end)
        audit = await conn.fetchval(_LATEST_AUDIT, generated_at)
        before = period.before()
        before_flows = await conn.fetch(
            _PERIOD_FLOWS, before.start, before.end, [k.value for k in PERIOD_KINDS]
        )
        before_refused = await conn.fetch(_REFUSED, before.start, before.end)
        at_start = await conn.fetchval(_LEDGER_LIABILITY, inflows, outflows, period.start)
        at_end = await conn.fetchval(_LEDGER_LIABILITY, inflows, outflows, period.end)
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
        liability_cents=int(at_start),
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
        liability=_liability(balances, categories, int(ledger_cents), at_end=int(at_end)),
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


def _period_figures(
    rows: list[asyncpg.Record],
) -> tuple[Sales, Consumption, Expiries, Cancellations]:
    got: dict[tuple[str, str], asyncpg.Record] = {(r["kind"], r["package_kind"]): r for r in rows}

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


def _migrated(rows: list[asyncpg.Record]) -> Migrated:
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


def _open_figures(rows: list[asyncpg.Record]) -> tuple[list[CategoryValue], OpenBalances]:
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
