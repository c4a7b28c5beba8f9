"""Write-back activities: a package's latest state to the CRM and the booking platforms.

The package workflow calls them after every balance change with a `PackageSync` whose
`version` grows. Per target and package, `integration_syncs` keeps the latest version
written and its outcome, which makes the activities safe to retry and keeps the newest
state in place whatever order the calls land in:

- a version older than the recorded one is not written (the answer repeats the recorded
  status, its detail saying so); the same version again answers as before;
- two pushes of one package to one target never run at once: a claim row admits one; an
  older push meeting a newer claim steps aside, a newer one meeting an older claim
  retries shortly (`SyncBusy`, with next_retry_delay: no sleeping here).

Every outcome is recorded: updated, not_linked, not_configured, read_only, rejected.
Transient failures are noted in `last_error` and raised for Temporal to retry; refused
credentials are recorded as rejected and raised as BAD_CONFIGURATION.

Contact details (the email HubSpot may be addressed by, the name a new Salesforce Contact
needs) are read here by client id and never logged or stored.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.crm.base import CrmAdapter, CrmContact, answered, crm_fields
from activities.writeback.booking import BOOKING_PLATFORMS, READ_ONLY, BookingWriter, Written
from activities.writeback.mindbody_sale import MindbodyRenewalSale
from workflows.contracts import (
    PackageSync,
    SyncResult,
    SyncTargetResult,
)
from workflows.policies import UNKNOWN_CLIENT

SYNC_BUSY = "SyncBusy"
CLOSED_STATUSES = frozenset({"expired", "cancelled"})

Attempt = Callable[[str | None], Awaitable[Written]]

_CLAIM = """
INSERT INTO integration_syncs AS s
    (target, package_id, client_id, version, status, attempts, claimed_version, claimed_until)
VALUES ($1, $2, $3, 0, 'pending', 1, $4, now() + make_interval(secs => $5))
ON CONFLICT (target, package_id) DO UPDATE SET
    attempts = s.attempts + 1,
    claimed_version = EXCLUDED.claimed_version,
    claimed_until = EXCLUDED.claimed_until,
    updated_at = now()
WHERE s.version < EXCLUDED.claimed_version
  AND (s.claimed_version IS NULL OR s.claimed_until < now()
       OR s.claimed_version = EXCLUDED.claimed_version)
RETURNING s.external_ref
"""

_SETTLE = """
UPDATE integration_syncs SET
    client_id = $3, version = $4, status = $5, detail = $6,
    external_ref = COALESCE($7, external_ref),
    last_error = NULL, synced_at = now(), updated_at = now(),
    claimed_until = CASE WHEN claimed_version = $4 THEN NULL ELSE claimed_until END,
    claimed_version = CASE WHEN claimed_version = $4 THEN NULL ELSE claimed_version END
WHERE target = $1 AND package_id = $2 AND version < $4
RETURNING status
"""

_RELEASE = """
UPDATE integration_syncs SET
    last_error = $4, updated_at = now(),
    claimed_until = CASE WHEN claimed_version = $3 THEN NULL ELSE claimed_until END,
    claimed_version = CASE WHEN claimed_version = $3 THEN NULL ELSE claimed_version END
WHERE target = $1 AND package_id = $2
"""

_RECORDED = """
SELECT version, status, detail, claimed_version, coalesce(claimed_until > now(), false) AS live
FROM integration_syncs WHERE target = $1 AND package_id = $2
"""

_CONTACT = """
SELECT c.email, c.name,
       (SELECT l.external_id FROM client_links l
        WHERE l.client_id = c.client_id AND l.platform = $2
        ORDER BY l.created_at DESC, l.external_id LIMIT 1) AS crm_id
