"""The overrun audit: completed visits in a booking-platform export against what was bought.

For each client and category over the window (the last 90 days by default), the visits
the platform says were completed are compared with the sessions the client had for that
category: the balance of their session packages covering it at the window's start, plus
what sales and top-ups added in the window (and reversals of visits from before it), less
what left without a visit (expiry, cancellation, refund, forfeit). A visit redeemed and
reversed inside the window is neither a visit nor a session: the export should not list
a completion marked in error. Visits beyond that are overruns: treatments given that
no package paid for and no redemption recorded. Their value is the client's own price
per session (paid / sessions bought over those packages, rule 6).

A package covering several categories is shared between them, never counted twice: the
visits are matched to packages as a small max-flow per client. Visits paid from dollar
credit (the client holds a credit package covering the category) are not session
overruns and are counted apart, as are services no session package type covers. Visits
of a client who held no session package for the category during the window are listed
apart too (paid at the visit, or never charged: the export cannot say). Clients and
services the export names but Punchcard does not know are listed, with their lines.

The SQL reads the packages of the export's clients only, and their ledger entries by
package (index-only, `ledger_package_flow_idx`), so its cost follows the export's
clients, not the size of the ledger.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar
from zoneinfo import ZoneInfo

import asyncpg

from activities.reports.matching import unserved
from activities.reports.models import (
    AuditProblem,
    AuditVisit,
    NoPackageLine,
    OverrunAudit,
    OverrunLine,
    RefKind,
    UnknownClient,
    UnknownService,
)
from activities.repository import ServiceCatalog, normalise_phone
from workflows import schedule
from workflows.models import Model

WINDOW_DAYS = 90

# Packages in play during the window: open now, bought in it, or holding a balance at its
# start (a package closed before the window began had nothing to give). The per-package
# sums read `ledger_package_flow_idx` only (an index-only scan).
_ENTITLEMENTS = """
SELECT * FROM (
    SELECT p.client_id, p.kind, p.purchased_units, p.paid_cents,
           coalesce(t.categories, '{}') AS categories,
           p.status IN ('active', 'in_review') OR p.purchased_at >= $2 AS live,
           greatest(coalesce(l.opening, 0), 0) AS opening, coalesce(l.changed, 0) AS changed
    FROM packages p
    LEFT JOIN package_types t ON t.type_code = p.type_code
    CROSS JOIN LATERAL (
        SELECT sum(e.units_delta) FILTER (WHERE e.occurred_at < $2) AS opening,
               sum(e.units_delta) FILTER (
                   WHERE e.occurred_at >= $2 AND (
                       e.kind NOT IN ('redemption', 'reversal')
                       OR (e.kind = 'reversal' AND EXISTS (
                           SELECT 1 FROM ledger_entries r
                           WHERE r.package_id = e.package_id AND r.kind = 'redemption'
                             AND r.appointment_id = e.appointment_id AND r.occurred_at < $2))
                   )
               ) AS changed
        FROM ledger_entries e
        WHERE e.package_id = p.package_id AND e.occurred_at < $3
    ) l
    WHERE p.client_id = ANY($1::text[]) AND p.purchased_at < $3
) AS held
WHERE live OR opening > 0
"""

_SESSION_CATEGORIES = """
SELECT DISTINCT c FROM package_types, unnest(categories) AS c WHERE kind = 'sessions'
"""

_CREDIT_CATEGORIES = """
SELECT DISTINCT c FROM package_types, unnest(categories) AS c WHERE kind = 'dollars'
"""


_ListedT = TypeVar("_ListedT", UnknownClient, UnknownService)


class _Package(Model):
    kind: str
    categories: frozenset[str]
    purchased_units: int
    paid_cents: int
    available: int


class OverrunAuditor:
    """Runs the audit against Postgres; constructed with the pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._catalog = ServiceCatalog(pool)

    async def audit(
        self,
        visits: Sequence[AuditVisit],
        *,
        report_id: str,
        platform: str,
        timezone: str,
        now: datetime | None = None,
        window_days: int = WINDOW_DAYS,
        errors: Sequence[AuditProblem] = (),
        skipped_rows: int = 0,
    ) -> OverrunAudit:
        """Compare the export's completed visits in the window with the clients' packages."""
        now = now or datetime.now(UTC)
        zone = ZoneInfo(timezone)
        last = now.astimezone(zone).date()
        first = last - timedelta(days=window_days - 1)
        start = datetime.combine(first, time(0), zone)
        end = schedule.ends_after(last, zone)
        inside = [v for v in visits if first <= v.service_date <= last]
        clients = await self._clients(
            {(v.platform, v.client_ref_kind, v.client_ref) for v in inside}
        )
        categories = await self._categories(inside)
        async with self._pool.acquire() as conn:
            session_categories = {r["c"] for r in await conn.fetch(_SESSION_CATEGORIES)}
            credit_types = {r["c"] for r in await conn.fetch(_CREDIT_CATEGORIES)}
            known = sorted({c for c in clients.values() if c is not None})
            rows = await conn.fetch(_ENTITLEMENTS, known, start, end)
            names: dict[str, str] = {
                row["client_id"]: row["name"]
                for row in await conn.fetch(
                    "SELECT client_id, name FROM clients WHERE client_id = ANY($1::text[])", known
                )
            }
        packages: dict[str, list[_Package]] = defaultdict(list)
        for row in rows:
            if not row["live"] and int(row["opening"]) <= 0:
                continue  # over before the window began
            packages[row["client_id"]].append(
                _Package(
                    kind=row["kind"],
                    categories=frozenset(row["categories"]),
                    purchased_units=row["purchased_units"],
                    paid_cents=row["paid_cents"],
                    available=max(int(row["opening"]) + int(row["changed"]), 0),
                )
            )
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        without: dict[tuple[str, str], int] = defaultdict(int)
        unknown_clients: dict[str, list[int]] = defaultdict(list)
        unknown_services: dict[str, list[int]] = defaultdict(list)
        audit = OverrunAudit(
            report_id=report_id,
            generated_at=now,
            platform=platform,
            window_start=first,
            window_end=last,
            visits_read=len(visits),
            counted=0,
            outside_window=len(visits) - len(inside),
            errors=sorted(errors, key=lambda e: e.line),
            skipped_rows=skipped_rows,
        )
        not_package = credit = 0
        for visit in inside:
            client_id = clients[(visit.platform, visit.client_ref_kind, visit.client_ref)]
            category = categories[_service(visit)]
            if client_id is None:
                unknown_clients[visit.client_ref].append(visit.line)
            elif category is None:
                unknown_services[_service_label(visit)].append(visit.line)
            elif category not in session_categories:
                not_package += 1
            elif category in credit_types and _holds_credit(packages[client_id], category):
                credit += 1
            elif not any(
                p.kind == "sessions" and category in p.categories for p in packages[client_id]
            ):
                without[(client_id, category)] += 1
            else:
                counts[client_id][category] += 1
        overruns = [
            line
            for client_id in sorted(counts)
            for line in _client_overruns(
                client_id, names.get(client_id, ""), counts[client_id], packages[client_id]
            )
        ]
        return audit.model_copy(
            update={
                "counted": sum(sum(c.values()) for c in counts.values()) + sum(without.values()),
                "not_package_services": not_package,
                "paid_from_credit": credit,
                "overruns": overruns,
                "no_package": [
                    NoPackageLine(
                        client_id=client_id,
                        client_name=names.get(client_id, ""),
                        category=category,
                        visits=n,
                    )
                    for (client_id, category), n in sorted(without.items())
                ],
                "unknown_clients": _listed(unknown_clients, UnknownClient, "reference"),
                "unknown_services": _listed(unknown_services, UnknownService, "service"),
                "excess_sessions": sum(o.excess for o in overruns),
                "value_cents": sum(o.value_cents for o in overruns),
            }
        )

    async def _categories(
        self, visits: Iterable[AuditVisit]
    ) -> dict[tuple[str, str | None, str | None], str | None]:
        """Each distinct service once (an export repeats a few dozen services)."""
        found: dict[tuple[str, str | None, str | None], str | None] = {}
        for visit in visits:
            key = _service(visit)
            if key not in found:
                found[key] = await self._catalog.category_for(*key)
        return found

    async def _clients(
        self, refs: set[tuple[str, RefKind, str]]
    ) -> dict[tuple[str, RefKind, str], str | None]:
        """Resolve client references in a few batched queries, as the CSV import resolves
        one: a linked platform id, a Punchcard client id, then the one client with that
        email or phone (none when several share it)."""
        resolved: dict[tuple[str, RefKind, str], str | None] = dict.fromkeys(refs)
        ids = [r for r in refs if r[1] == "id"]
        async with self._pool.acquire() as conn:
            links = await conn.fetch(
                """
                SELECT l.platform, l.external_id, l.client_id FROM client_links l
                JOIN unnest($1::text[], $2::text[]) AS r (platform, external_id)
                  ON l.platform = r.platform AND l.external_id = r.external_id
                """,
                [r[0] for r in ids],
                [r[2] for r in ids],
            )
            linked = {(row["platform"], row["external_id"]): row["client_id"] for row in links}
            direct = {
                row["client_id"]
                for row in await conn.fetch(
                    "SELECT client_id FROM clients WHERE client_id = ANY($1::text[])",
                    [r[2] for r in ids],
                )
            }
            for ref in ids:
                resolved[ref] = linked.get((ref[0], ref[2])) or (
                    ref[2] if ref[2] in direct else None
                )
            emails = {
                r: r[2].strip().lower()
                for r in refs
                if resolved[r] is None and (r[1] == "email" or (r[1] == "id" and "@" in r[2]))
            }
            phones = {
                r: phone
                for r in refs
                if resolved[r] is None
                and r[1] in ("phone", "id")
                and "@" not in r[2]
                and (phone := normalise_phone(r[2])) is not None
            }
            by_email = await _unique(
                conn,
                "SELECT lower(email) AS k, count(*) AS n, min(client_id) AS c FROM clients "
                "WHERE lower(email) = ANY($1::text[]) GROUP BY 1",
                set(emails.values()),
            )
            by_phone = await _unique(
                conn,
                "SELECT phone AS k, count(*) AS n, min(client_id) AS c FROM clients "
                "WHERE phone = ANY($1::text[]) GROUP BY 1",
                set(phones.values()),
            )
        for ref, email in emails.items():
            resolved[ref] = by_email.get(email)
        for ref, phone in phones.items():
            resolved[ref] = by_phone.get(phone)
        return resolved


