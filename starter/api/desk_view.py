"""How a package reads at the front desk: remaining as words, and the warnings to act on."""

from __future__ import annotations

from datetime import datetime, timedelta

from activities.repository import BalanceRow
from starter.api.schemas import DeskPackage, DeskWarning
from workflows import schedule
from workflows.models import PackageKind, PackageStatus

EXPIRING_SOON = timedelta(days=30)


def money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def remaining_label(row: BalanceRow) -> str:
    if row.kind is PackageKind.DOLLARS:
        return f"{money(row.remaining)} of {money(row.purchased_units)}"
    return f"{row.remaining} of {row.purchased_units} sessions"


def warnings(row: BalanceRow, now: datetime) -> list[DeskWarning]:
    found: list[DeskWarning] = []
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


def desk_package(row: BalanceRow, *, now: datetime, timezone: str) -> DeskPackage:
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
    )
