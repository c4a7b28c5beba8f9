"""How a package reads at the front desk: remaining as words, and the warnings to act on."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from activities.repository import BalanceRow, LedgerRow
from starter.api.schemas import DeskPackage, DeskWarning, HistoryLine, SharedHolder
from starter.history_days import line_day
from workflows import schedule, texts
from workflows.models import PackageKind, PackageStatus

EXPIRING_SOON = timedelta(days=30)


def money(cents: int) -> str:
    """ "$1,234.50", and "-$5.00" for an overrun (the one money format, `texts.money`)."""
    return texts.money(cents)


def remaining_label(row: BalanceRow) -> str:
    """What is left, first: "4 sessions left", "1 session left", "$350.00 left of $1,500.00"."""
    if row.kind is PackageKind.DOLLARS:
        return f"{money(row.remaining)} left of {money(row.purchased_units)}"
    return f"{row.remaining} session{'' if row.remaining == 1 else 's'} left"


def warnings(row: BalanceRow, now: datetime) -> list[DeskWarning]:
    found: list[DeskWarning] = []
    if row.status is PackageStatus.ACTIVE and row.frozen_through is not None:
        found.append(
            DeskWarning(
                code="frozen",
                message=f"Frozen until {_day(row.frozen_through)}: no visits redeem it "
                "before then (a manager can unfreeze it)",
            )
        )
    if row.status is PackageStatus.ACTIVE and row.awaiting_activation:
        found.append(
            DeskWarning(
                code="not_started",
                message="Not started: the expiry clock starts at the first visit",
            )
        )
    if row.status is PackageStatus.IN_REVIEW:
        found.append(DeskWarning(code="in_review", message="At expiry review: a manager decides"))
    if row.status is PackageStatus.ACTIVE and row.remaining <= 0:
        found.append(
            DeskWarning(code="zero_balance", message="Zero balance: collect payment before service")
        )
    elif (
        row.status is PackageStatus.ACTIVE
        and row.kind is PackageKind.SESSIONS
        and row.remaining == 1
    ):
        found.append(DeskWarning(code="low_balance", message="Last session: offer a renewal"))
    if (
        row.status is PackageStatus.ACTIVE
        and row.expires_at is not None
        and row.remaining > 0
        and row.expires_at - now <= EXPIRING_SOON
    ):
        days = max(0, (row.expires_at - now).days)
        found.append(
            DeskWarning(code="expiring_soon", message=f"Expires in {days} day(s) with balance left")
        )
    if row.pace_at_risk and row.status is PackageStatus.ACTIVE:
        found.append(
            DeskWarning(
                code="pace",
                message="Pace alert: remaining sessions may not fit before expiry — book now",
            )
        )
    return found


def history_line(row: LedgerRow, *, dates: dict[str, date], timezone: str) -> HistoryLine:
    """A ledger row dated by its visit's service date (see starter.history_days)."""
    found = line_day(
        kind=row.kind,
        appointment_id=row.appointment_id,
        recorded_at=row.occurred_at,
        dates=dates,
        timezone=timezone,
    )
    return HistoryLine.model_validate(
        {
            **row.model_dump(include=set(HistoryLine.model_fields)),
            "day": found.day,
            "day_is_service_date": found.from_service_date,
            "service_date": found.service_date,
            "recorded_label": found.recorded_label,
        }
    )


def desk_package(
    row: BalanceRow,
    *,
    now: datetime,
    timezone: str,
    shared_with: list[SharedHolder] | None = None,
) -> DeskPackage:
    expires_on = None if row.expires_at is None else schedule.good_through(row.expires_at, timezone)
    return DeskPackage(
        package_id=row.package_id,
        client_id=row.client_id,
        type_code=row.type_code,
        name=row.name,
        kind=row.kind,
        status=row.status,
        remaining=row.remaining,
        purchased_units=row.purchased_units,
        remaining_label=remaining_label(row),
        expires_at=row.expires_at,
        expires_on=expires_on,
        unused_value_cents=row.unused_value_cents,
        pace_at_risk=row.pace_at_risk,
        parent_purchase_id=row.parent_purchase_id,
        warnings=warnings(row, now),
        shared_with=shared_with or [],
        location_id=row.location_id,
        frozen_through=row.frozen_through,
        awaiting_activation=row.awaiting_activation,
    )


def _day(day: date) -> str:
    """ "Jan 5, 2027", as the desk writes days elsewhere."""
    return f"{day:%b} {day.day}, {day.year}"
