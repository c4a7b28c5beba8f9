"""Clients and their contact preferences: upsert, lookup, front-desk search, SMS opt-outs."""

from __future__ import annotations

import builtins
import re

import asyncpg
from pydantic import Field

from activities.repository.base import Row

E164 = r"^\+[1-9]\d{1,14}$"
_MIN_PHONE_DIGITS = 7  # fewer digits than this match too many phones to mean anything


class ClientRecord(Row):
    client_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    phone: str | None = Field(default=None, pattern=E164)
    email: str | None = None
    sms_opt_out: bool = False
    email_opt_out: bool = False
    # Where sales to the client belong unless one names another (None: the default).
    home_location_id: str | None = None


_CLIENT_COLUMNS = "client_id, name, phone, email, sms_opt_out, email_opt_out, home_location_id"


class ClientRepository:
    """Clients and their contact preferences."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert(self, client: ClientRecord) -> ClientRecord:
        """Create or update a client; returns the row as stored.

        Opt-outs are sticky: an upsert can set them but never clears them, so a CRM sync
        or CSV import cannot undo a client's STOP. Use `set_sms_opt_out` to opt back in.
        """
        row = await self._pool.fetchrow(
            f"""
            INSERT INTO clients ({_CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (client_id) DO UPDATE SET
                name = EXCLUDED.name,
                phone = EXCLUDED.phone,
                email = EXCLUDED.email,
                sms_opt_out = clients.sms_opt_out OR EXCLUDED.sms_opt_out,
                email_opt_out = clients.email_opt_out OR EXCLUDED.email_opt_out,
                home_location_id = EXCLUDED.home_location_id,
                updated_at = now()
            RETURNING {_CLIENT_COLUMNS}
            """,
            client.client_id,
            client.name,
            client.phone,
            client.email,
            client.sms_opt_out,
            client.email_opt_out,
            client.home_location_id,
        )
        assert row is not None  # INSERT … RETURNING always yields the row
        return ClientRecord.model_validate(dict(row))

    async def insert(self, client: ClientRecord) -> bool:
        """Create a client only if the id is free; True when this call created it."""
        created = await self._pool.fetchval(
            f"""
            INSERT INTO clients ({_CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (client_id) DO NOTHING
            RETURNING client_id
            """,
            client.client_id,
            client.name,
            client.phone,
            client.email,
            client.sms_opt_out,
            client.email_opt_out,
            client.home_location_id,
        )
        return created is not None

    async def get(self, client_id: str) -> ClientRecord | None:
        row = await self._pool.fetchrow(
            f"SELECT {_CLIENT_COLUMNS} FROM clients WHERE client_id = $1", client_id
        )
        return None if row is None else ClientRecord.model_validate(dict(row))

    async def list(self, limit: int = 200) -> builtins.list[ClientRecord]:
        """Every client, by name (case-insensitively), at most `limit` of them."""
        rows = await self._pool.fetch(
            f"""
            SELECT {_CLIENT_COLUMNS} FROM clients
            ORDER BY lower(name), client_id
            LIMIT $1
            """,
            limit,
        )
        return [ClientRecord.model_validate(dict(row)) for row in rows]

    async def find(self, text: str, *, limit: int = 50) -> builtins.list[ClientRecord]:
        """Front-desk search: part of the name, or a phone typed in any format.

        A phone matches exactly, or by its trailing digits when the text has at least
        seven, so "(555) 555-0100" finds +15555550100.
        """
        text = text.strip()
        if not text:
            return []
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"
        digits = re.sub(r"\D", "", text)
        suffix = "%" + digits if len(digits) >= _MIN_PHONE_DIGITS else None
        rows = await self._pool.fetch(
            f"""
            SELECT {_CLIENT_COLUMNS} FROM clients
            WHERE name ILIKE $1 OR phone = $2 OR ($3::text IS NOT NULL AND phone LIKE $3)
            ORDER BY lower(name), client_id
            LIMIT $4
            """,
            pattern,
            text,
            suffix,
            limit,
        )
        return [ClientRecord.model_validate(dict(row)) for row in rows]

    async def set_sms_opt_out(self, client_id: str, opted_out: bool) -> bool:
        """Record a STOP (or a START); returns False when there is no such client."""
        status = await self._pool.execute(
            "UPDATE clients SET sms_opt_out = $2, updated_at = now() WHERE client_id = $1",
            client_id,
            opted_out,
        )
        return status != "UPDATE 0"

    async def set_sms_opt_out_by_phone(self, phone: str, opted_out: bool) -> builtins.list[str]:
        """Apply an inbound STOP/START to every client sharing that number (families do)."""
        rows = await self._pool.fetch(
            """
            UPDATE clients SET sms_opt_out = $2, updated_at = now()
            WHERE phone = $1
            RETURNING client_id
            """,
            phone,
            opted_out,
        )
        return sorted(row["client_id"] for row in rows)
