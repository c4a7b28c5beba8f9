-- CRM and booking-platform write-back: per target and package, the latest version pushed
-- and what came of it. A push older than the recorded version is never written ("latest
-- wins"), and a claim (claimed_version until claimed_until) keeps two pushes of one
-- package to one target from running at once, so an older one cannot land after a newer.
CREATE TABLE integration_syncs (
    target           text NOT NULL,       -- hubspot | gohighlevel | mindbody | boulevard | zenoti | jane
    package_id       text NOT NULL,
    client_id        text NOT NULL,
    version          integer NOT NULL,    -- 0 until a push settles
    status           text NOT NULL,       -- pending | updated | not_configured | not_linked | read_only | rejected
    detail           text,
    external_ref     text,                -- provider object kept up to date (a Zenoti note id)
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,                -- latest transient failure, cleared when a push settles
    claimed_version  integer,
    claimed_until    timestamptz,
    synced_at        timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target, package_id)
);
CREATE INDEX integration_syncs_client_idx ON integration_syncs (client_id);
CREATE INDEX integration_syncs_status_idx ON integration_syncs (status, updated_at)
    WHERE status IN ('rejected', 'not_linked');
