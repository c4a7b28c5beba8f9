-- Stable renewal links (/renew/{token}). A Checkout Session lives 24 hours, so the link a
-- reminder carries names the offer instead, and a checkout is made when it is clicked.
-- Only the token's SHA-256 is kept: the table alone cannot open a link.
CREATE TABLE renewal_links (
    token_hash   bytea PRIMARY KEY,
    offer_key    text NOT NULL,
    package_id   text NOT NULL,         -- the package being renewed
    client_id    text NOT NULL,
    type_code    text NOT NULL,         -- the package type the payment buys
    name         text NOT NULL,
    price_cents  bigint NOT NULL CHECK (price_cents >= 0),
    expires_at   timestamptz NOT NULL,  -- the package's own expiry
    revoked_at   timestamptz,
    used_at      timestamptz,           -- a payment for the offer arrived
    clicks       integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX renewal_links_offer_idx ON renewal_links (offer_key);
CREATE INDEX renewal_links_package_idx ON renewal_links (package_id);

-- A checkout made again for the same offer once the last one expired gets the next
-- generation, and with it the next idempotency key. The processor that made it: Stripe
-- (Checkout Session) or Square (Payment Link); refunds likewise.
ALTER TABLE stripe_checkouts ADD COLUMN generation integer NOT NULL DEFAULT 0;
ALTER TABLE stripe_checkouts ADD COLUMN processor text NOT NULL DEFAULT 'stripe';
-- Square: the Order its payment link made; the payment names it, and so finds its offer.
ALTER TABLE stripe_checkouts ADD COLUMN order_id text;
CREATE INDEX stripe_checkouts_order_idx ON stripe_checkouts (order_id) WHERE order_id IS NOT NULL;
ALTER TABLE stripe_refunds ADD COLUMN processor text NOT NULL DEFAULT 'stripe';
