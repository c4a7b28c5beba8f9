-- Events in, people served: external ids, the service catalog, matching priority, the
-- review queue, inbound webhook records, staff tokens and polling cursors.

-- An external booking-platform id (Boulevard client URN, Mindbody client id, Zenoti guest
-- id, Jane patient id) belongs to exactly one Punchcard client.
CREATE TABLE client_links (
    platform     text NOT NULL,
    external_id  text NOT NULL,
    client_id    text NOT NULL REFERENCES clients (client_id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, external_id)
);
CREATE INDEX client_links_client_idx ON client_links (client_id);

-- Booking-platform services mapped to Punchcard categories. service_key is the platform's
-- service id or, failing that, the lower-cased service name. platform '*' applies to all.
CREATE TABLE service_catalog (
    platform     text NOT NULL,
    service_key  text NOT NULL,
    category     text NOT NULL,
    label        text,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   text,
    PRIMARY KEY (platform, service_key)
);

-- Matching rule 4: among packages covering a category, lower match_priority goes first.
ALTER TABLE package_types ADD COLUMN match_priority integer NOT NULL DEFAULT 100;

-- The manual review queue: appointments no package took, and staff follow-ups.
CREATE TABLE review_items (
    item_id         text PRIMARY KEY,        -- stable: derived from what caused it
    kind            text NOT NULL,           -- unmatched_visit | follow_up | payment
    reason          text NOT NULL,           -- no_match | unknown_service | refused | ...
    detail          text NOT NULL,           -- one line a person can act on
    client_id       text,
    platform        text,
    appointment_id  text,
    service_name    text,
    category        text,
    visit_workflow_id text,                  -- set when a visit workflow waits on it
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'assigned', 'dismissed', 'done')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    escalated_at    timestamptz,
    resolved_at     timestamptz,
    resolved_by     text,
    resolution      text,
    package_id      text
);
CREATE INDEX review_items_open_idx ON review_items (created_at) WHERE status = 'open';

-- Every webhook delivery we accepted, ignored or refused: what came in and what became of it.
CREATE TABLE inbound_events (
    provider      text NOT NULL,
    event_key     text NOT NULL,
    event_type    text NOT NULL,
    status        text NOT NULL,   -- accepted | ignored | refused | duplicate
    detail        text,
    appointment_id text,
    client_id     text,
    deliveries    integer NOT NULL DEFAULT 1,
    received_at   timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    payload       jsonb,
    PRIMARY KEY (provider, event_key)
);
CREATE INDEX inbound_events_received_idx ON inbound_events (received_at);

-- What became of an appointment's completion (redeemed on a package, or dismissed by
-- staff), kept after the visit workflow closes, so a late duplicate is never routed again.
CREATE TABLE appointment_routes (
    platform        text NOT NULL,
    appointment_id  text NOT NULL,
    package_id      text,
    outcome         text NOT NULL DEFAULT 'redeemed' CHECK (outcome IN ('redeemed', 'dismissed')),
    routed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, appointment_id)
);

-- Staff who may use the API. Only a SHA-256 of each token is stored.
CREATE TABLE staff_members (
    staff_id     text PRIMARY KEY,
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('front_desk', 'manager')),
    token_sha256 text NOT NULL UNIQUE,
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Locations polled for changed appointments (Zenoti centers, Jane clinics) and their cursors.
CREATE TABLE poll_locations (
    platform     text NOT NULL,
    location_id  text NOT NULL,
    label        text,
    active       boolean NOT NULL DEFAULT true,
    cursor_at    timestamptz,          -- appointments changed up to here have been fed in
    last_run_at  timestamptz,
    last_result  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, location_id)
);

-- Review-queue escalations and other alerts may concern no single package or client.
ALTER TABLE staff_alerts ALTER COLUMN package_id DROP NOT NULL;
ALTER TABLE staff_alerts ALTER COLUMN client_id DROP NOT NULL;
