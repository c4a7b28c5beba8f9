"""What every sale needs from configuration: the notice policy and the expiry instant.

Shared by staff sales (starter.packages) and Stripe purchases (activities.payment_intake),
so a package sold at the desk and one bought online are told and expired alike.
"""

from __future__ import annotations

from datetime import datetime

from activities.repository.package_types import PackageTypeRecord
from workers.settings import Settings
from workflows import schedule
from workflows.models import NoticePolicy


def notice_policy(settings: Settings) -> NoticePolicy:
    return NoticePolicy(
        spa_name=settings.spa_name,
        timezone=settings.spa_timezone,
        local_hour=settings.reminder_local_hour,
        renewal_url=settings.renewal_url,
    )


def expiry_for(
    package_type: PackageTypeRecord, purchased_at: datetime, settings: Settings, timezone: str
) -> datetime:
    months = package_type.expiry_months or settings.default_expiry_months
    return schedule.expiry_instant(purchased_at, months, timezone)
