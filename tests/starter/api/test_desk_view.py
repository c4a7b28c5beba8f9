"""The desk's and the CLI's expiry date is the good-through day the client's texts say."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from activities.repository import BalanceRow
from starter.api.desk_view import desk_package, money, remaining_label
from starter.cli.render import last_day
from workflows import schedule, texts
from workflows.models import PackageKind, PackageStatus


def row(expires_at: datetime | None) -> BalanceRow:
    return BalanceRow(
        package_id="pkg-1",
        client_id="c-ana",
        type_code="laser6",
        name="Laser hair removal x6",
        kind=PackageKind.SESSIONS,
        status=PackageStatus.ACTIVE,
        remaining=2,
        purchased_units=6,
        paid_cents=180_000,
        unused_value_cents=60_000,
        purchased_at=datetime(2026, 4, 30, tzinfo=UTC),
        expires_at=expires_at,
        last_seq=3,
        updated_at=datetime(2026, 5, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("timezone", "last_good"),
    [
        ("America/New_York", date(2027, 4, 30)),
        ("Pacific/Auckland", date(2027, 4, 30)),
        ("Pacific/Honolulu", date(2027, 12, 31)),
        # Havana skips 00:00 on Mar 14 2027: the package ends at 01:00, nothing of the 14th
        # is good (the old "end minus a second" on the wall clock said Mar 14).
        ("America/Havana", date(2027, 3, 13)),
    ],
)
def test_desk_and_cli_show_the_day_the_client_is_told(timezone: str, last_good: date) -> None:
    ends = schedule.ends_after(last_good, timezone)
    told = datetime.strptime(texts.local_date(ends, timezone), "%b %d, %Y").date()

    shown = desk_package(row(ends.astimezone(UTC)), now=ends, timezone=timezone)

    assert told == last_good
    assert shown.expires_on == told
    assert shown.expires_at == ends
    assert last_day(ends, timezone) == texts.local_date(ends, timezone)


def test_a_package_without_expiry_shows_none() -> None:
    shown = desk_package(row(None), now=datetime(2027, 1, 1, tzinfo=UTC), timezone="UTC")
    assert shown.expires_on is None
    assert last_day(None, "UTC") == "no expiry"


@pytest.mark.parametrize(
    ("kind", "remaining", "purchased", "label"),
    [
        (PackageKind.SESSIONS, 4, 6, "4 sessions left"),
        (PackageKind.SESSIONS, 1, 6, "1 session left"),
        (PackageKind.SESSIONS, 0, 2, "0 sessions left"),
        (PackageKind.DOLLARS, 35_000, 150_000, "$350.00 left of $1,500.00"),
        (PackageKind.DOLLARS, -500, 150_000, "-$5.00 left of $1,500.00"),
    ],
)
def test_remaining_reads_what_is_left_first(
    kind: PackageKind, remaining: int, purchased: int, label: str
) -> None:
    shown = row(None).model_copy(
        update={"kind": kind, "remaining": remaining, "purchased_units": purchased}
    )
    assert remaining_label(shown) == label


def test_money_puts_the_sign_before_the_dollar() -> None:
    assert money(-500) == "-$5.00"
    assert money(123_456) == "$1,234.56"
