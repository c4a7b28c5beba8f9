-- Lifecycle metrics handed to Klaviyo (PUNCHCARD_CLIENT_MESSAGING=klaviyo|both), one row per
-- notice: the notice key is also the event's `unique_id`, so Klaviyo dedupes a resend too.
CREATE TABLE klaviyo_events (
    event_key    text PRIMARY KEY,    -- the notice key; Klaviyo's unique_id
    client_id    text NOT NULL,
    package_id   text NOT NULL,
    kind         text NOT NULL,       -- the notice kind (confirmation, reminder, …)
    metric       text NOT NULL,       -- "Punchcard Session Completed", …
    status       text NOT NULL,       -- sending | sent | not_configured | rejected | failed
    attempts     integer NOT NULL DEFAULT 0,
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX klaviyo_events_client_idx ON klaviyo_events (client_id, created_at);
