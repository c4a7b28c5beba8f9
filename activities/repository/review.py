"""The manual review queue, appointment routes, and the record of inbound deliveries."""

from __future__ import annotations

import builtins
import json
from datetime import datetime
from typing import Any

import asyncpg

from activities.repository.base import Row

_REVIEW_COLUMNS = (
    "item_id, kind, reason, detail, client_id, platform, appointment_id, service_name, "
    "category, visit_workflow_id, status, created_at, escalated_at, resolved_at, "
    "resolved_by, resolution, package_id"
)


class ReviewItem(Row):
    item_id: str
    kind: str
    reason: str
    detail: str
    client_id: str | None
    platform: str | None
    appointment_id: str | None
    service_name: str | None
    category: str | None
    visit_workflow_id: str | None
    status: str
    created_at: datetime
    escalated_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None
    package_id: str | None


class ReviewQueue:
    """Open items wait for staff; every item keeps who settled it and how."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def open(
        self,
        *,
        item_id: str,
        kind: str,
        reason: str,
        detail: str,
        client_id: str | None = None,
        platform: str | None = None,
        appointment_id: str | None = None,
        service_name: str | None = None,
        category: str | None = None,
        visit_workflow_id: str | None = None,
    ) -> bool:
        """Add an item once per id (retries add nothing); True when it is new."""
        added = await self._pool.fetchval(
            """
            INSERT INTO review_items (item_id, kind, reason, detail, client_id, platform,
                appointment_id, service_name, category, visit_workflow_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (item_id) DO NOTHING
            RETURNING item_id
            """,
            item_id,
            kind,
            reason,
            detail,
            client_id,
            platform,
            appointment_id,
            service_name,
            category,
            visit_workflow_id,
        )
        return added is not None

    async def close(
        self,
        item_id: str,
        *,
        status: str,
        resolved_by: str,
        resolution: str,
        package_id: str | None = None,
    ) -> bool:
        """Settle an open item; False when it was not open (already settled, or unknown)."""
        result = await self._pool.execute(
            """
            UPDATE review_items SET status = $2, resolved_by = $3, resolution = $4,
                package_id = $5, resolved_at = now()
            WHERE item_id = $1 AND status = 'open'
            """,
            item_id,
            status,
            resolved_by,
            resolution,
            package_id,
        )
        return result != "UPDATE 0"

    async def get(self, item_id: str) -> ReviewItem | None:
        row = await self._pool.fetchrow(
            f"SELECT {_REVIEW_COLUMNS} FROM review_items WHERE item_id = $1", item_id
        )
        return None if row is None else ReviewItem.model_validate(dict(row))

    async def waiting_on(
        self, item_id: str, *, visit_workflow_id: str | None = None
    ) -> ReviewItem | None:
        """The item opened under `item_id`, else (given a visit) the unmatched item that
        visit waits on: a key lookup plus the few open items, cheap enough to poll."""
        row = await self._pool.fetchrow(
            f"""
            SELECT {_REVIEW_COLUMNS} FROM review_items
            WHERE item_id = $1
               OR (status = 'open' AND kind = 'unmatched_visit' AND visit_workflow_id = $2)
            ORDER BY item_id = $1 DESC, created_at LIMIT 1
            """,
            item_id,
            visit_workflow_id,
        )
        return None if row is None else ReviewItem.model_validate(dict(row))

    async def list(
        self, status: str | None = "open", limit: int = 200
    ) -> builtins.list[ReviewItem]:
        rows = await self._pool.fetch(
            f"""
            SELECT {_REVIEW_COLUMNS} FROM review_items
            WHERE $1::text IS NULL OR status = $1
            ORDER BY created_at, item_id LIMIT $2
            """,
            status,
            limit,
        )
        return [ReviewItem.model_validate(dict(r)) for r in rows]

    async def overdue(self, older_than_hours: float) -> builtins.list[ReviewItem]:
        rows = await self._pool.fetch(
            f"""
            SELECT {_REVIEW_COLUMNS} FROM review_items
            WHERE status = 'open' AND escalated_at IS NULL
              AND created_at < now() - make_interval(secs => $1)
            ORDER BY created_at
            """,
            older_than_hours * 3600,
        )
        return [ReviewItem.model_validate(dict(r)) for r in rows]

    async def mark_escalated(self, item_ids: builtins.list[str]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE review_items SET escalated_at = now() WHERE item_id = ANY($1::text[])",
                item_ids,
            )
            await conn.executemany(
                """
                INSERT INTO staff_alerts (alert_key, package_id, client_id, kind, message)
                SELECT 'review-overdue:' || item_id, package_id, client_id, 'review_overdue',
                       'Review item waiting over a day: ' || detail
                FROM review_items WHERE item_id = $1
                ON CONFLICT (alert_key) DO NOTHING
                """,
                [(i,) for i in item_ids],
            )


class AppointmentRoute(Row):
    package_id: str | None
    outcome: str


class AppointmentRoutes:
    """What became of an appointment's completion — redeemed on a package, or dismissed by
    staff: permanent, one per appointment, the first decision stands."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, platform: str, appointment_id: str) -> AppointmentRoute | None:
        row = await self._pool.fetchrow(
            "SELECT package_id, outcome FROM appointment_routes "
            "WHERE platform = $1 AND appointment_id = $2",
            platform,
            appointment_id,
        )
        return None if row is None else AppointmentRoute.model_validate(dict(row))

    async def record(
        self,
        platform: str,
        appointment_id: str,
        package_id: str | None,
        *,
        outcome: str,
        location_id: str | None = None,
    ) -> None:
        await self._pool.execute(
            """
            INSERT INTO appointment_routes (
                platform, appointment_id, package_id, outcome, location_id
            ) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (platform, appointment_id) DO NOTHING
            """,
            platform,
            appointment_id,
            package_id,
            outcome,
            location_id,
        )

    async def location_of(self, platform: str, appointment_id: str) -> str | None:
        """Where a routed visit took place (None: not said, or not mapped)."""
        return await self._pool.fetchval(  # type: ignore[no-any-return]
            "SELECT location_id FROM appointment_routes WHERE platform = $1 "
            "AND appointment_id = $2",
            platform,
            appointment_id,
        )


class InboundEvent(Row):
    provider: str
    event_key: str
    event_type: str
    status: str
    detail: str | None
    appointment_id: str | None
    client_id: str | None
    deliveries: int
    received_at: datetime
    updated_at: datetime


class InboundEventLog:
    """Every webhook delivery and what became of it; duplicates count deliveries."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, provider: str, event_key: str) -> InboundEvent | None:
        row = await self._pool.fetchrow(
            """
            SELECT provider, event_key, event_type, status, detail, appointment_id, client_id,
                   deliveries, received_at, updated_at
            FROM inbound_events WHERE provider = $1 AND event_key = $2
            """,
            provider,
            event_key,
        )
        return None if row is None else InboundEvent.model_validate(dict(row))

    async def record(
        self,
        *,
        provider: str,
        event_key: str,
        event_type: str,
        status: str,
        detail: str | None = None,
        appointment_id: str | None = None,
        client_id: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> bool:
        """Insert, or on a repeat delivery count it and keep the latest status — except
        that an event already accepted stays accepted.

        True unless the event was already accepted before this delivery: of two copies
        racing, exactly one is told it is the first (the row is locked while deciding).
        """
        values = (
            provider,
            event_key,
            event_type,
            status,
            detail,
            appointment_id,
            client_id,
            None if payload is None else json.dumps(payload),
        )
        async with self._pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                """
                INSERT INTO inbound_events (provider, event_key, event_type, status, detail,
                    appointment_id, client_id, payload)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)
                ON CONFLICT (provider, event_key) DO NOTHING
                RETURNING true
                """,
                *values,
            )
            if inserted:
                return True
            # DO NOTHING waited for a concurrent insert to commit: the row is there now.
            prior: str | None = await conn.fetchval(
                "SELECT status FROM inbound_events WHERE provider = $1 AND event_key = $2 "
                "FOR UPDATE",
                provider,
                event_key,
            )
            await conn.execute(
                """
                UPDATE inbound_events AS e SET
                    deliveries = e.deliveries + 1, updated_at = now(),
                    status = CASE WHEN e.status IN ('accepted', 'received') THEN e.status
                                  ELSE $3 END,
                    detail = CASE WHEN e.status IN ('accepted', 'received') THEN e.detail
                                  ELSE $4 END,
                    client_id = coalesce(e.client_id, $5)
                WHERE provider = $1 AND event_key = $2
                """,
                provider,
                event_key,
                status,
                detail,
                client_id,
            )
            return prior not in ("accepted", "received")
