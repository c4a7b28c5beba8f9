"""Review items older than a day alert the manager, once: a staff alert and one email."""

from __future__ import annotations

import uuid

import asyncpg
from temporalio.client import Client, ScheduleIntervalSpec

from activities.repository import ReviewQueue
from tests.fakes.smtp import SmtpFake
from tests.workflows.conftest import Spa
from workers.schedules import REVIEW_SCHEDULE_ID, ensure_review_schedule
from workers.settings import Settings
from workflows.review import ReviewEscalationWorkflow
from workflows.visit_models import EscalateInput, EscalateResult


async def _escalate(client: Client, settings: Settings) -> EscalateResult:
    return await client.execute_workflow(
        ReviewEscalationWorkflow.run,
        EscalateInput(older_than_hours=24),
        id=f"escalate-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
    )


async def test_items_waiting_over_a_day_alert_the_manager_once(
    spa: Spa, pool: asyncpg.Pool, client: Client, settings: Settings, smtp: SmtpFake
) -> None:
    queue = ReviewQueue(pool)
    for item, detail in (("old", "service 'Glow' is not in the catalog"), ("new", "fresh one")):
        await queue.open(
            item_id=item, kind="unmatched_visit", reason="unknown_service", detail=detail
        )
    await pool.execute(
        "UPDATE review_items SET created_at = now() - interval '25 hours' WHERE item_id = 'old'"
    )

    assert (await _escalate(client, settings)).escalated == 1
    mails = [m for m in smtp.messages if "review item" in str(m["Subject"])]
    assert len(mails) == 1 and mails[0]["To"] == "manager@example.com"
    assert "Glow" in mails[0].get_payload(decode=True).decode()  # type: ignore[union-attr]
    alerts = await pool.fetch(
        "SELECT kind, message FROM staff_alerts WHERE kind = 'review_overdue'"
    )
    assert len(alerts) == 1 and "Glow" in alerts[0]["message"]
    assert (await queue.get("new")).escalated_at is None  # type: ignore[union-attr]

    # An hour later nothing new is overdue: no second email, no second alert.
    assert (await _escalate(client, settings)).escalated == 0
    assert len([m for m in smtp.messages if "review item" in str(m["Subject"])]) == 1


async def test_the_escalation_schedule_is_hourly_and_safe_to_ensure_twice(
    client: Client, settings: Settings
) -> None:
    await ensure_review_schedule(client, settings)
    await ensure_review_schedule(client, settings)
    handle = client.get_schedule_handle(REVIEW_SCHEDULE_ID)
    try:
        described = await handle.describe()
        (interval,) = described.schedule.spec.intervals
        assert isinstance(interval, ScheduleIntervalSpec)
        assert interval.every.total_seconds() == 3600
    finally:
        await handle.delete()
