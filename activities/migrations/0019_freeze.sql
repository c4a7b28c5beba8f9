-- Freeze / pause: the longest freeze a manager may grant a package of this type, in days
-- (0: its packages cannot be frozen). Copied into each package's terms at sale.
ALTER TABLE package_types ADD COLUMN max_freeze_days integer NOT NULL DEFAULT 90
    CHECK (max_freeze_days >= 0);

-- The last frozen day (the package's zone) while a freeze runs, NULL otherwise: the desk
-- shows "frozen through …" from the balance row.
ALTER TABLE packages ADD COLUMN frozen_through date;

-- Activation on first visit: 'first_visit' starts the expiry clock at the first completed
-- visit (then the type's months); a package never used expires `max_unused_months` after
-- its purchase.
ALTER TABLE package_types ADD COLUMN expiry_starts text NOT NULL DEFAULT 'purchase'
    CHECK (expiry_starts IN ('purchase', 'first_visit'));
ALTER TABLE package_types ADD COLUMN max_unused_months integer NOT NULL DEFAULT 24
    CHECK (max_unused_months > 0);

-- A first-visit package not used yet: its expiry is the unused bound (the desk says so).
ALTER TABLE packages ADD COLUMN awaiting_activation boolean NOT NULL DEFAULT false;
