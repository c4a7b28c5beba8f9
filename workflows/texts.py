"""What clients and staff read. Plain functions so wording is tested without Temporal."""

from __future__ import annotations

from datetime import datetime

from workflows.models import PackageKind
from workflows.schedule import good_through


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) / 100:,.2f}"


def amount(kind: PackageKind, units: int) -> str:
    if kind is PackageKind.DOLLARS:
        return money(units)
    return f"{units} session" + ("" if units == 1 else "s")


def local_date(at: datetime | None, timezone: str) -> str:
    if at is None:
        return "no expiry"
    return good_through(at, timezone).strftime("%b %d, %Y")


def redemption_confirmation(
    *, kind: PackageKind, name: str, used: int, purchased: int, remaining: int, spent: int
) -> str:
    if kind is PackageKind.DOLLARS:
        return (
            f"{money(spent)} redeemed from your {name} — {money(remaining)} remaining "
            f"of {money(purchased)}."
        )
    return f"Session {used} of {purchased} complete — {remaining} remaining ({name})."
