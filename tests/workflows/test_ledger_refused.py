"""A ledger row PostgreSQL refuses, on the real stack: it ends as a staff alert and the
package goes on; it is never retried forever (which held each workflow task for seconds
and the worker's shutdown with it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio.client import Client

from tests.conftest import eventually
from tests.workflows.conftest import ANA, LASER, Spa
from workers.settings import Settings
from workflows.ids import package_workflow_id
from workflows.models import PackageInput, RedeemRequest, ReverseRequest
from workflows.package import LEDGER_REFUSED_ALERT, PackageWorkflow


async def alerts(pool: asyncpg.Pool, package_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT alert_key, message FROM staff_alerts WHERE package_id = $1 AND kind = $2 "
        "ORDER BY alert_key",
        package_id,
        LEDGER_REFUSED_ALERT,
    )


async def ledger_kinds(pool: asyncpg.Pool, package_id: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT kind FROM ledger_entries WHERE package_id = $1 ORDER BY seq", package_id
    )
    return [r["kind"] for r in rows]


async def test_text_postgres_refuses_ends_as_a_staff_alert_and_later_entries_land(
    spa: Spa,
) -> None:
    (package,) = await spa.sell(LASER.type_code)
    await spa.service.send(package, RedeemRequest(key="r1", appointment_id="a1"))
    # A reason holding NUL: PostgreSQL text cannot store it (invalid byte sequence 0x00).
    await spa.service.send(
        package, ReverseRequest(key="v1", appointment_id="a1", reason="typo\x00", actor="m")
    )
    await spa.service.send(package, RedeemRequest(key="r2", appointment_id="a2"))

    (alert,) = await eventually(lambda: alerts(spa.pool, package), lambda found: len(found) == 1)
    assert "entry 3 (reversal" in alert["message"]
    assert "InvalidData" not in alert["message"]  # staff read the reason, not the type
    assert "refused" in alert["message"]
    # The worker is not stuck on it: the next entry is recorded, nothing is left pending.
    await eventually(
        lambda: ledger_kinds(spa.pool, package),
        lambda kinds: kinds == ["sale", "redemption", "redemption"],
    )
    view = await eventually(lambda: spa.service.state(package), lambda v: v.pending_effects == 0)
    assert view.snapshot.remaining == LASER.units - 1  # the reversal itself stands
    history = await spa.service._handle(package).query(PackageWorkflow.history)
    assert [e.kind.value for e in history][2] == "reversal"  # kept in the package's history


async def test_amount_out_of_range_ends_as_a_staff_alert(
    spa: Spa, client: Client, settings: Settings
) -> None:
    """A price beyond PostgreSQL's bigint (as the tester's 64-bit payment produced)."""
    now = datetime.now(UTC)
    package = "pkg-huge"
    terms = LASER.terms().model_copy(update={"price_cents": 2**70})
    await client.start_workflow(
        PackageWorkflow.run,
        PackageInput(
            package_id=package,
            client_id=ANA.client_id,
            terms=terms,
            purchased_at=now,
            expires_at=now + timedelta(days=365),
            notices=spa.service.notice_policy(),
        ),
        id=package_workflow_id(package),
        task_queue=settings.task_queue,
    )

    (alert,) = await eventually(lambda: alerts(spa.pool, package), lambda found: len(found) == 1)
    assert "entry 1 (sale" in alert["message"] and "out of int64 range" in alert["message"]
    assert await spa.ledger.balance(package) is None
    # The package still answers at once: no workflow task is held by a retrying write.
    answer = await spa.service.send(package, RedeemRequest(key="r1", appointment_id="a1"))
    assert answer.remaining == LASER.units - 1
    found = await eventually(lambda: alerts(spa.pool, package), lambda found: len(found) == 2)
    assert "entry 2 (redemption" in found[1]["message"]
