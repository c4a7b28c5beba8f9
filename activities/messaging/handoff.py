"""Client notices handed to Klaviyo as lifecycle events, each recorded in `klaviyo_events`.

Which notices go where is the spa's choice (`PUNCHCARD_CLIENT_MESSAGING`):

    punchcard  Punchcard texts and emails the client itself (Twilio, SMTP): the default
    klaviyo    the lifecycle notices (`klaviyo.METRICS`) become Klaviyo events only, for
               the spa's Klaviyo flows to message the client; other notices (refunds,
               corrections, top-ups, purchases, pace nudges) are still sent by Punchcard
    both       Punchcard sends, and Klaviyo gets the events too

Consent: Klaviyo owns it for what its flows send, so an event goes to Klaviyo whatever the
client's Punchcard opt-outs (they travel as profile properties a flow can check); Punchcard
itself never texts a client who opted out of SMS, in any mode.

The row keyed by the notice key makes a handoff safe to retry: a row already `sent`
answers `already_sent`. The key is also the event's `unique_id`, so when an answer was
lost and the event is submitted again, Klaviyo keeps only the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.messaging.klaviyo import METRICS, KlaviyoEvent, KlaviyoEvents, KlaviyoProfile
from workflows import schedule
from workflows.policies import UNKNOWN_CLIENT

ClientMessaging = Literal["punchcard", "klaviyo", "both"]
HandoffStatus = Literal["sent", "already_sent", "not_configured", "rejected"]

_CLIENT = "SELECT phone, email, sms_opt_out, email_opt_out FROM clients WHERE client_id = $1"

_PACKAGE = """
SELECT name, kind, status, remaining, purchased_units, expires_at
FROM packages WHERE package_id = $1
"""

_SENT = "SELECT 1 FROM klaviyo_events WHERE event_key = $1 AND status = 'sent'"

# Leaves a `sent` row alone (no row returned): a concurrent attempt won.
_BEGIN = """
INSERT INTO klaviyo_events AS k (event_key, client_id, package_id, kind, metric, status, attempts)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (event_key) DO UPDATE SET
    status = EXCLUDED.status, attempts = k.attempts + EXCLUDED.attempts, updated_at = now()
WHERE k.status <> 'sent'
RETURNING k.attempts
"""

_FINISH = """
UPDATE klaviyo_events
SET status = $2, error = $3, updated_at = now(),
    sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE sent_at END
WHERE event_key = $1 AND status <> 'sent'
"""

_NOTE_ERROR = """
UPDATE klaviyo_events SET error = $2, updated_at = now()
WHERE event_key = $1 AND status = 'sending'
"""


def hands_to_klaviyo(mode: ClientMessaging, kind: str) -> bool:
    return mode != "punchcard" and kind in METRICS


def punchcard_sends(mode: ClientMessaging, kind: str) -> bool:
    return mode != "klaviyo" or kind not in METRICS


@dataclass(frozen=True, kw_only=True)
class PackageFacts:
    """What a flow needs of the package, as of the event."""

    name: str
    kind: str  # sessions | dollars
    status: str
    remaining: int
    purchased_units: int
    expires_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class Handoff:
    """One notice to hand over; `package` None reads the package's projection row."""

    key: str
    kind: str
    client_id: str
    package_id: str
    subject: str
    body: str
    renewal_link: str | None
    package: PackageFacts | None = None


@dataclass(frozen=True)
class HandoffResult:
    status: HandoffStatus
    detail: str | None = None


def _describe(err: BaseException) -> str:
    if isinstance(err, ApplicationError):
        return f"{err.type or type(err).__name__}: {err.message}"[:500]
    return f"{type(err).__name__}: {err}"[:500]


