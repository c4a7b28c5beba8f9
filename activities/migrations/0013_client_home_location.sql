-- A client's own location (a spa group): where a sale to them belongs unless it names
-- another, so their reminders go out at that location's local hour. NULL: the default.
ALTER TABLE clients ADD COLUMN home_location_id text REFERENCES locations (location_id);
