-- Moving in: imports of clients and open packages from the old system, as jobs.
-- A job holds the parsed rows of one file; each row gets its outcome once processed, so a
-- job interrupted midway resumes at the first row without one (and never does a row twice).
CREATE TABLE import_jobs (
    job_id       text PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('clients', 'packages')),
    format       text NOT NULL,           -- generic | mindbody | boulevard
    dry_run      boolean NOT NULL,
    options      jsonb NOT NULL DEFAULT '{}',
    file_name    text,
    file_sha256  text NOT NULL,
    rows_total   integer NOT NULL,
    status       text NOT NULL,           -- running | done | failed
    detail       text,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX import_jobs_created_idx ON import_jobs (created_at DESC);

CREATE TABLE import_rows (
    job_id   text NOT NULL REFERENCES import_jobs (job_id),
    line     integer NOT NULL,
    row      jsonb,                       -- the row as parsed; NULL when refused on reading
    outcome  text,                        -- NULL until processed: created | updated | skipped | duplicate | refused
    message  text,
    ref      text,                        -- the client or package the row became or matched
    done_at  timestamptz,
    PRIMARY KEY (job_id, line)
);
CREATE INDEX import_rows_pending_idx ON import_rows (job_id, line) WHERE outcome IS NULL;
CREATE INDEX import_rows_ref_idx ON import_rows (job_id, ref) WHERE ref IS NOT NULL;

-- The old system's ids (or a row's fingerprint) and what each became: importing the same
-- record again finds it here and changes nothing.
CREATE TABLE import_keys (
    kind        text NOT NULL,            -- client | package
    source_key  text NOT NULL,
    target_id   text NOT NULL,
    job_id      text NOT NULL,
    line        integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, source_key)
);
