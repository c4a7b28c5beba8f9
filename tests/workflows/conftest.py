"""A seeded spa for workflow tests: clients, package types, and a sale helper with short offsets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from activities.repository import (
    ClientRecord,
    ClientRepository,
    LedgerReader,
    PackageTypeRecord,
    PackageTypeRepository,
)
from starter.packages import PackageService, SaleRequest
from tests.conftest import settled
from workers.settings import Settings
from workflows.ids import package_workflow_id
from workflows.models import NoticePolicy, PackageKind, PackageOutcome, ReminderSpec
from workflows.package import PackageWorkflow

ANA = ClientRecord(
    client_id="c-ana", name="Ana Test", phone="+15555550101", email="ana@example.com"
)
BEN = ClientRecord(
    client_id="c-ben", name="Ben Test", phone="+15555550102", email="ben@example.com"
)
CARA = ClientRecord(
    client_id="c-cara",
    name="Cara Test",
    phone="+15555550103",
    email="cara@example.com",
    sms_opt_out=True,
)

LASER = PackageTypeRecord(
    type_code="laser6",
    name="Laser hair removal, 6 sessions",
    kind=PackageKind.SESSIONS,
    units=6,
    price_cents=180_000,
    expiry_months=12,
    categories=["laser"],
    no_show_forfeits=False,
    late_cancel_forfeits=False,
    vip_rollover_max=0,
    min_interval_days=None,
    enforce_zero_balance=True,
)
STRICT = LASER.model_copy(
    update={
        "type_code": "strict4",
        "name": "Peel series, 4 sessions",
        "units": 4,
        "price_cents": 40_000,
        "late_cancel_forfeits": True,
    }
)
TWO = LASER.model_copy(
    update={"type_code": "duo2", "name": "Facial duo", "units": 2, "price_cents": 30_000}
)
VIP = LASER.model_copy(
    update={
        "type_code": "vip3",
        "name": "VIP sculpt, 3 sessions",
        "units": 3,
        "price_cents": 90_000,
        "vip_rollover_max": 2,
    }
)
PACED = LASER.model_copy(update={"type_code": "paced6", "min_interval_days": 28})
CREDIT = LASER.model_copy(
    update={
        "type_code": "credit1500",
        "name": "Injectables credit",
        "kind": PackageKind.DOLLARS,
        "units": 150_000,
        "price_cents": 150_000,
    }
)
BIG = LASER.model_copy(
    update={"type_code": "big300", "name": "Studio pass", "units": 300, "price_cents": 300_000}
)
COUPLES = LASER.model_copy(
    update={
        "type_code": "couples4",
        "name": "Couples facial 4-pack",
        "units": 4,
        "price_cents": 60_000,
    }
)

TRIO = LASER.model_copy(
    update={"type_code": "trio3", "name": "Trio peel", "units": 3, "price_cents": 90_000}
)

TYPES = (LASER, STRICT, TWO, VIP, PACED, CREDIT, BIG, COUPLES, TRIO)


def short_notices(*befores: float, local_hour: int | None = None) -> NoticePolicy:
    """Reminders `befores` seconds ahead of expiry, labelled like the real 60/30/14-day ones."""
    labels = ("60d", "30d", "14d")
    return NoticePolicy(
        spa_name="Test Spa",
        timezone="UTC",
        local_hour=local_hour,
        reminders=[
            ReminderSpec(label=label, before=timedelta(seconds=s), renewal_link=label == "30d")
            for label, s in zip(labels, befores, strict=False)
        ],
        renewal_url="https://spa.example/renew/{package_id}",
    )


@dataclass
class Spa:
    service: PackageService
    pool: asyncpg.Pool
    ledger: LedgerReader

    async def sell(
        self,
        type_code: str,
        client_id: str = ANA.client_id,
        *,
        expires_in: timedelta = timedelta(days=365),
        notices: NoticePolicy | None = None,
        shared_with: Sequence[str] = (),
        max_messages_per_run: int | None = None,
    ) -> list[str]:
        now = datetime.now(UTC)
        result = await self.service.sell(
            SaleRequest(
                client_id=client_id,
                type_code=type_code,
                shared_with=list(shared_with),
                purchased_at=now,
                expires_at=now + expires_in,
                notices=notices or self.service.notice_policy(),
                max_messages_per_run=max_messages_per_run,
            )
        )
        for package_id in result.package_ids:
            assert await self.service.wait_recorded(package_id)
        return result.package_ids

    async def settled(self) -> None:
        """Wait until no workflow on the spa's task queue has anything in progress."""
        await settled(self.service._client, self.service._settings.task_queue)

    async def outcome(self, package_id: str) -> PackageOutcome:
        """Wait for the package workflow to finish and return what it reported."""
        handle = self.service._client.get_workflow_handle_for(
            PackageWorkflow.run, package_workflow_id(package_id)
        )
        return await handle.result()

    async def messages(self, kind: str, channel: str = "sms", status: str = "sent") -> int:
        return int(
            await self.pool.fetchval(
                "SELECT count(*) FROM outbound_messages WHERE kind = $1 AND channel = $2 AND status = $3",
                kind,
                channel,
                status,
            )
        )


@pytest.fixture
async def spa(pool: asyncpg.Pool, client: Client, settings: Settings, worker: Worker) -> Spa:
    clients, types = ClientRepository(pool), PackageTypeRepository(pool)
    for record in (ANA, BEN, CARA):
        await clients.upsert(record)
    for package_type in TYPES:
        await types.upsert(package_type)
    return Spa(
        service=PackageService(client=client, pool=pool, settings=settings),
        pool=pool,
        ledger=LedgerReader(pool),
    )
