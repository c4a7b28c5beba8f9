"""Links to the client's own page, `/me/{token}`: issued into messages, opened by clients.

A token is 192 bits; only its SHA-256 is stored, with the client, an expiry and a
revocation. One live link per client: the next message carries the same link until it
nears its expiry. To write the same link again without keeping it, the worker derives the
token from a nonce stored in the row and a key only the worker holds
(`HMAC-SHA256(key, nonce)`): the table alone opens nothing. Without a key every message
gets a fresh random token (`secrets.token_urlsafe`), each valid until its own expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import asyncpg

from activities.link_tokens import token_hash, well_formed
from activities.repository.base import Row
from workflows.contracts import RenewalCheckoutInput

PATH = "/me/"
TOKEN_BYTES = 24
# A link this close to its expiry is not handed out again: the client gets a new one.
RENEW_MARGIN = timedelta(days=30)
# The two-key advisory lock space: apart from the migration lock (one bigint key).
_LOCK_CLASS = 18

PageState = Literal["open", "unknown", "revoked", "expired"]

_LIVE = """
SELECT token_hash, nonce FROM client_page_links
WHERE client_id = $1 AND revoked_at IS NULL AND nonce IS NOT NULL AND expires_at > $2
ORDER BY created_at DESC
"""
_ISSUE = """
INSERT INTO client_page_links (token_hash, client_id, nonce, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5)
"""
_OPEN = """
UPDATE client_page_links SET last_seen_at = $2 WHERE token_hash = $1
RETURNING client_id, expires_at, revoked_at
"""
_REVOKE = """
UPDATE client_page_links SET revoked_at = now()
WHERE client_id = $1 AND revoked_at IS NULL
"""


def derive_token(key: bytes, nonce: str) -> str:
    """The token a nonce stands for under `key` (192 bits, URL-safe)."""
    digest = hmac.new(key, b"punchcard-client-page:" + nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:TOKEN_BYTES]).decode().rstrip("=")


@dataclass(frozen=True)
class OpenedPage:
    """Whose page a token opens, and whether it may."""

    state: PageState
    client_id: str | None = None


class ClientPageLinks:
    """Issue, open and revoke page links; `public_url` is where the API is reached."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        public_url: str,
        key: bytes | None = None,
        lifetime: timedelta = timedelta(days=180),
    ) -> None:
        self._pool = pool
        self._base = public_url.rstrip("/") + PATH
        self._key = key
        self._lifetime = lifetime

    def url(self, token: str) -> str:
        return self._base + token

    async def link_for(self, client_id: str, *, now: datetime | None = None) -> str:
        """The client's live link, or a new one when none is live (or it nears expiry)."""
        now = now or datetime.now(UTC)
        margin = min(RENEW_MARGIN, self._lifetime / 2)
        async with self._pool.acquire() as conn, conn.transaction():
            # One issuer per client at a time, so concurrent messages share one link.
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK_CLASS, client_id
            )
            if self._key is not None:
                for row in await conn.fetch(_LIVE, client_id, now + margin):
                    token = derive_token(self._key, row["nonce"])
                    if hmac.compare_digest(token_hash(token), bytes(row["token_hash"])):
                        return self.url(token)
            nonce: str | None = None
            if self._key is not None:
                nonce = secrets.token_urlsafe(16)
                token = derive_token(self._key, nonce)
            else:
                token = secrets.token_urlsafe(TOKEN_BYTES)
            await conn.execute(
                _ISSUE, token_hash(token), client_id, nonce, now, now + self._lifetime
            )
        return self.url(token)

    async def open(self, token: str, *, now: datetime | None = None) -> OpenedPage:
        """The client behind `token` and whether the page may be shown now."""
        if not well_formed(token):
            return OpenedPage(state="unknown")
        now = now or datetime.now(UTC)
        row = await self._pool.fetchrow(_OPEN, token_hash(token), now)
        if row is None:
            return OpenedPage(state="unknown")
        if row["revoked_at"] is not None:
            return OpenedPage(state="revoked", client_id=row["client_id"])
        if row["expires_at"] <= now:
            return OpenedPage(state="expired", client_id=row["client_id"])
        return OpenedPage(state="open", client_id=row["client_id"])

    async def revoke(self, client_id: str) -> int:
        """Revoke every live link of a client; returns how many were live. The next
        message gets a new one."""
        status = await self._pool.execute(_REVOKE, client_id)
        return int(status.split()[-1])


# --- what the page shows ----------------------------------------------------------------


class PagePackage(Row):
    """A package as its client sees it: no prices paid, no staff, no other client."""

    package_id: str
    name: str
    kind: str
    status: str
    remaining: int
    purchased_units: int
    expires_at: datetime | None


class PageVisit(Row):
    """One line of the client's visit history."""

    package_id: str
    package_name: str
    kind: str
    appointment_id: str | None
    recorded_at: datetime


# Open packages, and closed ones only while they still hold something (none, usually).
_PACKAGES = """
SELECT package_id, name, kind, status, remaining, purchased_units, expires_at
FROM packages
WHERE client_id = $1 AND status IN ('active', 'in_review')
ORDER BY purchased_at, package_id
"""
_VISITS = """
SELECT e.package_id, p.name AS package_name, e.kind, e.appointment_id, e.recorded_at
FROM ledger_entries e JOIN packages p USING (package_id)
WHERE e.client_id = $1 AND e.kind IN ('redemption', 'no_show', 'late_cancel', 'reversal')
ORDER BY e.recorded_at DESC, e.entry_id DESC
LIMIT $2
"""
_OFFER = """
SELECT offer_key, package_id, client_id, type_code, name, price_cents FROM renewal_links
WHERE package_id = $1 AND client_id = $2 AND revoked_at IS NULL AND used_at IS NULL
  AND expires_at > $3
ORDER BY created_at DESC LIMIT 1
"""


def first_name(name: str) -> str:
    """The first word of a client's name: all the page says about who it is for."""
    parts = name.split()
    return parts[0] if parts else ""


class ClientPageReader:
    """The reads behind one client's page, each limited to that client."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def first_name(self, client_id: str) -> str | None:
        name = await self._pool.fetchval("SELECT name FROM clients WHERE client_id = $1", client_id)
        return None if name is None else first_name(name)

    async def sms_opt_out(self, client_id: str) -> bool:
        value = await self._pool.fetchval(
            "SELECT sms_opt_out FROM clients WHERE client_id = $1", client_id
        )
        return bool(value)

    async def packages(self, client_id: str) -> list[PagePackage]:
        rows = await self._pool.fetch(_PACKAGES, client_id)
        return [PagePackage.model_validate(dict(r)) for r in rows]

    async def visits(self, client_id: str, *, limit: int = 50) -> list[PageVisit]:
        rows = await self._pool.fetch(_VISITS, client_id, limit)
        return [PageVisit.model_validate(dict(r)) for r in rows]

    async def renewal_offer(
        self, package_id: str, client_id: str, *, now: datetime | None = None
    ) -> RenewalCheckoutInput | None:
        """The package's open renewal offer (one its stable link still opens), if any."""
        row = await self._pool.fetchrow(_OFFER, package_id, client_id, now or datetime.now(UTC))
        return None if row is None else RenewalCheckoutInput.model_validate(dict(row))
