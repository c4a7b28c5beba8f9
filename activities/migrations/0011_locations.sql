-- Locations of a spa group: each its own time zone and the ids the booking platforms give
-- it. A spa that configures none has one implied location (its settings: name, zone), and
-- every package without a location belongs to the default one. (0009 is left unused.)
CREATE TABLE locations (
    location_id            text PRIMARY KEY,
    name                   text NOT NULL,
    timezone               text NOT NULL,           -- IANA name, checked by the service
    is_default             boolean NOT NULL DEFAULT false,
    boulevard_location_id  text,                    -- urn:blvd:Location:<uuid>
    mindbody_site_id       text,                    -- SiteId (NULL: any site)
    mindbody_location_id   text,                    -- LocationId within the site
    zenoti_center_id       text,
    jane_location_id       text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
-- One default at most; one location per platform id.
CREATE UNIQUE INDEX locations_default_idx ON locations (is_default) WHERE is_default;
CREATE UNIQUE INDEX locations_boulevard_idx ON locations (boulevard_location_id)
    WHERE boulevard_location_id IS NOT NULL;
CREATE UNIQUE INDEX locations_mindbody_idx
    ON locations (coalesce(mindbody_site_id, ''), mindbody_location_id)
    WHERE mindbody_location_id IS NOT NULL;
CREATE UNIQUE INDEX locations_zenoti_idx ON locations (zenoti_center_id)
    WHERE zenoti_center_id IS NOT NULL;
CREATE UNIQUE INDEX locations_jane_idx ON locations (jane_location_id)
    WHERE jane_location_id IS NOT NULL;

-- Where a package was sold (NULL: the default location), as its workflow was started.
ALTER TABLE packages ADD COLUMN location_id text;
CREATE INDEX packages_location_idx ON packages (location_id, status);

-- Where a visit took place, from the platform's location id (NULL: not said, or unmapped).
ALTER TABLE appointment_routes ADD COLUMN location_id text;