async def _unique(
    conn: asyncpg.pool.PoolConnectionProxy, sql: str, keys: set[str]
) -> dict[str, str]:
    if not keys:
        return {}
    rows = await conn.fetch(sql, sorted(keys))
    return {row["k"]: row["c"] for row in rows if row["n"] == 1}


def _service(visit: AuditVisit) -> tuple[str, str | None, str | None]:
    return (visit.platform, visit.service_key, visit.service_name)


def _service_label(visit: AuditVisit) -> str:
    return visit.service_name or visit.service_key or "(no service)"


def _holds_credit(packages: Sequence[_Package], category: str) -> bool:
    return any(
        p.kind == "dollars" and category in p.categories and p.available > 0 for p in packages
    )


def _listed(found: dict[str, list[int]], model: type[_ListedT], field: str) -> list[_ListedT]:
    return [
        model.model_validate({field: key, "visits": len(lines), "lines": lines})
        for key, lines in sorted(found.items(), key=lambda item: item[1][0])
    ]


def _cents(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def _client_overruns(
    client_id: str,
    name: str,
    visits: dict[str, int],
    packages: Sequence[_Package],
) -> list[OverrunLine]:
    sessions = [p for p in packages if p.kind == "sessions"]
    pools = [(p.categories, p.available) for p in sessions]
    left = unserved(visits, pools)
    lines = []
    for category in sorted(visits):
        excess = left[category]
        if excess <= 0:
            continue
        covering = [p for p in sessions if category in p.categories]
        bought = max(sum(p.purchased_units for p in covering), 1)
        per_session = _cents(Decimal(sum(p.paid_cents for p in covering)) / bought)
        lines.append(
            OverrunLine(
                client_id=client_id,
                client_name=name,
                category=category,
                visits=visits[category],
                available=visits[category] - excess,
                excess=excess,
                session_value_cents=per_session,
                value_cents=per_session * excess,
            )
        )
    return lines
