"""Determinism gate: committed histories of every lifecycle must replay on today's code.

`PUNCHCARD_RECORD_HISTORIES=v9 pytest tests/workflows/test_replay.py -k fresh` adds a
generation of files (`<lifecycle>__v9_<n>.json`) from fresh runs, beside the older ones:
record one after every `workflow.patched` change, so both the old and the new branch stay
under replay. Never rewrite or delete an old generation to make a failing replay pass
(that failure means running workflows would break).

`v7` is the 1.0 baseline. Nothing had been deployed before it, so the generations v1–v6
and the patches they guarded were retired at once instead of through deprecate_patch:
no history of them exists outside this repository. From v7 on the rule above holds, and
`test_a_changed_workflow_fails_replay` proves the gate catches a change.

Generations: v7 the 1.0 baseline (every lifecycle); v8 the visit lifecycles after the
`visit-local-handover` patch (the hand-over to the package a local activity on the visits'
own worker; keep the files the recording adds for the lifecycles a patch changes); v9 the
`frozen` lifecycle (freeze / unfreeze, behind the `package-freeze` patch marker) and the
`activation` lifecycle (a first visit starting the expiry clock, `package-activation`).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from activities.intake import VisitGateway
from activities.repository import ReviewQueue, ServiceMapping
from activities.repository.locations import LocationRecord, LocationRepository
from starter.moving_in import ImportService
from starter.packages import SaleRequest
from starter.review import ReviewService
from tests.conftest import codec_for_tests, eventually
from tests.fakes.stripe import StripeFake
from tests.workflows.conftest import ANA, BEN, Spa, short_notices
from tests.workflows.test_activation import sell_first_visit
from workers.settings import Settings
from workflows import visibility
from workflows.converter import make_data_converter
from workflows.ids import (
    PAYMENT_PREFIX,
    VISIT_PREFIX,
    package_workflow_id,
    payment_workflow_id,
    stripe_package_id,
)
from workflows.import_models import IMPORT_PREFIX, import_workflow_id
from workflows.imports import ImportWorkflow
from workflows.models import (
    AddUnitsRequest,
    AppointmentNotice,
    AttendanceRequest,
    CancelRequest,
    CorrectExpiryRequest,
    ExtendRequest,
    FreezeRequest,
    OpeningBalance,
    PackageInput,
    PackageOutcome,
    RedeemRequest,
    ReverseRequest,
    UnfreezeRequest,
)
from workflows.package import PackageWorkflow
from workflows.payment import PaymentWorkflow
from workflows.payment_models import PaymentInput, StripePaymentEvent
from workflows.visit import VisitWorkflow
from workflows.visit_models import Platform, ResolveReview, VisitChange, VisitEvent

HISTORIES = Path(__file__).parent.parent / "histories"
EXPECTED_LIFECYCLES = {
    "expiry",
    "upgrade",
    "cancel",
    "couples",
    "vip_review",
    "continue_as_new",
    "visit_routed",
    "visit_review",
    "renewal",
    "refund",
    "opening_balance",
    "import_job",
    "corrected_expiry",
    "located",
    "frozen",
    "activation",
}


@pytest.fixture
async def stripe() -> AsyncIterator[StripeFake]:
    fake = StripeFake()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def settings(settings: Settings, stripe: StripeFake) -> Settings:
    """Stripe's stand-in behind renewal links and refunds, so those paths are recorded."""
    return settings.model_copy(
        update={
            "stripe_base_url": stripe.base_url,
            "stripe_secret_key": SecretStr(stripe.secret_key),
        }
    )


def replayer() -> Replayer:
    return Replayer(
        workflows=[PackageWorkflow, VisitWorkflow, PaymentWorkflow, ImportWorkflow],
        data_converter=make_data_converter(codec_for_tests()),
    )


async def test_committed_histories_replay() -> None:
    files = sorted(HISTORIES.glob("*.json"))
    assert {f.stem.split("__")[0] for f in files} >= EXPECTED_LIFECYCLES, (
        "a lifecycle has no committed history"
    )
    for file in files:
        history = WorkflowHistory.from_json(file.stem, json.loads(file.read_text()))
        await replayer().replay_workflow(history)


@workflow.defn(name="PackageWorkflow", sandboxed=False)
class _LedgerAfterATimer(PackageWorkflow):
    """Today's package workflow with one change a careless edit could make: a timer
    before each ledger write, where recorded histories hold the ledger's marker."""

    @workflow.run
    async def run(self, input: PackageInput) -> PackageOutcome:
        return await super().run(input)

    async def _drain_ledger(self) -> None:
        if self._state.ledger_outbox:
            await workflow.sleep(timedelta(milliseconds=10))
        await super()._drain_ledger()


