"""Kill -9 the worker in the middle of 200 redemptions, start another: each counted once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import IO

import asyncpg
from temporalio.client import Client

from activities.repository import ClientRepository, PackageTypeRepository
from starter.packages import PackageService, PunchcardError, SaleRequest
from tests.conftest import eventually
from tests.fakes.twilio import TwilioFake
from tests.workflows.conftest import ANA, BIG
from workers.settings import Settings
from workflows.models import RedeemRequest

REDEMPTIONS = 200
PACKAGES = 4


def start_worker(settings: Settings, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    for name, value in settings.model_dump(mode="json").items():
        if value is not None:
            env[f"PUNCHCARD_{name.upper()}"] = str(value)
    env["PUNCHCARD_DATABASE_URL"] = settings.database_dsn()
    env["PYTHONUNBUFFERED"] = "1"
    env["PUNCHCARD_TWILIO_AUTH_TOKEN"] = (
        settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
    )
    env["PUNCHCARD_CODEC_KEYS"] = (
        settings.codec_keys.get_secret_value() if settings.codec_keys else ""
    )
    return subprocess.Popen(
        [sys.executable, "-m", "workers"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def send_until_answered(
    service: PackageService, package_id: str, message: RedeemRequest
) -> int:
    """What an integration does: resend the same idempotency key until it is answered."""
    while True:
        try:
            return (await service.send(package_id, message)).remaining
        except PunchcardError:
            await asyncio.sleep(0.5)


async def test_killed_worker_loses_and_doubles_nothing(
    settings: Settings, client: Client, pool: asyncpg.Pool, tmp_path: Path, twilio: TwilioFake
) -> None:
    await ClientRepository(pool).upsert(ANA)
    await PackageTypeRepository(pool).upsert(BIG)
    service = PackageService(client=client, pool=pool, settings=settings)
    packages = [
        (
            await service.sell(
                SaleRequest(
                    client_id=ANA.client_id, type_code=BIG.type_code, purchase_id=f"crash-{n}"
                )
            )
        ).package_ids[0]
        for n in range(PACKAGES)
    ]
    log = tmp_path.joinpath("workers.log").open("wb")
    first = start_worker(settings, log)
    acknowledged = 0
    gate = asyncio.Semaphore(8)

    async def one(n: int) -> None:
        nonlocal acknowledged
        async with gate:
            await send_until_answered(
                service,
                packages[n % PACKAGES],
                RedeemRequest(key=f"done:{n}", appointment_id=f"appt-{n}"),
            )
            acknowledged += 1

    tasks = [asyncio.create_task(one(n)) for n in range(REDEMPTIONS)]
    await eventually(lambda: asyncio.sleep(0, acknowledged), lambda n: n >= 60, timeout=60)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = acknowledged
    second = start_worker(settings, log)
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=180)
        assert killed_at < REDEMPTIONS
        for package_id in packages:
            view = await service.state(package_id)
            assert view.snapshot.remaining == 300 - REDEMPTIONS // PACKAGES
        confirmations = await eventually(
            lambda: pool.fetchval(
                "SELECT count(*) FROM outbound_messages"
                " WHERE kind = 'confirmation' AND channel = 'sms' AND status = 'sent'"
            ),
            lambda n: n == REDEMPTIONS,
            timeout=90,
        )
        assert confirmations == REDEMPTIONS
        # Every client text went out. Twilio takes no idempotency key, so a send caught
        # by the kill between Twilio's 201 and our "sent" row may go twice; never more
        # than the sends that can be in flight on one worker.
        texts = Counter(m["Body"] for m in twilio.messages if "complete" in m["Body"])
        for n in range(1, REDEMPTIONS // PACKAGES + 1):
            body = f"Session {n} of 300 complete — {300 - n} remaining (Studio pass)."
            sent = sum(count for text, count in texts.items() if text.endswith(f": {body}"))
            assert sent >= PACKAGES, body
        duplicates = sum(texts.values()) - REDEMPTIONS
        assert duplicates <= settings.worker_max_concurrent_activities
        print(f"killed after {killed_at} acknowledged; duplicate texts: {duplicates}")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
        log.close()

    rows = await pool.fetch(
        "SELECT package_id, appointment_id FROM ledger_entries WHERE kind = 'redemption'"
    )
    assert len(rows) == REDEMPTIONS
    assert Counter(r["appointment_id"] for r in rows).most_common(1)[0][1] == 1
    balances = await pool.fetch("SELECT remaining FROM packages")
    assert [b["remaining"] for b in balances] == [300 - REDEMPTIONS // PACKAGES] * PACKAGES
