"""Applying one open-package row: a running package workflow opened with its balance.

A row becomes a `PackageWorkflow` whose ledger opens with an `opening_balance` entry
(see `workflows.book.opening`): the terms are the type's, with what was bought and paid
in the old system; the remaining units are worth their pro-rata share of the price.
Days are the spa's: bought at the start of the purchase day, good through the expiry day
(the type's months from purchase when the file gives none).

Refused, with the reason: an unknown client or type, a count that does not fit the type's
kind, a purchase after today, an expiry before the purchase, and a package already expired
(unless the job brings those in as expired, for the record). A row with nothing left is
skipped: it is not an open package.

Idempotency: the row's key (the old purchase id, or its fingerprint) is claimed in
`import_keys` before the workflow starts; the package id derives from it and the workflow
id from that, so a retry after a crash restarts nothing, and a second import of the same
file finds every key held and skips the row.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.imports.locations import LocationMatcher, UnknownLocationRef
from activities.imports.models import (
    FORMAT_PLATFORM,
    ImportOptions,
    PackageRow,
    RowResult,
    fingerprint,
)
from activities.imports.store import ImportJob, ImportStore
from activities.repository import (
    ClientLinkRepository,
    LocationRecord,
    LocationRepository,
    PackageTypeRecord,
    PackageTypeRepository,
)
from activities.sales import SalePolicy
from workflows import schedule, texts, visibility
from workflows.ids import package_workflow_id
from workflows.models import OpeningBalance, PackageInput, PackageKind, PackageTerms
from workflows.package import PackageWorkflow

KEY_KIND = "package"
TYPES_FOR_SECONDS = 5.0
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,80}")

_BY_NAME = "SELECT client_id FROM clients WHERE lower(name) = lower($1) LIMIT 2"
_BY_EXTERNAL_ID = "SELECT DISTINCT client_id FROM client_links WHERE external_id = $1 LIMIT 2"


def package_id_for(row: PackageRow) -> str:
    """ "imp-mindbody-84123" from the old purchase id; a digest when it has none or when
    it holds characters an id should not."""
    if row.purchase_id and _SAFE_ID.fullmatch(row.purchase_id):
        return f"imp-{row.source}-{row.purchase_id}"
    return f"imp-{row.source}-{fingerprint(row.key())[:16]}"


class _Refusal(Exception):
    """The row cannot be brought in; str() says why."""


@dataclass(frozen=True)
class _Plan:
    package_input: PackageInput
    message: str


class PackageImporter:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        client: Client,
        store: ImportStore,
        sales: SalePolicy,
        task_queue: str,
    ) -> None:
        self._pool = pool
        self._client = client
        self._store = store
        self._sales = sales
        self._task_queue = task_queue
        self._links = ClientLinkRepository(pool)
        self._types = PackageTypeRepository(pool)
        self._types_read: tuple[float, list[PackageTypeRecord]] | None = None
        self._locations = LocationMatcher(LocationRepository(pool))

    async def apply(self, job: ImportJob, row: PackageRow, *, now: datetime) -> RowResult:
        key, package_id = row.key(), package_id_for(row)
        held = (await self._store.owners(KEY_KIND, [key])).get(key)
        if held is not None and held.job_id != job.job_id:
            return _result(
                row, "skipped", f"already brought in as package {held.target_id}", held.target_id
            )
        try:
            plan = await self._plan(job, row, package_id, now)
        except _Refusal as why:
            return _result(row, "refused", str(why))
        if plan is None:
            return _result(row, "skipped", "nothing left on it: not an open package")
        if job.dry_run:
            return _result(row, "created", plan.message, package_id)
        owner = await self._store.claim(
            KEY_KIND, key, target_id=package_id, job_id=job.job_id, line=row.line
        )
        if owner.job_id != job.job_id:  # another job took it between the look and the claim
            return _result(
                row, "skipped", f"already brought in as package {owner.target_id}", owner.target_id
            )
        try:
            await self._start(plan.package_input)
        except WorkflowAlreadyStartedError:
            pass  # this job started it before a crash: the same package
        except RPCError as err:
            if err.status is not RPCStatusCode.INVALID_ARGUMENT:
                raise  # Temporal away: the activity is retried, the claim is ours
            await self._store.release(KEY_KIND, key, job.job_id)
            return _result(row, "refused", f"Temporal refused the package: {err.message}")
        return _result(row, "created", plan.message, package_id)

    async def wait_recorded(self, package_ids: list[str], *, timeout: float = 30.0) -> bool:
        """Until every package's balance row is in the ledger (its first workflow task
        writes it): a finished job then shows every package it brought in."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = await self._pool.fetchval(
                "SELECT count(*) FROM packages WHERE package_id = ANY($1::text[])", package_ids
            )
            if found >= len(set(package_ids)):
                return True
            if asyncio.get_running_loop().time() > deadline:
                return False
            activity.heartbeat()
            await asyncio.sleep(0.05)

    async def _start(self, package_input: PackageInput) -> None:
        await self._client.start_workflow(
            PackageWorkflow.run,
            package_input,
            id=package_workflow_id(package_input.package_id),
            task_queue=self._task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=visibility.index_at_sale(package_input).at_start(),
            static_summary=visibility.summary(package_input),
            static_details=visibility.details(package_input),
        )

    async def _plan(
        self, job: ImportJob, row: PackageRow, package_id: str, now: datetime
    ) -> _Plan | None:
        client_id = await self._client_for(row, job.format)
        package_type = await self._type_for(row, job.options)
        location = await self._location_for(row, job.options, client_id)
        notices = self._sales.notices
        if location is not None:  # its days, and its reminders' hour, are that location's
            notices = notices.model_copy(update={"timezone": location.timezone})
        tz = notices.timezone
        today = now.astimezone(schedule.zone(tz)).date()
        terms, remaining, value = _amounts(row, package_type)
        if remaining == 0:
            return None
        purchased_on = row.purchased_on or today
        if purchased_on > today:
            raise _Refusal(f"purchase date {purchased_on} is after today ({today})")
        purchased_at = (
            schedule.ends_after(purchased_on - timedelta(days=1), tz)
            if purchased_on < today
            else now.astimezone(schedule.zone(tz))
        )
        if row.expires_on is not None:
            if row.expires_on < purchased_on:
                raise _Refusal(
                    f"expiry date {row.expires_on} is before the purchase ({purchased_on})"
                )
            expires_at = schedule.ends_after(row.expires_on, tz)
        else:
            expires_at = self._sales.expires_at(package_type, purchased_at, tz)
        good_through = schedule.good_through(expires_at, tz)
        expired = expires_at <= now
        if expired and not job.options.include_expired:
            raise _Refusal(
                f"expired on {good_through} with {texts.amount(terms.kind, remaining)} unused: "
                "not an open package (import with include_expired to keep it for the record)"
            )
        opening = OpeningBalance(
            remaining=remaining,
            value_cents=value,
            source=row.source,
            source_id=row.purchase_id,
            expired=expired,
        )
        package_input = PackageInput(
            package_id=package_id,
            client_id=client_id,
            terms=terms,
            purchased_at=purchased_at,
            expires_at=expires_at,
            sold_by=job.created_by,
            notices=notices,
            opening=opening,
            location_id=None if location is None else location.location_id,
        )
        left = texts.amount(terms.kind, remaining)
        parts = [
            f"package {package_id} for {client_id}: {left} of {texts.amount(terms.kind, terms.units)}"
            f" left, worth {texts.money(value)}",
            f"good through {good_through}" + (" (brought in expired)" if expired else ""),
        ]
        if row.purchased_on is None:
            parts.append("no purchase date in the file: counted from today")
        if row.expires_on is None:
            parts.append("no expiry in the file: the type's")
        return _Plan(package_input=package_input, message="; ".join(parts + row.notes))

    async def _catalogue(self) -> list[PackageTypeRecord]:
        """The package types, read at most every few seconds (a batch reads them once)."""
        now = asyncio.get_running_loop().time()
        if self._types_read is None or now - self._types_read[0] > TYPES_FOR_SECONDS:
            self._types_read = (now, await self._types.list())
        return self._types_read[1]

    async def _location_for(
        self, row: PackageRow, options: ImportOptions, client_id: str
    ) -> LocationRecord | None:
        """The row's location, else the job's, else the client's home location, else the
        default; None while the spa has configured none."""
        ref = row.location_ref or options.location_id
        if ref is None and await self._locations.all():
            ref = await self._pool.fetchval(
                "SELECT home_location_id FROM clients WHERE client_id = $1", client_id
            )
        try:
            return await self._locations.match(ref)
        except UnknownLocationRef as why:
            raise _Refusal(str(why)) from None

    async def _client_for(self, row: PackageRow, format: str) -> str:
        """A Punchcard id, the file's platform id (any platform's for a generic file), an
        email or a phone, then a name that exactly one client has."""
        ref = row.client_ref
        platform = FORMAT_PLATFORM.get(format)
        if platform is not None and (found := await self._links.resolve(platform, ref)):
            return found
        if await self._pool.fetchval("SELECT 1 FROM clients WHERE client_id = $1", ref):
            return ref
        if platform is None:
            linked = await self._pool.fetch(_BY_EXTERNAL_ID, ref)
            if len(linked) == 1:
                return str(linked[0]["client_id"])
        contact = await self._links.match_contact(
            email=ref if "@" in ref else None, phone=None if "@" in ref else ref
        )
        if contact is not None:
            return contact
        name = row.client_name or ref
        named = await self._pool.fetch(_BY_NAME, name)
        if len(named) == 1:
            return str(named[0]["client_id"])
        if len(named) > 1:
            raise _Refusal(f"several clients are named {name!r}: use their client id")
        raise _Refusal(
            f"unknown client {ref!r}: import the clients first, or use a Punchcard client id, "
            "a linked platform id, an email or a phone"
        )

    async def _type_for(self, row: PackageRow, options: ImportOptions) -> PackageTypeRecord:
        wanted = options.type_map.get(row.type_ref, row.type_ref)
        types = await self._catalogue()
        exact = [t for t in types if t.type_code == wanted]
        if exact:
            return exact[0]
        folded = " ".join(wanted.split()).casefold()
        matches = [
            t
            for t in types
            if folded in (t.type_code.casefold(), " ".join(t.name.split()).casefold())
        ]
        if len(matches) == 1:
            return matches[0]
        raise _Refusal(
            f"unknown package type {row.type_ref!r}: create it, name it by its code, or map "
            "the old name to a code (type_map)"
        )


