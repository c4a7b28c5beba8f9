"""Repositories over the asyncpg pool: clients, package types and the ledger, read as models.

Starter code (API, CLI, webhooks, reports) reads and writes the database only through
these classes, so SQL lives in one place and callers get typed, frozen rows.

- `clients`: `ClientRecord`, `ClientRepository`
- `package_types`: `PackageTypeRecord`, `PackageTypeRepository`
- `ledger_reader`: `LedgerReader` and its rows (`BalanceRow`, `LedgerRow`, `AlertRow`,
  `MessageRow`)
- `links`: external client ids (`ClientLinkRepository`) and the `ServiceCatalog`
- `review`: the `ReviewQueue`, `AppointmentRoutes` and the `InboundEventLog`
- `staff`: `StaffRepository` (API tokens and roles)
- `locations`: `LocationRecord`, `LocationRepository` (a spa group's locations)
- `base`: `Row`, the frozen base of every row
"""

from __future__ import annotations

from activities.repository.base import Row
from activities.repository.clients import E164, ClientRecord, ClientRepository
from activities.repository.ledger_reader import (
    AlertRow,
    BalanceRow,
    LedgerReader,
    LedgerRow,
    MessageRow,
)
from activities.repository.links import (
    ClientLink,
    ClientLinkRepository,
    ServiceCatalog,
    ServiceMapping,
    normalise_phone,
)
from activities.repository.locations import LocationRecord, LocationRepository
from activities.repository.package_types import PackageTypeRecord, PackageTypeRepository
from activities.repository.review import (
    AppointmentRoutes,
    InboundEvent,
    InboundEventLog,
    ReviewItem,
    ReviewQueue,
)
from activities.repository.staff import Role, StaffMember, StaffRepository, token_digest

__all__ = [
    "E164",
    "AlertRow",
    "AppointmentRoutes",
    "BalanceRow",
    "ClientLink",
    "ClientLinkRepository",
    "ClientRecord",
    "ClientRepository",
    "InboundEvent",
    "InboundEventLog",
    "LedgerReader",
    "LedgerRow",
    "LocationRecord",
    "LocationRepository",
    "MessageRow",
    "PackageTypeRecord",
    "PackageTypeRepository",
    "ReviewItem",
    "ReviewQueue",
    "Role",
    "Row",
    "ServiceCatalog",
    "ServiceMapping",
    "StaffMember",
    "StaffRepository",
    "normalise_phone",
    "token_digest",
]
