"""The PostgreSQL pool and versioned schema migrations, applied at start-up.

Migrations are the numbered files in `activities/migrations/`; each runs once, in order,
inside a transaction, under an advisory lock so several workers may start together.
"""

from __future__ import annotations

import re
from importlib import resources

import asyncpg

MIGRATION_LOCK_ID = 0x5C4D_0001
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migration_files() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) in version order."""
    found = []
    for item in resources.files("activities.migrations").iterdir():
        match = _NAME.match(item.name)
        if match:
            found.append((int(match.group(1)), item.name, item.read_text(encoding="utf-8")))
    return sorted(found)


async def apply_migrations(pool: asyncpg.Pool) -> list[str]:
    """Apply pending migrations; returns the names applied now."""
    applied: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_ID)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in migration_files():
            if version in done:
                continue
            await conn.execute(sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
            )
            applied.append(name)
    return applied


class _Connection(asyncpg.Connection):
    """A pooled connection released without asyncpg's session reset.

    By default the pool sends `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`
    on every release: one more round trip for each `pool.execute`/`fetch`, which is most of
    our queries. Punchcard leaves no session state behind (no SET, LISTEN, session-level
    advisory lock or cursor outside a transaction; the migration lock is transaction-scoped),
    so there is nothing to reset. asyncpg still rolls back a transaction left open.
    """

    def get_reset_query(self) -> str:
        return ""


async def create_pool(dsn: str, *, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=1, max_size=max_size, connection_class=_Connection
    )
    assert pool is not None
    return pool
