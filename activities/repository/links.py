"""External booking-platform ids mapped to Punchcard clients, and the service catalog."""

from __future__ import annotations

import builtins
import re

import asyncpg
from pydantic import Field

from activities.repository.base import Row


class ClientLink(Row):
    platform: str = Field(min_length=1)
    external_id: str = Field(min_length=1)
    client_id: str = Field(min_length=1)


class ServiceMapping(Row):
    platform: str = Field(min_length=1, description="a platform, or '*' for every platform")
    service_key: str = Field(min_length=1, description="service id, or the service name")
    category: str = Field(min_length=1)
    label: str | None = None
    updated_by: str | None = None


def normalise_phone(raw: str | None) -> str | None:
    """E.164 from the formats platforms send: "+1 555…", "(555) 555-0123", "5555550123"."""
    if not raw:
        return None
    digits = re.sub(r"\D", "", raw)
    if raw.strip().startswith("+") and 8 <= len(digits) <= 15:
        return "+" + digits
    if len(digits) == 10:
        return "+1" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    return None


class ClientLinkRepository:
    """Which Punchcard client an external id belongs to."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def link(self, link: ClientLink) -> ClientLink:
        """Create or move a link; the client must exist."""
        await self._pool.execute(
            """
            INSERT INTO client_links (platform, external_id, client_id) VALUES ($1, $2, $3)
            ON CONFLICT (platform, external_id) DO UPDATE SET client_id = EXCLUDED.client_id
            """,
            link.platform,
            link.external_id,
            link.client_id,
        )
        return link

    async def unlink(self, platform: str, external_id: str) -> bool:
        status = await self._pool.execute(
            "DELETE FROM client_links WHERE platform = $1 AND external_id = $2",
            platform,
            external_id,
        )
        return status != "DELETE 0"

    async def for_client(self, client_id: str) -> builtins.list[ClientLink]:
        rows = await self._pool.fetch(
            "SELECT platform, external_id, client_id FROM client_links WHERE client_id = $1 "
            "ORDER BY platform, external_id",
            client_id,
        )
        return [ClientLink.model_validate(dict(r)) for r in rows]

    async def resolve(self, platform: str, external_id: str) -> str | None:
        value: str | None = await self._pool.fetchval(
            "SELECT client_id FROM client_links WHERE platform = $1 AND external_id = $2",
            platform,
            external_id,
        )
        return value

    async def resolve_ref(self, platform: str, ref: str) -> str | None:
        """A client named by a CSV row: a linked external id, a Punchcard client id, an
        email or a phone — in that order, and only when exactly one client matches."""
        ref = ref.strip()
        if not ref:
            return None
        if (linked := await self.resolve(platform, ref)) is not None:
            return linked
        if await self._pool.fetchval("SELECT 1 FROM clients WHERE client_id = $1", ref):
            return ref
        return await self.match_contact(
            email=ref if "@" in ref else None, phone=None if "@" in ref else ref
        )

    async def match_contact(self, *, email: str | None, phone: str | None) -> str | None:
        """The one client with this email or phone, or None when none or several match."""
        phone = normalise_phone(phone)
        if not email and not phone:
            return None
        rows = await self._pool.fetch(
            """
            SELECT client_id FROM clients
            WHERE ($1::text IS NOT NULL AND lower(email) = lower($1))
               OR ($2::text IS NOT NULL AND phone = $2)
            LIMIT 2
            """,
            email,
            phone,
        )
        return rows[0]["client_id"] if len(rows) == 1 else None


class ServiceCatalog:
    """Booking-platform services mapped to the categories package types cover."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert(self, mapping: ServiceMapping) -> ServiceMapping:
        await self._pool.execute(
            """
            INSERT INTO service_catalog (platform, service_key, category, label, updated_by)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (platform, service_key) DO UPDATE SET
                category = EXCLUDED.category, label = EXCLUDED.label,
                updated_by = EXCLUDED.updated_by, updated_at = now()
            """,
            mapping.platform,
            _key(mapping.service_key),
            mapping.category,
            mapping.label,
            mapping.updated_by,
        )
        return mapping.model_copy(update={"service_key": _key(mapping.service_key)})

    async def remove(self, platform: str, service_key: str) -> bool:
        status = await self._pool.execute(
            "DELETE FROM service_catalog WHERE platform = $1 AND service_key = $2",
            platform,
            _key(service_key),
        )
        return status != "DELETE 0"

    async def list(self) -> builtins.list[ServiceMapping]:
        rows = await self._pool.fetch(
            "SELECT platform, service_key, category, label, updated_by FROM service_catalog "
            "ORDER BY platform, service_key"
        )
        return [ServiceMapping.model_validate(dict(r)) for r in rows]

    async def category_for(
        self, platform: str, service_key: str | None, service_name: str | None
    ) -> str | None:
        """The platform's own mapping first (by id, then by name), then the '*' mappings,
        then a service named exactly like a category some package type covers."""
        keys = [_key(k) for k in (service_key, service_name) if k and k.strip()]
        if not keys:
            return None
        row = await self._pool.fetchrow(
            """
            SELECT category FROM service_catalog
            WHERE platform = ANY($1::text[]) AND service_key = ANY($2::text[])
            ORDER BY (platform = '*'), array_position($2::text[], service_key)
            LIMIT 1
            """,
            [platform, "*"],
            keys,
        )
        if row is not None:
            return str(row["category"])
        exact: str | None = await self._pool.fetchval(
            """
            SELECT c FROM package_types, unnest(categories) AS c
            WHERE lower(c) = ANY($1::text[]) LIMIT 1
            """,
            keys,
        )
        return exact


def _key(value: str | None) -> str:
    """Service ids and names are matched case- and space-insensitively."""
    return " ".join((value or "").split()).lower()