class KlaviyoHandoff:
    """Client notices as Klaviyo events; `events` None records them as not configured."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        events: KlaviyoEvents | None,
        timezone: str,
        renewal_url: str | None = None,
    ) -> None:
        self._pool = pool
        self._events = events
        self._zone = ZoneInfo(timezone)
        self._renewal_url = renewal_url  # the spa's renewal page, "{package_id}" filled in

    async def hand_over(self, notice: Handoff) -> HandoffResult:
        """Submit the notice's event once; record what came of it.

        Raises:
            ProviderError: Klaviyo failed (retryable or not; a refusal is recorded first).
        """
        metric = METRICS[notice.kind]
        if await self._pool.fetchval(_SENT, notice.key):
            return HandoffResult("already_sent")
        events = self._events
        if events is None:
            await self._begin(notice, metric, "not_configured", attempts=0)
            return HandoffResult("not_configured", "Klaviyo is not configured")
        if await self._begin(notice, metric, "sending", attempts=1) is None:
            return HandoffResult("already_sent")
        try:
            event = await self._event(notice, metric)
            await events.create(event)
        except ApplicationError as err:
            if err.non_retryable:
                await self._pool.execute(_FINISH, notice.key, "rejected", _describe(err))
                activity.logger.warning("klaviyo %s rejected: %s", notice.key, err.type)
            else:
                await self._pool.execute(_NOTE_ERROR, notice.key, _describe(err))
            raise
        except Exception as err:
            await self._pool.execute(_NOTE_ERROR, notice.key, _describe(err))
            raise
        await self._pool.execute(_FINISH, notice.key, "sent", None)
        return HandoffResult("sent")

    async def record_undelivered(self, key: str, reason: str) -> None:
        """Close the row of an event whose retries ran out, so it never reads `sending`."""
        await self._pool.execute(_FINISH, key, "failed", reason)

    async def _begin(
        self, notice: Handoff, metric: str, status: str, *, attempts: int
    ) -> int | None:
        value: int | None = await self._pool.fetchval(
            _BEGIN,
            notice.key,
            notice.client_id,
            notice.package_id,
            notice.kind,
            metric,
            status,
            attempts,
        )
        return value

    async def _event(self, notice: Handoff, metric: str) -> KlaviyoEvent:
        client = await self._pool.fetchrow(_CLIENT, notice.client_id)
        if client is None:
            raise ApplicationError(
                f"unknown client {notice.client_id}", type=UNKNOWN_CLIENT, non_retryable=True
            )
        package = notice.package or await self._package(notice.package_id)
        link = notice.renewal_link
        if link is None and self._renewal_url:
            link = self._renewal_url.replace("{package_id}", notice.package_id)
        facts = self._facts(package, link)
        profile = KlaviyoProfile(
            external_id=notice.client_id,
            email=client["email"],
            phone_number=client["phone"],
            properties={
                **facts,
                "punchcard_sms_opt_out": bool(client["sms_opt_out"]),
                "punchcard_email_opt_out": bool(client["email_opt_out"]),
            },
        )
        return KlaviyoEvent(
            metric=metric,
            unique_id=notice.key,
            profile=profile,
            properties={
                **facts,
                "package_id": notice.package_id,
                "notice_kind": notice.kind,
                "subject": notice.subject,
                "message": notice.body,
            },
        )

    async def _package(self, package_id: str) -> PackageFacts:
        row = await self._pool.fetchrow(_PACKAGE, package_id)
        if row is None:
            raise ApplicationError(
                f"package {package_id} is not recorded yet", type="PackageNotRecorded"
            )
        return PackageFacts(
            name=row["name"],
            kind=row["kind"],
            status=row["status"],
            remaining=row["remaining"],
            purchased_units=row["purchased_units"],
            expires_at=row["expires_at"],
        )

    def _facts(self, package: PackageFacts, renewal_link: str | None) -> dict[str, object]:
        """The profile properties a flow uses: one set, the same on the event."""
        good_through = (
            schedule.good_through(package.expires_at, self._zone).isoformat()
            if package.expires_at is not None
            else None
        )
        sessions = package.kind == "sessions"
        return {
            "punchcard_package_name": package.name,
            "punchcard_package_status": package.status,
            "punchcard_sessions_remaining": package.remaining if sessions else None,
            "punchcard_credit_remaining": None if sessions else package.remaining / 100,
            "punchcard_purchased_units": package.purchased_units,
            "punchcard_good_through": good_through,
            "punchcard_renewal_link": renewal_link,
        }
