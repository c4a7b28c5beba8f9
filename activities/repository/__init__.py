"""Repositories over the asyncpg pool: clients, package types and the ledger, read as models.

Starter code (API, CLI, webhooks, reports) reads and writes the database only through
these classes, so SQL lives in one place and callers get typed, frozen rows.

- `clients`: `ClientRecord`, `ClientRepository`
- `package_types`: `PackageTypeRecord`, `PackageTypeRepository`
- `ledger_reader`: `LedgerReader` and its rows (`BalanceRow`, `LedgerRow`, `AlertRow`,
  `MessageRow`)
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
from activities.repository.package_types import PackageTypeRecord, PackageTypeRepository

__all__ = [
    "E164",
    "AlertRow",
    "BalanceRow",
    "ClientRecord",
    "ClientRepository",
    "LedgerReader",
    "LedgerRow",
    "MessageRow",
    "PackageTypeRecord",
    "PackageTypeRepository",
    "Row",
]