async def test_a_changed_workflow_fails_replay() -> None:
    """The gate can fail: a changed command sequence is a non-determinism error."""
    [file] = sorted(HISTORIES.glob("expiry__v7_*.json"))
    history = WorkflowHistory.from_json(file.stem, json.loads(file.read_text()))
    changed = Replayer(
        workflows=[_LedgerAfterATimer],
        data_converter=make_data_converter(codec_for_tests()),
    )
    with pytest.raises(NondeterminismError):
        await changed.replay_workflow(history)
    await replayer().replay_workflow(history)  # and today's code replays it


async def _expiry(spa: Spa) -> list[str]:
    [pkg] = await spa.sell(
        "laser6", expires_in=timedelta(seconds=6), notices=short_notices(20, 4, 2)
    )
    await spa.service.send(pkg, AppointmentNotice(key="b1", appointment_id="a1", change="booked"))
    await spa.service.send(
        pkg, AppointmentNotice(key="b2", appointment_id="a1", change="rescheduled")
    )
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    await spa.service.send(pkg, AttendanceRequest(key="n2", appointment_id="a2", outcome="no_show"))
    await spa.outcome(pkg)
    return [pkg]


async def _upgrade(spa: Spa) -> list[str]:
    [pkg] = await spa.sell("duo2")
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    await spa.service.send(pkg, RedeemRequest(key="k2", appointment_id="a2"))
    await spa.service.send(
        pkg, ReverseRequest(key="r2", appointment_id="a2", reason="error", actor="m")
    )
    await spa.service.send(pkg, AddUnitsRequest(key="u1", units=4, paid_cents=60_000))
    await spa.service.send(
        pkg,
        ExtendRequest(
            key="e1",
            new_expires_at=datetime.now(UTC) + timedelta(days=400),
            reason="gift",
            actor="m",
        ),
    )
    return [pkg]


async def _cancel(spa: Spa) -> list[str]:
    [pkg] = await spa.sell("credit1500")
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1", amount_cents=130_000))
    await spa.service.send(pkg, CancelRequest(key="x1", reason="moving", actor="m"))
    await spa.outcome(pkg)
    return [pkg]


async def _renewal(spa: Spa) -> list[str]:
    """A paid renewal Checkout: the payment workflow starts the renewing package."""
    [old] = await spa.sell("duo2")
    pi = "pi_3ReplayRenewal000001"
    event = StripePaymentEvent(
        event_id="evt_replay_renewal_1",
        event_type="checkout.session.completed",
        created=datetime.now(UTC),
        payment_intent_id=pi,
        checkout_session_id="cs_test_replay_1",
        payment_status="paid",
        amount_cents=30_000,
        currency="usd",
        metadata={
            "punchcard_client_id": ANA.client_id,
            "punchcard_type_code": "duo2",
            "punchcard_renews_package_id": old,
        },
    )
    payment = payment_workflow_id("stripe", pi)
    await spa.service._client.start_workflow(
        "PaymentWorkflow",
        PaymentInput(payment_intent_id=pi),
        id=payment,
        task_queue=spa.service._settings.task_queue,
        start_signal="event",
        start_signal_args=[event],
    )
    renewal = stripe_package_id(pi)
    await eventually(lambda: _remaining(spa, renewal), lambda r: r == 2)
    await spa.service.send(renewal, RedeemRequest(key="k1", appointment_id="a1"))
    await eventually(lambda: spa.service.state(renewal), lambda v: v.pending_effects == 0)
    return [payment, renewal]


async def _refund(spa: Spa, stripe: StripeFake) -> list[str]:
    """Cancel with a Stripe refund: the first attempt fails, the retry refunds once."""
    pi = stripe.add_payment_intent(180_000)
    result = await spa.service.sell(
        SaleRequest(client_id=ANA.client_id, type_code="laser6", payment_intent_id=pi)
    )
    [pkg] = result.package_ids
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    stripe.fail_next_refunds(1)
    await spa.service.send(
        pkg, CancelRequest(key="x1", reason="moving", actor="m", issue_refund=True)
    )
    await spa.outcome(pkg)
    return [pkg]


async def _opening_balance(spa: Spa) -> list[str]:
    """A package brought in with 3 of 6 left: a visit, the reminders still due, expiry."""
    laser = await spa.service.types.get("laser6")
    assert laser is not None
    now = datetime.now(UTC)
    package_input = PackageInput(
        package_id=f"imp-replay-{uuid.uuid4().hex[:8]}",
        client_id=ANA.client_id,
        terms=laser.terms().model_copy(update={"price_cents": 165_000}),
        purchased_at=now - timedelta(days=120),
        expires_at=now + timedelta(seconds=6),
        sold_by="mgr",
        notices=short_notices(20, 4, 2),
        opening=OpeningBalance(
            remaining=3, value_cents=82_500, source="mindbody", source_id="84123"
        ),
    )
    pkg = package_input.package_id
    await spa.service._client.start_workflow(
        PackageWorkflow.run,
        package_input,
        id=package_workflow_id(pkg),
        task_queue=spa.service._settings.task_queue,
        search_attributes=visibility.index_at_sale(package_input).at_start(),
    )
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    await spa.outcome(pkg)
    return [pkg]


