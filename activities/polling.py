"""The `poll.*` activities: a location's cursor, and one page of its changed appointments.

One side effect each: reading the cursor, one provider request, one cursor write. The
workflow puts them in order (fetch every page, submit each, then advance), so a crash
anywhere before the advance only means the window is read again.

Failures:
    ApplicationError(type=BAD_CONFIGURATION, non_retryable) — the platform cannot be
        polled here: Jane (no public API), or Zenoti without an API key.
    ZenotiError — see `activities.booking.zenoti`.
"""

from __future__ import annotations

import hashlib

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.booking.zenoti import ZenotiApi
from activities.repository import ReviewQueue
from activities.repository.poll_locations import PollLocationRepository
from workflows import poll_models
from workflows.policies import BAD_CONFIGURATION
from workflows.poll_models import (
    AdvanceCursorInput,
    AdvanceCursorResult,
    CursorInput,
    CursorState,
    FetchedPage,
    FetchPageInput,
)
from workflows.text import clean_text
from workflows.visit_models import Platform

JANE_BLOCKED = (
    "Jane polling needs Jane Developer Platform partner access; import Jane's CSV export instead"
)
ZENOTI_UNCONFIGURED = "Zenoti polling needs PUNCHCARD_ZENOTI_API_KEY"


class PollingActivities:
    """Cursor reads and writes over the pool, pages from the platform adapters."""

    def __init__(self, pool: asyncpg.Pool, zenoti: ZenotiApi | None) -> None:
        self._locations = PollLocationRepository(pool)
        self._review = ReviewQueue(pool)
        self._zenoti = zenoti

    @activity.defn(name=poll_models.READ_CURSOR.name)
    async def read_cursor(self, input: CursorInput) -> CursorState:
        """Where the location's last complete run ended (None: never run)."""
        location = await self._locations.get(input.platform.value, input.location_id)
        if location is None:
            return CursorState(known=False)
        return CursorState(known=True, active=location.active, cursor_at=location.cursor_at)

    @activity.defn(name=poll_models.FETCH_PAGE.name)
    async def fetch_page(self, input: FetchPageInput) -> FetchedPage:
        """One page of appointments in the window, as visit events for intake."""
        if input.platform is Platform.JANE:
            raise ApplicationError(JANE_BLOCKED, type=BAD_CONFIGURATION, non_retryable=True)
        if input.platform is not Platform.ZENOTI:
            raise ApplicationError(
                f"{input.platform.value} is not polled", type=BAD_CONFIGURATION, non_retryable=True
            )
        if self._zenoti is None:
            raise ApplicationError(ZENOTI_UNCONFIGURED, type=BAD_CONFIGURATION, non_retryable=True)
        page = await self._zenoti.appointments_page(
            input.location_id,
            window_start=input.window.start,
            window_end=input.window.end,
            token=input.page_token,
            size=input.page_size,
            observed_at=input.window.end,
        )
        for appointment_id, problems in page.refused:
            await self._refused(input.location_id, appointment_id, problems)
        activity.logger.info(
            "%s %s page %s: %s appointments, %s events, %s skipped",
            input.platform.value,
            input.location_id,
            input.page_token or "first",
            page.appointments,
            len(page.visits),
            page.skipped,
        )
        return FetchedPage(
            visits=page.visits,
            appointments=page.appointments,
            skipped=page.skipped,
            next_page_token=page.next_token,
        )

    async def _refused(self, location_id: str, appointment_id: str, problems: str) -> None:
        """An appointment the visit model refuses waits for staff (once per appointment)."""
        shown = str(clean_text(appointment_id))[:150]
        digest = hashlib.sha256(appointment_id.encode("utf-8", "replace")).hexdigest()[:32]
        await self._review.open(
            item_id=f"poll:zenoti:{digest}",
            kind="follow_up",
            reason="refused_input",
            detail=f"Zenoti appointment {shown!r} at {location_id} was not read: {problems}",
            platform=Platform.ZENOTI.value,
            appointment_id=shown,
        )

    @activity.defn(name=poll_models.ADVANCE_CURSOR.name)
    async def advance_cursor(self, input: AdvanceCursorInput) -> AdvanceCursorResult:
        """Record the run's result; move the cursor forward when the run completed."""
        cursor_at = await self._locations.record_run(
            input.platform.value,
            input.location_id,
            cursor_at=input.cursor_at,
            result=input.result,
        )
        return AdvanceCursorResult(cursor_at=cursor_at)
