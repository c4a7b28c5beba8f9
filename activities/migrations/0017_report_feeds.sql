-- Reporting for BI tools: read-only report tokens for the CSV/JSON feeds (Power BI's Web
-- connector and any BI tool refresh them on a schedule), and where each stored
-- reconciliation stands with the Google Sheet it is written to (Looker Studio reads it).
CREATE TABLE report_tokens (
    token_id      text PRIMARY KEY,              -- shown in lists and used to revoke; not a secret
    name          text NOT NULL,                 -- what it is for: "Power BI, finance"
    token_sha256  text NOT NULL UNIQUE,          -- the token itself is shown once, never stored
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    last_used_at  timestamptz
);

ALTER TABLE reports
    ADD COLUMN sheets_status text,                -- published | failed | not_configured
    ADD COLUMN sheets_detail text,
    ADD COLUMN sheets_at     timestamptz;