FROM clients c WHERE c.client_id = $1
"""

_LINKS = """
SELECT DISTINCT ON (platform) platform, external_id FROM client_links
WHERE client_id = $1 AND platform = ANY($2::text[])
ORDER BY platform, created_at DESC, external_id
"""

_PAID_ONLINE = """
SELECT paid_cents FROM packages WHERE package_id = $1 AND payment_intent_id IS NOT NULL
"""

_ACTIVE_ELSEWHERE = """
SELECT package_id FROM packages
WHERE client_id = $1 AND package_id <> $2 AND status = 'active'
ORDER BY expires_at NULLS LAST, purchased_at LIMIT 1
"""


def _describe(err: BaseException) -> str:
    if isinstance(err, ApplicationError):
        return f"{err.type or type(err).__name__}: {err.message}"
    return f"{type(err).__name__}: {err}"


class SyncActivities:
    """CRM and booking write-back; a CRM left as None and absent writers are not configured."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        crm: CrmAdapter | None = None,
        writers: Sequence[BookingWriter] = (),
        renewal_sale: MindbodyRenewalSale | None = None,
        timezone: str = "America/New_York",
        claim_seconds: float = 60.0,
        busy_retry: timedelta = timedelta(seconds=2),
    ) -> None:
        self._pool = pool
        self._crm = crm
        self._writers = {writer.name: writer for writer in writers}
        self._sale = renewal_sale
        self._zone = ZoneInfo(timezone)
        self._claim_seconds = claim_seconds
        self._busy_retry = busy_retry

    async def sync_crm(self, input: PackageSync) -> SyncResult:
        """Write the package's fields on the client's CRM contact (no result: CRM is off).

        The contact has room for one package: a closed package never replaces a client's
        active one there (the answer says which package the contact keeps showing).
        """
        crm = self._crm
        if crm is None:
            return SyncResult()
        row = await self._pool.fetchrow(_CONTACT, input.client_id, crm.name)
        if row is None:
            raise ApplicationError(
                f"unknown client {input.client_id}", type=UNKNOWN_CLIENT, non_retryable=True
            )
        if input.status in CLOSED_STATUSES:
            active = await self._pool.fetchval(_ACTIVE_ELSEWHERE, input.client_id, input.package_id)
            if active is not None:
                return SyncResult(
                    results=[
                        answered(
                            crm.name,
                            "updated",
                            f"not written: the contact keeps showing active package {active} "
                            f"(a {input.status} package never replaces an active one)",
                        )
                    ]
                )
        contact = CrmContact(
            client_id=input.client_id, crm_id=row["crm_id"], email=row["email"], name=row["name"]
        )
        fields = crm_fields(input, self._zone)

        async def push(ref: str | None) -> Written:
            result = await crm.push(contact, fields)
            return Written(result.status, result.detail)

        return SyncResult(results=[await self._guarded(crm.name, input, push)])

    async def write_back_booking(self, input: PackageSync) -> SyncResult:
        """Show the remaining count on every booking platform the client is linked to.

        One result per platform that is configured for write-back or linked for the client:
        written, or not_linked / not_configured / read_only. Each platform is settled before
        any failure is raised, so a retry redoes only what failed.
        """
        rows = await self._pool.fetch(_LINKS, input.client_id, list(BOOKING_PLATFORMS))
        links: dict[str, str] = {row["platform"]: row["external_id"] for row in rows}
        targets = sorted(set(self._writers) | set(links))
        results: list[SyncTargetResult] = []
        failures: list[ApplicationError] = []
        for target in targets:
            try:
                attempt = self._booking_attempt(target, links.get(target), input)
                results.append(await self._guarded(target, input, attempt))
            except ApplicationError as err:
                failures.append(err)
        try:
            sold = await self._renewal_sale(links.get("mindbody"), input)
        except ApplicationError as err:
            failures.append(err)
        else:
            results.extend(sold)
        if failures:
            # A transient failure first: the retry also retries the rest.
            raise min(failures, key=lambda err: err.non_retryable)
        return SyncResult(results=results)

    async def _renewal_sale(
        self, mindbody_client: str | None, sync: PackageSync
    ) -> list[SyncTargetResult]:
        """A package paid through Stripe, of a mapped type, sold once in Mindbody too
        (PUNCHCARD_MINDBODY_RENEWAL_PRICING_OPTIONS); nothing for any other package."""
        sale = self._sale
        if sale is None or mindbody_client is None or not sale.sells(sync.type_code):
            return []
        if sync.status != "active":
            return []
        paid = await self._pool.fetchval(_PAID_ONLINE, sync.package_id)
        if paid is None:
            return []

        async def attempt(ref: str | None) -> Written:
            return await sale.sell(mindbody_client, sync, int(paid), ref)

        return [await self._guarded(sale.name, sync, attempt)]

    def _booking_attempt(self, target: str, external_id: str | None, sync: PackageSync) -> Attempt:
        """The platform's write, or the answer that needs no call."""
        writer = self._writers.get(target)
        if target in READ_ONLY:
            answer = Written(
                "read_only", f"{target} has no write API: the count stays in Punchcard"
            )
        elif writer is None:
            answer = Written(
                "not_configured",
                f"write-back to {target} is off (add it to PUNCHCARD_BOOKING_WRITE_BACK)",
            )
        elif external_id is None:
            answer = Written(
                "not_linked", f"client has no {target} id (client_links platform '{target}')"
            )
        else:
            return functools.partial(writer.write, external_id, sync)

        async def settled(_ref: str | None) -> Written:
            return answer

        return settled

    # --- the version guard ------------------------------------------------------------

    async def _guarded(self, target: str, sync: PackageSync, attempt: Attempt) -> SyncTargetResult:
        """Claim (target, package) for this version, run the attempt once, record the outcome."""
        key = (target, sync.package_id)
        claim = await self._pool.fetchrow(
            _CLAIM, *key, sync.client_id, sync.version, self._claim_seconds
        )
        if claim is None:
            return await self._not_claimed(target, sync)
        try:
            written = await attempt(claim["external_ref"])
        except ApplicationError as err:
            if err.non_retryable:
                await self._settle(target, sync, Written("rejected", _describe(err)))
                activity.logger.warning(
                    "%s sync of %s v%s failed for good: %s",
                    target,
                    sync.package_id,
                    sync.version,
                    err.type,
                )
            else:
                await self._pool.execute(_RELEASE, *key, sync.version, _describe(err))
                activity.logger.info(
                    "%s sync of %s v%s will retry: %s",
                    target,
                    sync.package_id,
                    sync.version,
                    err.type,
                )
            raise
        except Exception as err:
            await self._pool.execute(_RELEASE, *key, sync.version, _describe(err))
            raise
        return await self._settle(target, sync, written)

    async def _settle(self, target: str, sync: PackageSync, written: Written) -> SyncTargetResult:
        status = await self._pool.fetchval(
            _SETTLE,
            target,
            sync.package_id,
            sync.client_id,
            sync.version,
            written.status,
            written.detail,
            written.ref,
        )
        if status is None:  # a newer version settled while this one was written
            return await self._not_claimed(target, sync)
        activity.logger.info(
            "%s sync of %s v%s: %s", target, sync.package_id, sync.version, written.status
        )
        return SyncTargetResult(target=target, status=written.status, detail=written.detail)

    async def _not_claimed(self, target: str, sync: PackageSync) -> SyncTargetResult:
        """Why this version may not write: already written, superseded, or wait a moment."""
        row = await self._pool.fetchrow(_RECORDED, target, sync.package_id)
        version = sync.version
        if row is not None and row["version"] >= version:
            said = f"{row['status']}: {row['detail']}" if row["detail"] else row["status"]
            why = (
                f"version {version} already synced ({said})"
                if row["version"] == version
                else f"version {version} not written: version {row['version']} is newer ({said})"
            )
            return SyncTargetResult(target=target, status=row["status"], detail=why)
        claimed = row["claimed_version"] if row is not None and row["live"] else None
        if claimed is not None and claimed > version:
            return SyncTargetResult(
                target=target,
                status="updated",
                detail=f"version {version} not written: version {claimed} is being written",
            )
        raise ApplicationError(
            f"{target}: an earlier version of package {sync.package_id} is still being written",
            type=SYNC_BUSY,
            non_retryable=False,
            next_retry_delay=self._busy_retry,
        )
