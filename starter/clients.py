"""Clients as staff manage them: create, update, SMS consent, platform links, messages.

The CLI and the HTTP API both call this. `create` is safe to retry: the same record again
answers "already there" and changes nothing; a different record under the same id is a
`Conflict` naming the fields that differ (an update is a separate, explicit call).
Opt-outs are sticky everywhere: a create or save may add one, never clear it.
"""

from __future__ import annotations

import asyncpg

from activities.repository import (
    ClientLink,
    ClientLinkRepository,
    ClientRecord,
    ClientRepository,
    LedgerReader,
    MessageRow,
)
from activities.repository.locations import LocationRepository
from starter.packages import Conflict, NotFound
from starter.saved import Saved, listed
from workflows.models import Model

RECORD_FIELDS = ("name", "phone", "email", "home_location_id")


class ClientChanges(Model):
    """An update: only the fields set are changed (None clears phone, email or the home
    location)."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    home_location_id: str | None = None


class ClientService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.clients = ClientRepository(pool)
        self.links = ClientLinkRepository(pool)
        self._ledger = LedgerReader(pool)
        self._locations = LocationRepository(pool)

    async def get(self, client_id: str) -> ClientRecord:
        found = await self.clients.get(client_id)
        if found is None:
            raise NotFound(f"no client {client_id!r}")
        return found

    async def create(self, record: ClientRecord) -> Saved[ClientRecord]:
        """Create the client; the same contact details again are a no-op (opt-outs sent
        along are still added), different ones a `Conflict`."""
        await self._check_location(record.home_location_id)
        if await self.clients.insert(record):
            return Saved(record=record, created=True)
        stored = await self.get(record.client_id)
        differs = [f for f in RECORD_FIELDS if getattr(stored, f) != getattr(record, f)]
        if differs:
            raise Conflict(
                f"client {record.client_id!r} already exists with a different "
                f"{listed(differs)}: update it instead of creating it"
            )
        if (record.sms_opt_out and not stored.sms_opt_out) or (
            record.email_opt_out and not stored.email_opt_out
        ):
            stored = await self.clients.upsert(record)
        return Saved(record=stored, created=False)

    async def save(self, record: ClientRecord) -> Saved[ClientRecord]:
        """Create or update (the CLI's `client add`)."""
        await self._check_location(record.home_location_id)
        existed = await self.clients.get(record.client_id) is not None
        return Saved(record=await self.clients.upsert(record), created=not existed)

    async def update(self, client_id: str, changes: ClientChanges) -> ClientRecord:
        stored = await self.get(client_id)
        merged = ClientRecord.model_validate(
            stored.model_dump() | changes.model_dump(include=changes.model_fields_set)
        )
        await self._check_location(merged.home_location_id)
        return await self.clients.upsert(merged)

    async def _check_location(self, location_id: str | None) -> None:
        if location_id is not None and await self._locations.get(location_id) is None:
            raise NotFound(
                f"no location {location_id!r}: add it first (POST /api/locations or "
                "`punchcard locations add`)"
            )

    async def set_sms_opt_out(self, client_id: str, opted_out: bool) -> ClientRecord:
        """Record a client's STOP, or (with their consent) resume SMS."""
        if not await self.clients.set_sms_opt_out(client_id, opted_out):
            raise NotFound(f"no client {client_id!r}")
        return await self.get(client_id)

    async def link(self, link: ClientLink) -> ClientLink:
        """Tie a platform's client id to the client (moving it if it named another)."""
        await self.get(link.client_id)
        return await self.links.link(link)

    async def messages(self, client_id: str) -> list[MessageRow]:
        """Every message attempt to the client, oldest first (sent, failed or withheld)."""
        await self.get(client_id)
        return await self._ledger.messages_for_client(client_id)
