"""Rules 1–3, 5–7, 13: what consumes a session, what never does, and what is refused."""

from __future__ import annotations

from datetime import date

import pytest

from starter.packages import Refused
from tests.conftest import eventually
from tests.fakes.smtp import SmtpFake
from tests.fakes.twilio import TwilioFake
from tests.workflows.conftest import ANA, Spa
from workflows.models import (
    AddUnitsRequest,
    AppointmentNotice,
    AttendanceRequest,
    CancelRequest,
    RedeemRequest,
    ReverseRequest,
)


async def redemptions(spa: Spa, package_id: str) -> int:
    return await spa.ledger.count_entries(package_id, "redemption")


async def test_completion_decrements_once_whatever_the_duplicates(
    spa: Spa, twilio: TwilioFake, smtp: SmtpFake
) -> None:
    [pkg] = await spa.sell("laser6")
    first = await spa.service.send(pkg, RedeemRequest(key="blvd:evt-1", appointment_id="appt-1"))
    again = await spa.service.send(pkg, RedeemRequest(key="blvd:evt-1", appointment_id="appt-1"))
    other_key = await spa.service.send(pkg, RedeemRequest(key="mb:msg-9", appointment_id="appt-1"))

    assert first.remaining == 5
    assert (
        first.message == "Session 1 of 6 complete — 5 remaining (Laser hair removal, 6 sessions)."
    )
    assert again == first and other_key == first
    await eventually(lambda: spa.ledger.balance(pkg), lambda b: b is not None and b.remaining == 5)
    assert await redemptions(spa, pkg) == 1
    await eventually(lambda: spa.messages("confirmation"), lambda n: n == 1)
    spa_name = spa.service.notice_policy().spa_name
    assert twilio.sent_to(ANA.phone or "") == [f"{spa_name}: {first.message}"]
    await eventually(lambda: spa.messages("confirmation", "email"), lambda n: n == 1)
    [mail] = smtp.sent_to("ana@example.com")
    assert "Session 1 of 6 complete" in mail.get_payload()


async def test_bookings_and_three_reschedules_never_consume(spa: Spa) -> None:
    [pkg] = await spa.sell("laser6")
    for n, change in enumerate(
        ["booked", "rescheduled", "rescheduled", "rescheduled", "confirmed", "checked_in"]
    ):
        answer = await spa.service.send(
            pkg, AppointmentNotice(key=f"evt-{n}", appointment_id="appt-7", change=change)
        )  # type: ignore[arg-type]
        assert answer.remaining == 6
    done = await spa.service.send(pkg, RedeemRequest(key="evt-done", appointment_id="appt-7"))
    assert done.remaining == 5
    await eventually(lambda: spa.ledger.count_entries(pkg, "booking"), lambda n: n == 6)
    assert await redemptions(spa, pkg) == 1


async def test_a_rebooked_visit_with_a_new_id_counts_once(spa: Spa) -> None:
    [pkg] = await spa.sell("laser6")
    await spa.service.send(
        pkg, AppointmentNotice(key="b1", appointment_id="old-id", change="booked")
    )
    await spa.service.send(
        pkg,
        AppointmentNotice(
            key="b2", appointment_id="new-id", change="booked", rebooked_from="old-id"
        ),
    )
    first = await spa.service.send(pkg, RedeemRequest(key="c-new", appointment_id="new-id"))
    second = await spa.service.send(pkg, RedeemRequest(key="c-old", appointment_id="old-id"))
    assert first.remaining == second.remaining == 5


async def test_second_completion_the_same_day_is_refused_not_counted(spa: Spa) -> None:
    [pkg] = await spa.sell("laser6")
    day = date(2026, 11, 20)
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1", service_date=day))
    with pytest.raises(Refused) as refused:
        await spa.service.send(pkg, RedeemRequest(key="k2", appointment_id="a2", service_date=day))
    assert refused.value.rule == "SameDayRedemption"
    assert "allow_same_day" in str(refused.value)
    ok = await spa.service.send(
        pkg, RedeemRequest(key="k2", appointment_id="a2", service_date=day, allow_same_day=True)
    )
    assert ok.remaining == 4


async def test_no_show_and_late_cancel_are_recorded_not_consumed(spa: Spa) -> None:
    [pkg] = await spa.sell("laser6")
    no_show = await spa.service.send(
        pkg, AttendanceRequest(key="ns1", appointment_id="a1", outcome="no_show")
    )
    late = await spa.service.send(
        pkg, AttendanceRequest(key="lc1", appointment_id="a2", outcome="late_cancel")
    )
    assert no_show.remaining == late.remaining == 6
    assert no_show.outcome == "no-show: recorded, not consumed"
    await eventually(lambda: spa.ledger.count_entries(pkg, "late_cancel"), lambda n: n == 1)
    assert await spa.ledger.count_entries(pkg, "no_show") == 1


async def test_late_cancel_forfeits_under_the_type_policy(spa: Spa) -> None:
    [pkg] = await spa.sell("strict4")
    late = await spa.service.send(
        pkg, AttendanceRequest(key="lc1", appointment_id="a1", outcome="late_cancel")
    )
    assert late.remaining == 3
    assert "forfeited under package policy" in late.outcome
    rows = await eventually(lambda: spa.ledger.entries(pkg), lambda rows: len(rows) == 2)
    assert (
        rows[-1].kind == "late_cancel"
        and rows[-1].units_delta == -1
        and rows[-1].value_cents == 10_000
    )


