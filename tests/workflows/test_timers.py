"""Rules 9 and 11 with short offsets: reminders, expiry and breakage, VIP review, pace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from starter.packages import Refused
from tests.conftest import eventually
from tests.fakes.twilio import TwilioFake
from tests.workflows.conftest import ANA, Spa, short_notices
from workflows.models import CorrectExpiryRequest, ExtendRequest, ForfeitRequest, RedeemRequest


async def test_reminders_then_expiry_forfeit_with_breakage(spa: Spa, twilio: TwilioFake) -> None:
    # 60d reminder is already past at sale (skipped); 30d and 14d fire; then expiry.
    [pkg] = await spa.sell(
        "laser6", expires_in=timedelta(seconds=8), notices=short_notices(30, 5, 3)
    )
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    outcome = await spa.outcome(pkg)
    assert (outcome.status, outcome.forfeited_units, outcome.breakage_cents) == (
        "expired",
        5,
        150_000,
    )

    reminders = [
        b for b in twilio.sent_to(ANA.phone or "") if "left on your" in b and "good through" in b
    ]
    assert len(reminders) == 2
    assert "Renew: https://spa.example/renew/" in reminders[0] and "Renew" not in reminders[1]
    rows = await eventually(lambda: spa.ledger.entries(pkg), lambda rows: rows[-1].kind == "expiry")
    assert [r.kind for r in rows] == ["sale", "redemption", "reminder", "reminder", "expiry"]
    assert (rows[-1].units_delta, rows[-1].value_cents, rows[-1].balance_after) == (-5, 150_000, 0)
    state = await spa.service.ledger.balance(pkg)
    assert state is not None and state.status == "expired" and state.unused_value_cents == 0
    await eventually(lambda: spa.messages("expired"), lambda n: n == 1)


async def test_no_reminders_once_the_balance_is_zero(spa: Spa, twilio: TwilioFake) -> None:
    [pkg] = await spa.sell("duo2", expires_in=timedelta(seconds=5), notices=short_notices(3, 2))
    for n in range(2):
        await spa.service.send(pkg, RedeemRequest(key=f"k{n}", appointment_id=f"a{n}"))
    outcome = await spa.outcome(pkg)
    assert (outcome.status, outcome.forfeited_units) == ("expired", 0)
    assert await spa.messages("reminder") == 0
    assert await spa.ledger.count_entries(pkg, "reminder") == 0


async def test_redemption_after_expiry_is_refused(spa: Spa) -> None:
    [pkg] = await spa.sell("laser6", expires_in=timedelta(seconds=2), notices=short_notices())
    await eventually(
        lambda: spa.ledger.balance(pkg), lambda b: b is not None and b.status == "expired"
    )
    with pytest.raises(Refused, match="expired"):
        await spa.service.send(pkg, RedeemRequest(key="late", appointment_id="a1"))


async def test_vip_rollover_goes_to_staff_review_instead_of_expiring(spa: Spa) -> None:
    [pkg] = await spa.sell("vip3", expires_in=timedelta(seconds=3), notices=short_notices())
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    await eventually(
        lambda: spa.ledger.balance(pkg), lambda b: b is not None and b.status == "in_review"
    )
    alerts = await eventually(
        spa.ledger.open_alerts, lambda rows: any(a.kind == "expiry_review" for a in rows)
    )
    assert any(a.package_id == pkg for a in alerts)
    with pytest.raises(Refused, match="PackageInReview"):
        await spa.service.send(pkg, RedeemRequest(key="k2", appointment_id="a2"))

    later = datetime.now(UTC) + timedelta(days=90)
    extended = await spa.service.send(
        pkg, ExtendRequest(key="e1", new_expires_at=later, reason="VIP courtesy", actor="manager")
    )
    assert extended.status == "active"
    ok = await spa.service.send(pkg, RedeemRequest(key="k2", appointment_id="a2"))
    assert ok.remaining == 1


async def test_vip_review_can_end_in_forfeit(spa: Spa) -> None:
    [pkg] = await spa.sell("vip3", expires_in=timedelta(seconds=2), notices=short_notices())
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    await eventually(
        lambda: spa.ledger.balance(pkg), lambda b: b is not None and b.status == "in_review"
    )
    done = await spa.service.send(
        pkg, ForfeitRequest(key="f1", reason="no response", actor="manager")
    )
    assert (done.status, done.remaining) == ("expired", 0)
    rows = await eventually(lambda: spa.ledger.entries(pkg), lambda rows: rows[-1].kind == "expiry")
    assert rows[-1].value_cents == 60_000


async def test_extension_is_validated_and_recorded(spa: Spa) -> None:
    [pkg] = await spa.sell("laser6")
    with pytest.raises(Refused, match="BadExpiry"):
        await spa.service.send(
            pkg,
            ExtendRequest(
                key="e0",
                new_expires_at=datetime.now(UTC) - timedelta(days=1),
                reason="x",
                actor="m",
            ),
        )
    target = datetime.now(UTC) + timedelta(days=500)
    answer = await spa.service.send(
        pkg, ExtendRequest(key="e1", new_expires_at=target, reason="medical leave", actor="manager")
    )
    assert "extended" in answer.message
    balance = await eventually(
        lambda: spa.ledger.balance(pkg), lambda b: b is not None and b.expires_at == target
    )
    assert balance is not None


async def test_a_wrong_expiry_is_corrected_earlier_and_the_timers_follow(
    spa: Spa, twilio: TwilioFake
) -> None:
    # Typed a year out; really good for seconds. Reminders 3 s and 2 s before expiry.
    [pkg] = await spa.sell("laser6", expires_in=timedelta(days=365), notices=short_notices(3, 2))
    soon = datetime.now(UTC) + timedelta(seconds=6)
    with pytest.raises(Refused, match="an extension only lengthens"):
        await spa.service.send(
            pkg, ExtendRequest(key="x", new_expires_at=soon, reason="typo", actor="m")
        )
    with pytest.raises(Refused, match=r"BadExpiry.*not in the future"):
        await spa.service.send(
            pkg,
            CorrectExpiryRequest(
                key="c0", new_expires_at=datetime.now(UTC) - timedelta(hours=1), reason="typo"
            ),
        )
    fix = CorrectExpiryRequest(key="c1", new_expires_at=soon, reason="typo at import", actor="m")
    answer = await spa.service.send(pkg, fix)
    assert answer.outcome == "corrected" and answer.status == "active"
    assert await spa.service.send(pkg, fix) == answer  # a duplicate: the first answer
    view = await spa.service.state(pkg)
    assert view.snapshot.expires_at == soon

    # The year-out timer is gone: both reminders for the new day, then expiry, in seconds.
    outcome = await spa.outcome(pkg)
    assert (outcome.status, outcome.forfeited_units) == ("expired", 6)
    rows = await eventually(lambda: spa.ledger.entries(pkg), lambda rows: rows[-1].kind == "expiry")
    assert [r.kind for r in rows] == ["sale", "expiry_correction", "reminder", "reminder", "expiry"]
    assert (rows[1].actor, rows[1].reason, rows[1].units_delta) == ("m", "typo at import", 0)
    reminders = [b for b in twilio.sent_to(ANA.phone or "") if "good through" in b]
    assert len(reminders) == 2


async def test_pace_alert_when_sessions_cannot_fit_before_expiry(
    spa: Spa, twilio: TwilioFake
) -> None:
    # 6 sessions 28 days apart need ~168 days; 100 days are left.
    [pkg] = await spa.sell("paced6", expires_in=timedelta(days=100))
    await eventually(lambda: spa.messages("pace"), lambda n: n == 1)
    alerts = await eventually(
        spa.ledger.open_alerts, lambda rows: any(a.kind == "pace" for a in rows)
    )
    assert any(a.package_id == pkg for a in alerts)
    balance = await spa.ledger.balance(pkg)
    assert balance is not None and balance.pace_at_risk
    [text] = [b for b in twilio.sent_to(ANA.phone or "") if "between visits" in b]
    assert text.startswith(
        f"{spa.service.notice_policy().spa_name}: 6 sessions of Laser hair removal, 6 sessions "
        "need about 28 days between visits"
    )
    # Another visit does not repeat the warning while the pace is still lost.
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    await eventually(lambda: spa.messages("confirmation"), lambda n: n == 1)
    assert await spa.messages("pace") == 1


async def test_no_pace_alert_when_there_is_time(spa: Spa) -> None:
    [pkg] = await spa.sell("paced6", expires_in=timedelta(days=365))
    await spa.service.send(pkg, RedeemRequest(key="k1", appointment_id="a1"))
    await eventually(lambda: spa.messages("confirmation"), lambda n: n == 1)
    balance = await spa.ledger.balance(pkg)
    assert balance is not None and not balance.pace_at_risk
    assert await spa.messages("pace") == 0
