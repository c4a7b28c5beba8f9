"""The publish activity: one lifecycle event to every subscriber, at least once, recorded.

`event_deliveries` holds one row per (event id, URL). A URL that answered 2xx is
`delivered` and a URL that refused for good (a 4xx other than 408/429, or a redirect) is
`rejected`; a retried activity posts only to the others. So a subscriber sees an event
once per successful delivery, always under the same event id: dedupe on it, since a
2xx lost on the way back still means a second delivery.

Failures: `ApplicationError(type="EventUndelivered", retryable)` naming every URL that
failed transiently (network error, timeout, 408, 429, 5xx) after the others were tried.
"""

from __future__ import annotations

import asyncio

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.events.publisher import Attempt, WebhookPublisher, display_url
from workflows.contracts import PublishResult
from workflows.models import LifecycleEvent

EVENT_UNDELIVERED = "EventUndelivered"

_SETTLED = """
SELECT url, status FROM event_deliveries
WHERE event_id = $1 AND status IN ('delivered', 'rejected')
"""

# A settled row is left alone (no row returned): a concurrent attempt got there first.
_BEGIN = """
INSERT INTO event_deliveries AS d (event_id, url, event_type, package_id, status, attempts)
VALUES ($1, $2, $3, $4, 'sending', 1)
ON CONFLICT (event_id, url) DO UPDATE SET
    status = 'sending', attempts = d.attempts + 1, updated_at = now()
WHERE d.status NOT IN ('delivered', 'rejected')
RETURNING d.attempts
"""

_FINISH = """
UPDATE event_deliveries SET
    status = $3, http_status = $4, last_error = $5, updated_at = now(),
    delivered_at = CASE WHEN $3 = 'delivered' THEN now() ELSE delivered_at END
WHERE event_id = $1 AND url = $2 AND status = 'sending'
"""

_STATUS = "SELECT status FROM event_deliveries WHERE event_id = $1 AND url = $2"


class EventActivities:
    """Outbound lifecycle webhooks; with no publisher (no URLs configured) publishing is a no-op."""

    def __init__(self, *, pool: asyncpg.Pool, publisher: WebhookPublisher | None) -> None:
        self._pool = pool
        self._publisher = publisher

    async def publish(self, event: LifecycleEvent) -> PublishResult:
        """Post the event to every subscriber that has not yet answered for good."""
        publisher = self._publisher
        urls = publisher.urls if publisher is not None else []
        if publisher is None or not urls:
            return PublishResult(endpoints=0, delivered=0)
        settled = {
            row["url"]: row["status"] for row in await self._pool.fetch(_SETTLED, event.event_id)
        }
        body = publisher.body(event)
        pending = [url for url in urls if url not in settled]
        outcomes = await asyncio.gather(
            *(self._deliver(publisher, event, body, url) for url in pending),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        statuses = {url: settled.get(url) for url in urls}
        failed: list[Attempt] = []
        for attempt in outcomes:
            assert isinstance(attempt, Attempt)
            statuses[attempt.url] = attempt.outcome
            if attempt.outcome == "failed":
                failed.append(attempt)
        if failed:
            raise _undelivered(event, failed)
        delivered = sum(1 for status in statuses.values() if status == "delivered")
        return PublishResult(endpoints=len(urls), delivered=delivered)

    async def _deliver(
        self, publisher: WebhookPublisher, event: LifecycleEvent, body: bytes, url: str
    ) -> Attempt:
        key = (event.event_id, url)
        attempts = await self._pool.fetchval(_BEGIN, *key, event.type, event.package.package_id)
        if attempts is None:
            status = await self._pool.fetchval(_STATUS, *key)
            return Attempt(url=url, outcome="delivered" if status == "delivered" else "rejected")
        attempt = await publisher.deliver(url, event, body)
        await self._pool.execute(_FINISH, *key, attempt.outcome, attempt.http_status, attempt.error)
        where = display_url(url)
        if attempt.outcome == "delivered":
            activity.logger.info("event %s delivered to %s", event.event_id, where)
        elif attempt.outcome == "rejected":
            activity.logger.warning(
                "event %s rejected by %s (%s); not retried", event.event_id, where, attempt.error
            )
        else:
            activity.logger.info(
                "event %s attempt %s to %s failed: %s",
                event.event_id,
                attempts,
                where,
                attempt.error,
            )
        return attempt


def _undelivered(event: LifecycleEvent, failed: list[Attempt]) -> ApplicationError:
    reasons = "; ".join(f"{display_url(a.url)}: {a.error}" for a in failed)
    delays = [a.retry_after for a in failed if a.retry_after is not None]
    return ApplicationError(
        f"event {event.event_id} ({event.type}) not delivered to {reasons}",
        {"urls": [display_url(a.url) for a in failed]},
        type=EVENT_UNDELIVERED,
        non_retryable=False,
        next_retry_delay=max(delays) if delays else None,
    )
