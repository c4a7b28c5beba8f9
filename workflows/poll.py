"""One poll of one location: read the window since the cursor, feed intake, move the cursor.

Started by the location's Temporal Schedule (see `workers.schedules`). The window runs
from the stored cursor (less an overlap, for appointments edited just before it) to now,
so after any downtime the whole gap is read in one run (or, past `max_window_days`, over
the next few). The cursor moves only after every page was handed to intake: a run that
fails part-way leaves it, and the next run reads the same window again, which changes
nothing for the pages already fed because every event carries its own key.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import workflows.poll_models as poll_models
    import workflows.visit_models as visit_models
    from workflows.calls import call

MAX_PAGES = 2000  # a platform that never stops paging is a bug: fail loudly


@workflow.defn(name=poll_models.POLL_WORKFLOW)
class PollLocationWorkflow:
    @workflow.run
    async def run(self, input: poll_models.PollInput) -> poll_models.PollOutcome:
        where = poll_models.CursorInput(platform=input.platform, location_id=input.location_id)
        cursor = await call(poll_models.READ_CURSOR, where)
        if not cursor.known or not cursor.active:
            workflow.logger.info(
                "%s %s is not an active polled location: nothing to do",
                input.platform.value,
                input.location_id,
            )
            return poll_models.PollOutcome(
                platform=input.platform, location_id=input.location_id, status="inactive"
            )
        window = self._window(input, cursor)
        outcome = poll_models.PollOutcome(
            platform=input.platform,
            location_id=input.location_id,
            status="polled",
            window=window,
            caught_up=window.end == workflow.now(),
        )
        try:
            outcome = await self._feed(input, window, outcome)
        except ActivityError as err:
            await self._record(input, None, f"failed: {_reason(err)}")
            raise
        stored = await self._record(input, window.end, outcome.summary())
        workflow.logger.info(
            "%s %s polled up to %s: %s",
            input.platform.value,
            input.location_id,
            stored.cursor_at,
            outcome.summary(),
        )
        return outcome

    @staticmethod
    def _window(
        input: poll_models.PollInput, cursor: poll_models.CursorState
    ) -> poll_models.PollWindow:
        now = workflow.now()
        if cursor.cursor_at is None:
            start = now - timedelta(hours=input.first_lookback_hours)
        else:
            start = min(cursor.cursor_at - timedelta(minutes=input.overlap_minutes), now)
        end = min(now, start + timedelta(days=input.max_window_days))
        return poll_models.PollWindow(start=start, end=end)

    async def _feed(
        self,
        input: poll_models.PollInput,
        window: poll_models.PollWindow,
        outcome: poll_models.PollOutcome,
    ) -> poll_models.PollOutcome:
        """Fetch page after page, handing each to intake before asking for the next."""
        token: str | None = None
        pages = appointments = skipped = submitted = accepted = 0
        unknown: list[str] = []
        while True:
            if pages >= MAX_PAGES:
                raise ApplicationError(
                    f"more than {MAX_PAGES} pages in one window", type="PollRunaway"
                )
            page = await call(
                poll_models.FETCH_PAGE,
                poll_models.FetchPageInput(
                    platform=input.platform,
                    location_id=input.location_id,
                    window=window,
                    page_token=token,
                    page_size=input.page_size,
                ),
            )
            pages += 1
            appointments += page.appointments
            skipped += page.skipped
            if page.visits:
                result = await call(
                    visit_models.SUBMIT_VISITS,
                    visit_models.SubmitVisits(visits=page.visits),
                )
                submitted += len(page.visits)
                accepted += result.accepted
                unknown.extend(result.unknown_clients)
            token = page.next_page_token
            if token is None:
                break
        return outcome.model_copy(
            update={
                "pages": pages,
                "appointments": appointments,
                "skipped": skipped,
                "submitted": submitted,
                "accepted": accepted,
                "unknown_clients": sorted(set(unknown)),
            }
        )

    @staticmethod
    async def _record(
        input: poll_models.PollInput, cursor_at: datetime | None, result: str
    ) -> poll_models.AdvanceCursorResult:
        return await call(
            poll_models.ADVANCE_CURSOR,
            poll_models.AdvanceCursorInput(
                platform=input.platform,
                location_id=input.location_id,
                cursor_at=cursor_at,
                result=result[:500],
            ),
        )


def _reason(err: ActivityError) -> str:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type}: {cause.message}"
    return str(cause or err)
