"""The payment workflow on the real stack, fed directly (as if past the webhook door): a
payment is sold only at its price, and a payload out of range never reaches a package."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from tests.conftest import eventually
from tests.workflows.conftest import ANA, LASER, Spa
from workers.settings import Settings
from workflows.ids import package_workflow_id, payment_workflow_id, stripe_package_id
from workflows.payment import PaymentWorkflow
from workflows.payment_models import MAX_AMOUNT_CENTS, PaymentInput, StripePaymentEvent

METADATA = {"punchcard_client_id": ANA.client_id, "punchcard_type_code": LASER.type_code}


def paid(pi: str, **fields: Any) -> dict[str, Any]:
    """A paid checkout.session.completed as the webhook door hands it on."""
    event: dict[str, Any] = {
        "event_id": f"evt_{pi}",
        "event_type": "checkout.session.completed",
        "created": datetime.now(UTC),
        "payment_intent_id": pi,
        "checkout_session_id": f"cs_test_{pi}",
        "payment_status": "paid",
        "amount_cents": LASER.price_cents,
        "currency": "usd",
        "metadata": METADATA,
    }
    event.update(fields)
    return event


async def hand_over(client: Client, settings: Settings, pi: str, event: object) -> None:
    await client.start_workflow(
        PaymentWorkflow.run,
        PaymentInput(payment_intent_id=pi),
        id=payment_workflow_id("stripe", pi),
        task_queue=settings.task_queue,
        start_signal="event",
        start_signal_args=[event],
    )


async def review_item(pool: asyncpg.Pool, pi: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT kind, reason, detail, status FROM review_items WHERE item_id = $1",
        f"payment:{pi}",
    )


@pytest.mark.parametrize(
    ("amount", "currency", "reason", "said"),
    [
        (
            LASER.price_cents - 30_000,
            "usd",
            "amount_mismatch",
            "paid $1,500.00, expected $1,800.00",
        ),
        (0, "usd", "amount_mismatch", "no amount paid"),
        (LASER.price_cents, "eur", "currency_mismatch", "paid in EUR"),
    ],
)
async def test_payment_unlike_the_price_goes_to_review_and_sells_nothing(
    spa: Spa,
    client: Client,
    settings: Settings,
    amount: int,
    currency: str,
    reason: str,
    said: str,
) -> None:
    pi = f"pi_3Mismatch{amount}{currency}"
    await hand_over(
        client, settings, pi, StripePaymentEvent(**paid(pi, amount_cents=amount, currency=currency))
    )

    item = await eventually(lambda: review_item(spa.pool, pi), lambda r: r is not None)
    assert item is not None
    assert (item["kind"], item["reason"], item["status"]) == ("payment", reason, "open")
    assert pi in item["detail"] and said in item["detail"]
    assert "$1,800.00" in item["detail"]  # what the package type costs
    handle = client.get_workflow_handle_for(PaymentWorkflow.run, payment_workflow_id("stripe", pi))
    outcome = await handle.query(PaymentWorkflow.outcome)
    assert outcome.package_ids == []
    assert await spa.ledger.balance(stripe_package_id(pi)) is None


async def test_amount_beyond_range_is_refused_before_any_package(
    spa: Spa, client: Client, settings: Settings
) -> None:
    huge = "pi_3HugeAmount0000000001"
    with pytest.raises(ValidationError, match="amount_cents"):
        StripePaymentEvent(**paid(huge, amount_cents=2**64 + 1))
    with pytest.raises(ValidationError, match="amount_cents"):
        StripePaymentEvent(**paid(huge, amount_cents=-500))
    assert StripePaymentEvent(**paid(huge, amount_cents=MAX_AMOUNT_CENTS))

    # Sent anyway, as raw JSON past the model: the workflow drops the signal it cannot
    # decode. Nothing is sold and the worker goes straight on with the next payment.
    raw = paid(huge, amount_cents=2**64 + 1, created=datetime.now(UTC).isoformat())
    await hand_over(client, settings, huge, raw)
    fine = "pi_3FineAfterHuge00000001"
    await hand_over(client, settings, fine, StripePaymentEvent(**paid(fine)))
    row = await eventually(
        lambda: spa.ledger.balance(stripe_package_id(fine)), lambda r: r is not None
    )
    assert row is not None and row.remaining == LASER.units

    handle = client.get_workflow_handle_for(
        PaymentWorkflow.run, payment_workflow_id("stripe", huge)
    )
    outcome = await handle.query(PaymentWorkflow.outcome)
    assert (outcome.events, outcome.package_ids) == ([], [])
    with pytest.raises(RPCError) as missing:
        await client.get_workflow_handle(package_workflow_id(stripe_package_id(huge))).describe()
    assert missing.value.status is RPCStatusCode.NOT_FOUND
    assert await review_item(spa.pool, huge) is None
