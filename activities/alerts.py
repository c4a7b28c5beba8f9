"""Staff alerts: the durable queue the front desk and managers work through.

The row is the alert of record; the staff email about it is a separate activity, so a
mail outage never loses an alert. Texts are made storable (NUL escaped, length capped):
an alert is often about a value the database refused, and must not be refused itself.
"""

from __future__ import annotations

import asyncpg
from temporalio import activity

from workflows.contracts import StaffAlertInput, StaffAlertResult

_INSERT_ALERT = """
INSERT INTO staff_alerts (alert_key, package_id, client_id, kind, message)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (alert_key) DO NOTHING
RETURNING alert_key
"""


MAX_MESSAGE = 4000


def _storable(text: str, limit: int) -> str:
    """PostgreSQL text cannot hold NUL: an alert about a bad value must still be recorded."""
    clean = text.replace("\x00", "\\x00")
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


class StaffAlertActivities:
    """Records staff alerts; constructed with the worker's pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record_staff_alert(self, input: StaffAlertInput) -> StaffAlertResult:
        """Insert the alert once per key, so retries never raise it twice."""
        key = await self._pool.fetchval(
            _INSERT_ALERT,
            input.alert_key,
            input.package_id,
            input.client_id,
            _storable(input.kind, 100),
            _storable(input.message, MAX_MESSAGE),
        )
        recorded = key is not None
        activity.logger.info(
            "staff alert %s (%s) for package %s %s",
            input.alert_key,
            input.kind,
            input.package_id,
            "recorded" if recorded else "already recorded",
        )
        return StaffAlertResult(recorded=recorded)
