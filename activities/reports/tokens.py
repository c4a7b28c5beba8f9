"""Read-only report tokens: what a BI tool (Power BI's Web connector, a script) presents to
read the report feeds. Not staff tokens: they open nothing else, and a staff token opens
no feed. Stored only as a SHA-256 hash; the token is shown once, when it is made."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

import asyncpg

from activities.repository.base import Row

TOKEN_PREFIX = "pcr_"  # tells a report token from a staff token ("pc_") at a glance


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ReportToken(Row):
    token_id: str
    name: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class IssuedToken(Row):
    """A token as made: the only time its secret is seen."""

    token_id: str
    name: str
    token: str


_COLUMNS = "token_id, name, created_by, created_at, revoked_at, last_used_at"


class ReportTokenStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def issue(self, name: str, *, created_by: str) -> IssuedToken:
        """A new token (256 random bits) named for what it is for."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = "rt_" + secrets.token_hex(6)
        await self._pool.execute(
            "INSERT INTO report_tokens (token_id, name, token_sha256, created_by) "
            "VALUES ($1, $2, $3, $4)",
            token_id,
            name,
            _digest(token),
            created_by,
        )
        return IssuedToken(token_id=token_id, name=name, token=token)

    async def verify(self, token: str) -> ReportToken | None:
        """The live token with this secret (its last use noted), or None: unknown, revoked,
        or not a report token at all."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        row = await self._pool.fetchrow(
            f"UPDATE report_tokens SET last_used_at = now() "
            f"WHERE token_sha256 = $1 AND revoked_at IS NULL RETURNING {_COLUMNS}",
            _digest(token),
        )
        return None if row is None else ReportToken.model_validate(dict(row))

    async def revoke(self, token_id: str) -> ReportToken | None:
        """Revoke a token (again: no change); None when there is no such token."""
        row = await self._pool.fetchrow(
            f"UPDATE report_tokens SET revoked_at = coalesce(revoked_at, now()) "
            f"WHERE token_id = $1 RETURNING {_COLUMNS}",
            token_id,
        )
        return None if row is None else ReportToken.model_validate(dict(row))

    async def list(self) -> list[ReportToken]:
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM report_tokens ORDER BY created_at DESC, token_id"
        )
        return [ReportToken.model_validate(dict(r)) for r in rows]