def _amounts(row: PackageRow, package_type: PackageTypeRecord) -> tuple[PackageTerms, int, int]:
    """The terms as bought, what is left, and its value (the pro-rata share of the price)."""
    terms = package_type.terms()
    if package_type.kind is PackageKind.SESSIONS:
        if row.balance_cents is not None or row.credit_cents is not None:
            raise _Refusal(
                f"{package_type.type_code} counts sessions: give Sessions Remaining, not a balance"
            )
        bought = row.units_bought if row.units_bought is not None else terms.units
        remaining = row.units_remaining
        what = "sessions remaining"
    else:
        if row.units_bought is not None or row.units_remaining is not None:
            raise _Refusal(
                f"{package_type.type_code} is dollar credit: give its Balance (and Credit), "
                "not session counts"
            )
        bought = row.credit_cents if row.credit_cents is not None else terms.units
        remaining = row.balance_cents
        what = "balance"
    if remaining is None:
        raise _Refusal(f"no {what} given")
    if bought <= 0:
        raise _Refusal("nothing was bought (0)")
    if remaining > bought:
        raise _Refusal(
            f"{texts.amount(terms.kind, remaining)} left is more than the "
            f"{texts.amount(terms.kind, bought)} bought"
        )
    price = row.price_cents if row.price_cents is not None else terms.price_cents
    value = price if remaining == bought else price * remaining // bought
    return terms.model_copy(update={"units": bought, "price_cents": price}), remaining, value


def _result(row: PackageRow, outcome: str, message: str, ref: str | None = None) -> RowResult:
    return RowResult.model_validate(
        {"line": row.line, "outcome": outcome, "message": message, "ref": ref}
    )
