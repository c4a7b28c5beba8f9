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
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import Field

from activities.repository import ServiceCatalog, normalise_phone
from workflows.models import Model

WINDOW_DAYS = 90

RefKind = Literal["id", "email", "phone"]

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


class AuditVisit(Model):
    """One completed appointment of the export, as the CSV parser read it."""

    line: int
    platform: str
    appointment_id: str
    client_ref: str
    client_ref_kind: RefKind = "id"
    service_key: str | None = None
    service_name: str | None = None
    service_date: date


class AuditProblem(Model):
    line: int
    message: str


class OverrunLine(Model):
    client_id: str
    client_name: str
    category: str
    visits: int
    available: int = Field(description="sessions the client had for these visits")
    excess: int
    session_value_cents: int = Field(description="paid / sessions bought, over those packages")
    value_cents: int


class NoPackageLine(Model):
    """Visits in a category for which the client held no session package in the window:
    paid at the visit, or never charged; the export cannot say which."""

    client_id: str
    client_name: str
    category: str
    visits: int


class UnknownClient(Model):
    reference: str
    visits: int
    lines: list[int]


class UnknownService(Model):
    service: str
    visits: int
    lines: list[int]


class AuditSummary(Model):
    """What the weekly reconciliation shows of the latest audit."""

    report_id: str
    generated_at: datetime
    window_start: date
    window_end: date
    clients: int
    excess_sessions: int
    value_cents: int
    unknown_clients: int
    unknown_services: int
    without_package: int = 0


class OverrunAudit(Model):
    report_id: str
    generated_at: datetime
    platform: str
    window_start: date
    window_end: date
    visits_read: int = Field(description="completed visits in the export")
    counted: int = Field(description="visits compared with purchases")
    outside_window: int = 0
    not_package_services: int = 0
    paid_from_credit: int = 0
    skipped_rows: int = 0
    overruns: list[OverrunLine] = Field(default_factory=list)
    no_package: list[NoPackageLine] = Field(default_factory=list)
    unknown_clients: list[UnknownClient] = Field(default_factory=list)
    unknown_services: list[UnknownService] = Field(default_factory=list)
    errors: list[AuditProblem] = Field(default_factory=list)
    excess_sessions: int = 0
    value_cents: int = 0

    def summary(self) -> AuditSummary:
        return AuditSummary(
            report_id=self.report_id,
            generated_at=self.generated_at,
            window_start=self.window_start,
            window_end=self.window_end,
            clients=len({line.client_id for line in self.overruns}),
            excess_sessions=self.excess_sessions,
            value_cents=self.value_cents,
            unknown_clients=len(self.unknown_clients),
            unknown_services=len(self.unknown_services),
            without_package=len({line.client_id for line in self.no_package}),
        )


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
        end = datetime.combine(last + timedelta(days=1), time(0), zone)
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


def unserved(visits: dict[str, int], pools: Sequence[tuple[frozenset[str], int]]) -> dict[str, int]:
    """Visits per category that no package could have covered.

    A maximum matching of visits to package sessions (augmenting paths, one unit at a
    time; the graphs are one client's few packages), so a package covering several
    categories lends each session once. Categories are served in name order.
    """
    left = dict(visits)
    room = [units for _, units in pools]
    flow: dict[tuple[str, int], int] = defaultdict(int)
    for category in sorted(visits):
        while left[category] > 0:
            found = _augmenting_path(category, pools, room, flow)
            if found is None:
                break
            steps, full_stop = found
            for edge, change in steps:
                flow[edge] += change
            room[full_stop] -= 1
            left[category] -= 1
    return left


Edge = tuple[str, int]  # (category, package index)


def _augmenting_path(
    source: str,
    pools: Sequence[tuple[frozenset[str], int]],
    room: Sequence[int],
    flow: dict[Edge, int],
) -> tuple[list[tuple[Edge, int]], int] | None:
    """Breadth-first: category -> a package covering it -> if that package is full, a
    category it serves, whose visit may move to another package -> ... -> a package with
    room. Returns the flow changes along the path and the package that takes the unit."""
    parent: dict[int, tuple[str, int | None]] = {}  # package -> (category, package before)
    queue: list[tuple[str, int | None]] = [(source, None)]
    seen = {source}
    while queue:
        category, via = queue.pop(0)
        for pkg, (covers, _) in enumerate(pools):
            if category not in covers or pkg in parent:
                continue
            parent[pkg] = (category, via)
            if room[pkg] > 0:
                return _trace(pkg, parent), pkg
            for (other, served_by), amount in list(flow.items()):
                if served_by == pkg and amount > 0 and other not in seen:
                    seen.add(other)
                    queue.append((other, pkg))
    return None


def _trace(last: int, parent: dict[int, tuple[str, int | None]]) -> list[tuple[Edge, int]]:
    steps: list[tuple[Edge, int]] = []
    pkg: int | None = last
    while pkg is not None:
        category, previous = parent[pkg]
        steps.append(((category, pkg), +1))  # the category now uses this package
        if previous is not None:
            steps.append(((category, previous), -1))  # ...instead of the one before
        pkg = previous
    return steps
