"""What every sale takes from configuration: the notice policy and the expiry instant.

Shared by staff sales (starter.packages) and Stripe purchases (activities.payment_intake),
so a package sold at the desk and one bought online are told and expired alike. The entry
points build the `SalePolicy` from their settings (`workers.worker.build_sale_policy`):
activities never read settings themselves.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from activities.repository.package_types import PackageTypeRecord
from workflows import schedule
from workflows.models import NoticePolicy, PackageTerms


class SalePolicy(BaseModel):
    """The spa's terms for a new package: how it is told, and when it expires by default."""

    model_config = ConfigDict(frozen=True)

    notices: NoticePolicy
    default_expiry_months: int = Field(gt=0)

    def expires_at(
        self, package_type: PackageTypeRecord, purchased_at: datetime, timezone: str
    ) -> datetime:
        """The type's own expiry, else the spa default, counted in `timezone`; for a type
        whose clock starts at the first visit, the bound of a package never used."""
        months = package_type.expiry_months or self.default_expiry_months
        if package_type.expiry_starts == "first_visit":
            months = package_type.max_unused_months
        return schedule.expiry_instant(purchased_at, months, timezone)

    def terms(self, package_type: PackageTypeRecord) -> PackageTerms:
        """The terms a sale copies; a first-visit type's carry the months its clock runs."""
        terms = package_type.terms()
        if package_type.expiry_starts != "first_visit":
            return terms
        months = package_type.expiry_months or self.default_expiry_months
        return terms.model_copy(update={"activation_months": months})
