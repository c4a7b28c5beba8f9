-- Providers (injectors, lasers techs, estheticians): who performed a redemption.
-- Ledger rows keep provider_id as text, so an entry from a provider not listed here is still kept.

CREATE TABLE providers (
    provider_id  text PRIMARY KEY,
    name         text NOT NULL,
    role         text,
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);
