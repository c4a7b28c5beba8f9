"""Staff who may use the API: a role each, and a bearer token stored only as its hash."""

from __future__ import annotations

import builtins
import hashlib
import secrets
from enum import StrEnum

import asyncpg
from pydantic import Field

from activities.repository.base import Row


class Role(StrEnum):
    FRONT_DESK = "front_desk"
    MANAGER = "manager"


class StaffMember(Row):
    staff_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    role: Role
    active: bool = True


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return "pc_" + secrets.token_urlsafe(24)


class StaffRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, member: StaffMember, token: str | None = None) -> str:
        """Create or re-key a staff member; returns the token (shown once, stored hashed)."""
        token = token or new_token()
        await self._pool.execute(
            """
            INSERT INTO staff_members (staff_id, name, role, token_sha256, active)
            VALUES ($1, $2, $3, $4, true)
            ON CONFLICT (staff_id) DO UPDATE SET name = EXCLUDED.name, role = EXCLUDED.role,
                token_sha256 = EXCLUDED.token_sha256, active = true
            """,
            member.staff_id,
            member.name,
            member.role.value,
            token_digest(token),
        )
        return token

    async def insert(self, member: StaffMember) -> str | None:
        """Create a staff member only if the id is free: the new token, else None."""
        token = new_token()
        created = await self._pool.fetchval(
            """
            INSERT INTO staff_members (staff_id, name, role, token_sha256, active)
            VALUES ($1, $2, $3, $4, true)
            ON CONFLICT (staff_id) DO NOTHING
            RETURNING staff_id
            """,
            member.staff_id,
            member.name,
            member.role.value,
            token_digest(token),
        )
        return None if created is None else token

    async def insert_first_manager(self, member: StaffMember, token: str) -> bool:
        """Create `member` with `token` only while no active manager exists (bootstrap)."""
        created = await self._pool.fetchval(
            """
            INSERT INTO staff_members (staff_id, name, role, token_sha256, active)
            SELECT $1, $2, 'manager', $3, true
            WHERE NOT EXISTS (SELECT 1 FROM staff_members WHERE role = 'manager' AND active)
            ON CONFLICT DO NOTHING
            RETURNING staff_id
            """,
            member.staff_id,
            member.name,
            token_digest(token),
        )
        return created is not None

    async def rekey(self, staff_id: str) -> str | None:
        """A new token for an existing member (active again); None when there is none."""
        token = new_token()
        status = await self._pool.execute(
            "UPDATE staff_members SET token_sha256 = $2, active = true WHERE staff_id = $1",
            staff_id,
            token_digest(token),
        )
        return None if status == "UPDATE 0" else token

    async def get(self, staff_id: str) -> StaffMember | None:
        row = await self._pool.fetchrow(
            "SELECT staff_id, name, role, active FROM staff_members WHERE staff_id = $1",
            staff_id,
        )
        return None if row is None else StaffMember.model_validate(dict(row))

    async def by_token(self, token: str) -> StaffMember | None:
        row = await self._pool.fetchrow(
            "SELECT staff_id, name, role, active FROM staff_members "
            "WHERE token_sha256 = $1 AND active",
            token_digest(token),
        )
        return None if row is None else StaffMember.model_validate(dict(row))

    async def deactivate(self, staff_id: str) -> bool:
        status = await self._pool.execute(
            "UPDATE staff_members SET active = false WHERE staff_id = $1", staff_id
        )
        return status != "UPDATE 0"

    async def list(self) -> builtins.list[StaffMember]:
        rows = await self._pool.fetch(
            "SELECT staff_id, name, role, active FROM staff_members ORDER BY staff_id"
        )
        return [StaffMember.model_validate(dict(r)) for r in rows]
