"""Stable renewal links: `/renew/{token}` outlives any one checkout.

A Stripe Checkout Session expires after 24 hours, so a 30-day reminder that carried one
was dead the next day, and so was the CRM's `renewal_link`. The reminder now carries a
link naming the offer; a checkout is made (or the open one reused) when it is clicked.

The token is 192 random bits (`secrets.token_urlsafe(24)`); only its SHA-256 is stored,
with the offer it opens and an expiry, the renewed package's own. A link is refused once
revoked or expired, and answered "already renewed" once a payment for its offer arrived.
A retried effects activity may issue a second token for the same offer: both open the
same offer, and so the same checkout.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import asyncpg

from activities.link_tokens import token_hash, well_formed
from workflows.contracts import RenewalCheckoutInput

PATH = "/renew/"
TOKEN_BYTES = 24
# A package without an expiry: its links expire a year after the offer.
UNDATED_LIFETIME = timedelta(days=365)

LinkState = Literal["open", "unknown", "revoked", "expired", "renewed"]

_EXPIRY = "SELECT expires_at FROM packages WHERE package_id = $1"
_ISSUE = """
INSERT INTO renewal_links
    (token_hash, offer_key, package_id, client_id, type_code, name, price_cents, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""
_CLICK = """
UPDATE renewal_links SET clicks = clicks + 1 WHERE token_hash = $1
RETURNING offer_key, package_id, client_id, type_code, name, price_cents, expires_at,
          revoked_at, used_at
"""
_REVOKE = """
UPDATE renewal_links SET revoked_at = now()
WHERE package_id = $1 AND revoked_at IS NULL
"""
_USED = "UPDATE renewal_links SET used_at = now() WHERE offer_key = $1 AND used_at IS NULL"


@dataclass(frozen=True)
class ClickedLink:
    """What a clicked token opens, and whether it may."""

    state: LinkState
    offer: RenewalCheckoutInput | None = None
    expires_at: datetime | None = None


class RenewalLinks:
    """Issue, open and revoke the links; `public_url` is where the API is reached."""

    def __init__(self, pool: asyncpg.Pool, *, public_url: str) -> None:
        self._pool = pool
        self._base = public_url.rstrip("/") + PATH

    async def issue(self, offer: RenewalCheckoutInput) -> str:
        """A new link to `offer`, valid until the package expires."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        expires = await self._pool.fetchval(_EXPIRY, offer.package_id)
        if expires is None:
            expires = datetime.now(UTC) + UNDATED_LIFETIME
        await self._pool.execute(
            _ISSUE,
            token_hash(token),
            offer.offer_key,
            offer.package_id,
            offer.client_id,
            offer.type_code,
            offer.name,
            offer.price_cents,
            expires,
        )
        return self._base + token

    async def click(self, token: str, *, now: datetime | None = None) -> ClickedLink:
        """The offer behind `token` and whether it may be opened now (counted as a click)."""
        if not well_formed(token):
            return ClickedLink(state="unknown")
        row = await self._pool.fetchrow(_CLICK, token_hash(token))
        if row is None:
            return ClickedLink(state="unknown")
        offer = RenewalCheckoutInput(
            offer_key=row["offer_key"],
            package_id=row["package_id"],
            client_id=row["client_id"],
            type_code=row["type_code"],
            name=row["name"],
            price_cents=row["price_cents"],
        )
        state: LinkState = "open"
        if row["revoked_at"] is not None:
            state = "revoked"
        elif row["used_at"] is not None:
            state = "renewed"
        elif row["expires_at"] <= (now or datetime.now(UTC)):
            state = "expired"
        return ClickedLink(state=state, offer=offer, expires_at=row["expires_at"])

    async def revoke(self, package_id: str) -> int:
        """Revoke every link of a package; returns how many were open."""
        status = await self._pool.execute(_REVOKE, package_id)
        return int(status.split()[-1])


async def mark_renewed(pool: asyncpg.Pool, offer_key: str) -> None:
    """A payment for the offer arrived: its links answer "already renewed" from now on."""
    await pool.execute(_USED, offer_key)
