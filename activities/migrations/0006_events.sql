-- Money going out and events going out: what we asked Stripe for, and what we told subscribers.

-- Every renewal Checkout Session we created, one per offer (the offer key is Stripe's
-- Idempotency-Key source too). The payments intake can map a session back to its offer.
CREATE TABLE stripe_checkouts (
    offer_key     text PRIMARY KEY,
    package_id    text NOT NULL,          -- the package being renewed
    client_id     text NOT NULL,
    type_code     text NOT NULL,          -- the package type the payment buys
    amount_cents  bigint NOT NULL,
    currency      text NOT NULL,
    session_id    text NOT NULL UNIQUE,   -- cs_…
    url           text NOT NULL,
    expires_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stripe_checkouts_package_idx ON stripe_checkouts (package_id);

-- Every refund we asked Stripe for. The row is written before the request, so a
-- charge.refunded webhook that beats our own write is still recognised by the
-- punchcard_refund_key in the refund's metadata.
CREATE TABLE stripe_refunds (
    refund_key         text PRIMARY KEY,
    package_id         text NOT NULL,
    client_id          text NOT NULL,
    payment_intent_id  text NOT NULL,
    amount_cents       bigint NOT NULL CHECK (amount_cents > 0),
    refund_id          text UNIQUE,       -- re_…, once Stripe has answered
    status             text NOT NULL,     -- requested | Stripe's status | rejected
    attempts           integer NOT NULL DEFAULT 0,
    last_error         text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stripe_refunds_package_idx ON stripe_refunds (package_id);
CREATE INDEX stripe_refunds_intent_idx ON stripe_refunds (payment_intent_id);

-- Outbound lifecycle webhooks: one row per (event, subscriber URL). A URL that answered
-- 2xx (delivered) or a permanent 4xx (rejected) is never posted that event again.
CREATE TABLE event_deliveries (
    event_id      text NOT NULL,
    url           text NOT NULL,
    event_type    text NOT NULL,
    package_id    text NOT NULL,
    status        text NOT NULL CHECK (status IN ('sending', 'delivered', 'failed', 'rejected')),
    attempts      integer NOT NULL DEFAULT 0,
    http_status   integer,
    last_error    text,
    delivered_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, url)
);
CREATE INDEX event_deliveries_package_idx ON event_deliveries (package_id, created_at);
CREATE INDEX event_deliveries_pending_idx ON event_deliveries (status) WHERE status <> 'delivered';
