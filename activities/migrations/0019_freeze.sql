-- Freeze / pause: the longest freeze a manager may grant a package of this type, in days
-- (0: its packages cannot be frozen). Copied into each package's terms at sale.
ALTER TABLE package_types ADD COLUMN max_freeze_days integer NOT NULL DEFAULT 90
    CHECK (max_freeze_days >= 0);

-- The last frozen day (the package's zone) while a freeze runs, NULL otherwise: the desk
-- shows "frozen through …" from the balance row.
ALTER TABLE packages ADD COLUMN frozen_through date;