async def _corrected_expiry(spa: Spa) -> list[str]:
    """A year-long package whose expiry a manager corrects to seconds away: the reminders
    and the expiry are planned again from the corrected day and fire."""
    [pkg] = await spa.sell("laser6", notices=short_notices(20, 4, 2))
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    await spa.service.send(
        pkg,
        CorrectExpiryRequest(
            key="c1",
            new_expires_at=datetime.now(UTC) + timedelta(seconds=6),
            reason="mistyped at import",
            actor="m",
        ),
    )
    await spa.outcome(pkg)
    return [pkg]


async def _located(spa: Spa) -> list[str]:
    """A package sold at a location of its own zone (its search attribute set at start)."""
    await LocationRepository(spa.pool).insert(
        LocationRecord(location_id="venice", name="Glow Venice", timezone="America/Los_Angeles")
    )
    result = await spa.service.sell(
        SaleRequest(client_id=ANA.client_id, type_code="laser6", location_id="venice")
    )
    [pkg] = result.package_ids
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    assert await spa.service.wait_recorded(pkg)
    return [pkg]


async def _import_job(spa: Spa) -> list[str]:
    """An import job of two packages (one refused), in batches of one."""
    imports = ImportService(
        client=spa.service._client, pool=spa.pool, settings=spa.service._settings
    )
    run = uuid.uuid4().hex[:8]
    text = (
        "Client ID,Package Type,Expiry Date,Sessions Remaining,Purchase ID\n"
        f"{ANA.client_id},laser6,2099-01-01,4,{run}-1\n"
        f"c-nobody,laser6,2099-01-01,4,{run}-2\n"
    )
    job = await imports.submit("packages", text.encode(), actor="mgr", batch_size=1)
    done = await imports.wait(job.job_id, timeout=30)
    assert done.status == "done" and done.counts["created"] == 1
    return [import_workflow_id(job.job_id)]


async def _couples(spa: Spa) -> list[str]:
    pkgs = await spa.sell("couples4", ANA.client_id, shared_with=[BEN.client_id])
    await spa.service.send(pkgs[1], RedeemRequest(key="k1", appointment_id="a1"))
    return pkgs


async def _vip_review(spa: Spa) -> list[str]:
    [pkg] = await spa.sell("vip3", expires_in=timedelta(seconds=2))
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    await eventually(
        lambda: spa.ledger.balance(pkg), lambda b: b is not None and b.status == "in_review"
    )
    await spa.service.send(
        pkg,
        ExtendRequest(
            key="e1", new_expires_at=datetime.now(UTC) + timedelta(days=30), reason="VIP", actor="m"
        ),
    )
    return [pkg]


async def _continue_as_new(spa: Spa) -> list[str]:
    [pkg] = await spa.sell("big300", max_messages_per_run=4)
    for n in range(6):
        await spa.service.send(pkg, RedeemRequest(key=f"k{n}", appointment_id=f"a{n}"))
    return [pkg]


def _event(appointment: str, change: VisitChange, key: str, service: str) -> VisitEvent:
    return VisitEvent(
        event_key=key,
        platform=Platform.BOULEVARD,
        appointment_id=appointment,
        change=change,
        client_id=ANA.client_id,
        service_name=service,
        occurred_at=datetime.now(UTC),
    )


async def _visit_routed(spa: Spa) -> list[str]:
    """Booked, rescheduled, completed twice (two keys): one package, one redemption."""
    [pkg] = await spa.sell("laser6")
    await spa.service.catalog.upsert(
        ServiceMapping(platform="*", service_key="Laser", category="laser")
    )
    gateway = VisitGateway(
        spa.service._client, task_queue=spa.service._settings.visit_queue, idle_days=30
    )
    for key, change in (
        ("e1", VisitChange.BOOKED),
        ("e2", VisitChange.RESCHEDULED),
        ("e3", VisitChange.COMPLETED),
        ("e4", VisitChange.COMPLETED),
    ):
        workflow_id = await gateway.submit(_event("v1", change, key, "Laser"))
    await eventually(lambda: _steps(spa, workflow_id), lambda n: n == 4)
    await eventually(lambda: _remaining(spa, pkg), lambda r: r == 5)
    return [workflow_id]