async def test_zero_balance_is_refused_at_completion_and_check_in_and_alerts_at_booking(
    spa: Spa,
) -> None:
    [pkg] = await spa.sell("duo2")
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    await spa.service.send(pkg, RedeemRequest(key="k2", appointment_id="a2"))
    with pytest.raises(Refused) as refused:
        await spa.service.send(pkg, RedeemRequest(key="k3", appointment_id="a3"))
    assert refused.value.rule == "ZeroBalance"
    assert "collect payment" in str(refused.value)
    with pytest.raises(Refused, match="ZeroBalance"):
        await spa.service.send(
            pkg, AppointmentNotice(key="ci3", appointment_id="a3", change="checked_in")
        )
    booked = await spa.service.send(
        pkg, AppointmentNotice(key="bk4", appointment_id="a4", change="booked")
    )
    assert "staff alerted" in booked.outcome
    for n in range(2):  # rescheduling the same visit does not alert again
        await spa.service.send(
            pkg, AppointmentNotice(key=f"rs{n}", appointment_id="a4", change="rescheduled")
        )
    await eventually(lambda: spa.ledger.count_entries(pkg, "booking"), lambda n: n == 3)
    alerts = await eventually(
        spa.ledger.open_alerts, lambda rows: any(a.kind == "booking_at_zero" for a in rows)
    )
    assert [a.kind for a in alerts if a.package_id == pkg].count("booking_at_zero") == 1
    assert await redemptions(spa, pkg) == 2


async def test_reversal_after_zero_gives_the_session_back(spa: Spa) -> None:
    [pkg] = await spa.sell("duo2")
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    await spa.service.send(pkg, RedeemRequest(key="k2", appointment_id="a2"))
    back = await spa.service.send(
        pkg, ReverseRequest(key="r2", appointment_id="a2", reason="marked in error", actor="maria")
    )
    assert back.remaining == 1
    with pytest.raises(Refused, match="UnknownAppointment"):
        await spa.service.send(
            pkg, ReverseRequest(key="r9", appointment_id="never-seen", reason="typo", actor="maria")
        )
    redo = await spa.service.send(pkg, RedeemRequest(key="k3", appointment_id="a3"))
    assert redo.remaining == 0
    rows = await eventually(lambda: spa.ledger.entries(pkg), lambda rows: len(rows) == 5)
    reversal = next(r for r in rows if r.kind == "reversal")
    assert (reversal.actor, reversal.reason, reversal.units_delta) == (
        "maria",
        "marked in error",
        1,
    )


async def test_upgrade_mid_series_adds_and_is_recorded_apart(spa: Spa) -> None:
    [pkg] = await spa.sell("laser6")
    for n in range(2):
        await spa.service.send(pkg, RedeemRequest(key=f"k{n}", appointment_id=f"a{n}"))
    up = await spa.service.send(
        pkg, AddUnitsRequest(key="up1", units=4, paid_cents=100_000, reason="upgrade to 10")
    )
    assert up.remaining == 8
    nxt = await spa.service.send(pkg, RedeemRequest(key="k9", appointment_id="a9"))
    assert nxt.message.startswith("Session 3 of 10 complete — 7 remaining")
    balance = await eventually(
        lambda: spa.ledger.balance(pkg), lambda b: b is not None and b.remaining == 7
    )
    assert balance is not None
    assert (balance.purchased_units, balance.paid_cents) == (10, 280_000)
    # $1,800 for 6, 2 used ($600); 4 more for $1,000: $2,200 left for 8, one more used.
    assert balance.unused_value_cents == 220_000 - 220_000 // 8
    assert await spa.ledger.count_entries(pkg, "top_up") == 1


async def test_cancel_computes_the_pro_rata_refund_and_closes(spa: Spa) -> None:
    [pkg] = await spa.sell("laser6")
    for n in range(2):
        await spa.service.send(pkg, RedeemRequest(key=f"k{n}", appointment_id=f"a{n}"))
    cancelled = await spa.service.send(
        pkg, CancelRequest(key="x1", reason="moving away", actor="manager")
    )
    assert cancelled.refund_due_cents == 120_000
    assert cancelled.outcome == "cancelled"
    balance = await eventually(
        lambda: spa.ledger.balance(pkg), lambda b: b is not None and b.status == "cancelled"
    )
    assert balance is not None and balance.refund_due_cents == 120_000
    await spa.outcome(pkg)  # the workflow has closed
    # A retried cancel still gets its first answer (the refund due); anything new is refused.
    again = await spa.service.send(
        pkg, CancelRequest(key="x1", reason="moving away", actor="manager")
    )
    assert again == cancelled
    with pytest.raises(Refused, match="cancelled"):
        await spa.service.send(pkg, RedeemRequest(key="k5", appointment_id="a5"))


async def test_dollar_package_redeems_amounts_and_refuses_above_balance(spa: Spa) -> None:
    [pkg] = await spa.sell("credit1500")
    first = await spa.service.send(
        pkg, RedeemRequest(key="d1", appointment_id="a1", amount_cents=45_000)
    )
    assert first.remaining == 105_000
    assert (
        first.message
        == "$450.00 redeemed from your Injectables credit — $1,050.00 remaining of $1,500.00."
    )
    with pytest.raises(
        Refused, match=r"AmountAboveBalance.*\$2,000.00 is above the balance \$1,050.00"
    ):
        await spa.service.send(
            pkg, RedeemRequest(key="d2", appointment_id="a2", amount_cents=200_000)
        )
    with pytest.raises(Refused, match="AmountRequired"):
        await spa.service.send(pkg, RedeemRequest(key="d3", appointment_id="a3"))
    low = await spa.service.send(
        pkg, RedeemRequest(key="d4", appointment_id="a4", amount_cents=80_000)
    )
    assert low.remaining == 25_000
    await eventually(lambda: spa.messages("low_balance"), lambda n: n == 1)
