-- The client's own page (/me/{token}): every message to a client links to it. Only the
-- token's SHA-256 is kept. A token derived from the worker's key carries its nonce, so the
-- worker can write the same link into the next message (one live link per client); the
-- nonce alone opens nothing.
CREATE TABLE client_page_links (
    token_hash    bytea PRIMARY KEY,
    client_id     text NOT NULL REFERENCES clients (client_id),
    nonce         text,                   -- NULL: a random token, never reused
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    last_seen_at  timestamptz
);
CREATE INDEX client_page_links_client_idx ON client_page_links (client_id, created_at);