async def _visit_review(spa: Spa) -> list[str]:
    """An unknown service waits in review; the manager assigns it to a package."""
    [pkg] = await spa.sell("laser6")
    gateway = VisitGateway(
        spa.service._client, task_queue=spa.service._settings.visit_queue, idle_days=30
    )
    workflow_id = await gateway.submit(_event("v2", VisitChange.COMPLETED, "e1", "Mystery"))
    queue = ReviewQueue(spa.pool)
    [item] = await eventually(lambda: queue.list("open"), lambda items: len(items) == 1)
    review = ReviewService(client=spa.service._client, queue=queue)
    await review.settle(
        item.item_id, ResolveReview(action="assign", package_id=pkg, actor="manager")
    )
    await eventually(lambda: _remaining(spa, pkg), lambda r: r == 5)
    return [workflow_id]


async def _remaining(spa: Spa, package_id: str) -> int | None:
    row = await spa.ledger.balance(package_id)
    return None if row is None else row.remaining


async def _steps(spa: Spa, workflow_id: str) -> int:
    view = await spa.service._client.get_workflow_handle(workflow_id).query("state")
    return len(view["state"]["steps"])


async def _frozen(spa: Spa) -> list[str]:
    """A package frozen for 30 days (the expiry and reminders move, the timer waits for the
    freeze's end), unfrozen early (the days come back), used, then expired by a correction."""
    [pkg] = await spa.sell("laser6", notices=short_notices(20, 4, 2))
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    today = datetime.now(UTC).date()
    await spa.service.send(
        pkg, FreezeRequest(key="f1", until=today + timedelta(days=29), reason="leave", actor="m")
    )
    await spa.service.send(pkg, UnfreezeRequest(key="u1", reason="back early", actor="m"))
    await spa.service.send(pkg, RedeemRequest(key="k2", appointment_id="a2"))
    await spa.service.send(
        pkg,
        CorrectExpiryRequest(
            key="c1",
            new_expires_at=datetime.now(UTC) + timedelta(seconds=6),
            reason="end of series",
            actor="m",
        ),
    )
    await spa.outcome(pkg)
    return [pkg]


async def _activation(spa: Spa) -> list[str]:
    """A first-visit package: sold without reminders, its first visit starts the clock."""
    pkg = await sell_first_visit(spa)
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    await spa.service.send(pkg, RedeemRequest(key="k2", appointment_id="a2"))
    return [pkg]


Scenario = Callable[[Spa, StripeFake], Awaitable[list[str]]]


def _spa_only(run: Callable[[Spa], Awaitable[list[str]]]) -> Scenario:
    return lambda spa, stripe: run(spa)


SCENARIOS: dict[str, Scenario] = {
    "visit_routed": _spa_only(_visit_routed),
    "visit_review": _spa_only(_visit_review),
    "expiry": _spa_only(_expiry),
    "upgrade": _spa_only(_upgrade),
    "cancel": _spa_only(_cancel),
    "couples": _spa_only(_couples),
    "vip_review": _spa_only(_vip_review),
    "continue_as_new": _spa_only(_continue_as_new),
    "renewal": _spa_only(_renewal),
    "refund": _refund,
    "opening_balance": _spa_only(_opening_balance),
    "import_job": _spa_only(_import_job),
    "corrected_expiry": _spa_only(_corrected_expiry),
    "located": _spa_only(_located),
    "frozen": _spa_only(_frozen),
    "activation": _spa_only(_activation),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_fresh_histories_replay(spa: Spa, stripe: StripeFake, name: str) -> None:
    """Every lifecycle, run now, replays cleanly (and is recorded on request)."""
    package_ids = await SCENARIOS[name](spa, stripe)
    assert set(SCENARIOS) == EXPECTED_LIFECYCLES
    for n, package_id in enumerate(package_ids):
        workflow_id = (
            package_id
            if package_id.startswith((VISIT_PREFIX, PAYMENT_PREFIX, IMPORT_PREFIX))
            else package_workflow_id(package_id)
        )
        handle = spa.service._client.get_workflow_handle(workflow_id)
        runs = [handle]
        if name == "continue_as_new":
            first_run = (await handle.describe()).raw_description.workflow_execution_info
            runs = [
                spa.service._client.get_workflow_handle(
                    package_workflow_id(package_id), run_id=first_run.first_run_id
                )
            ]
        for run in runs:
            history = await run.fetch_history()
            await replayer().replay_workflow(history)
            if tag := os.environ.get("PUNCHCARD_RECORD_HISTORIES"):
                (HISTORIES / f"{name}__{tag}_{n}.json").write_text(
                    json.dumps(json.loads(history.to_json()), indent=1) + "\n"
                )
