-- Punchcard schema v1: clients, package types, the append-only ledger and its balance table.

CREATE TABLE clients (
    client_id      text PRIMARY KEY,
    name           text NOT NULL,
    phone          text,            -- E.164
    email          text,
    sms_opt_out    boolean NOT NULL DEFAULT false,
    email_opt_out  boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX clients_phone_idx ON clients (phone);
CREATE INDEX clients_name_idx ON clients (lower(name));

CREATE TABLE package_types (
    type_code             text PRIMARY KEY,
    name                  text NOT NULL,
    kind                  text NOT NULL CHECK (kind IN ('sessions', 'dollars')),
    units                 integer NOT NULL CHECK (units > 0),
    price_cents           bigint NOT NULL CHECK (price_cents >= 0),
    expiry_months         integer CHECK (expiry_months IS NULL OR expiry_months > 0),
    categories            text[] NOT NULL DEFAULT '{}',
    no_show_forfeits      boolean NOT NULL DEFAULT false,
    late_cancel_forfeits  boolean NOT NULL DEFAULT false,
    vip_rollover_max      integer NOT NULL DEFAULT 0,
    min_interval_days     integer,
    enforce_zero_balance  boolean NOT NULL DEFAULT true,
    created_at            timestamptz NOT NULL DEFAULT now()
);

-- Current balance of every package: a projection of the ledger, written with each entry.
CREATE TABLE packages (
    package_id          text PRIMARY KEY,
    client_id           text NOT NULL REFERENCES clients (client_id),
    type_code           text NOT NULL,
    name                text NOT NULL,
    kind                text NOT NULL,
    status              text NOT NULL,
    remaining           integer NOT NULL,
    purchased_units     integer NOT NULL,
    paid_cents          bigint NOT NULL,
    unused_value_cents  bigint NOT NULL,
    refund_due_cents    bigint,
    pace_at_risk        boolean NOT NULL DEFAULT false,
    purchased_at        timestamptz NOT NULL,
    expires_at          timestamptz,
    parent_purchase_id  text,
    last_seq            integer NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX packages_client_idx ON packages (client_id);
CREATE INDEX packages_status_expiry_idx ON packages (status, expires_at);
CREATE INDEX packages_parent_idx ON packages (parent_purchase_id) WHERE parent_purchase_id IS NOT NULL;

-- Append-only: rows are never updated or deleted (a trigger refuses it).
CREATE TABLE ledger_entries (
    entry_id         bigserial PRIMARY KEY,
    package_id       text NOT NULL REFERENCES packages (package_id),
    client_id        text NOT NULL,
    seq              integer NOT NULL,
    idempotency_key  text NOT NULL,
    kind             text NOT NULL,
    units_delta      integer NOT NULL,
    balance_after    integer NOT NULL,
    value_cents      bigint NOT NULL,
    appointment_id   text,
    provider_id      text,
    actor            text NOT NULL,
    source           text NOT NULL,
    reason           text,
    outcome          text NOT NULL,
    occurred_at      timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (package_id, idempotency_key),
    UNIQUE (package_id, seq)
);
CREATE INDEX ledger_occurred_idx ON ledger_entries (occurred_at);
CREATE INDEX ledger_kind_occurred_idx ON ledger_entries (kind, occurred_at);
CREATE INDEX ledger_client_idx ON ledger_entries (client_id, occurred_at);

CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only';
END $$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();

-- Every client/staff message attempt, keyed by the workflow's message key: dedupe across retries.
CREATE TABLE outbound_messages (
    message_key          text NOT NULL,
    channel              text NOT NULL CHECK (channel IN ('sms', 'email')),
    client_id            text,
    package_id           text,
    kind                 text NOT NULL,
    recipient            text,
    subject              text,
    body                 text NOT NULL,
    status               text NOT NULL,   -- sending | sent | opted_out | no_address | not_configured | rejected
    provider_message_id  text,
    error                text,
    attempts             integer NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_key, channel)
);
CREATE INDEX outbound_client_idx ON outbound_messages (client_id, created_at);

CREATE TABLE staff_alerts (
    alert_key        text PRIMARY KEY,
    package_id       text NOT NULL,
    client_id        text NOT NULL,
    kind             text NOT NULL,
    message          text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    acknowledged_by  text
);
CREATE INDEX staff_alerts_open_idx ON staff_alerts (created_at) WHERE acknowledged_at IS NULL;
