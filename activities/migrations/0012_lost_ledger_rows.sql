-- Ledger rows of a lost workflow task (see activities/ledger.py): the package workflow
-- writes its rows inside the workflow task that accepted the updates, so a task the
-- server then refuses (a worker killed mid-task, an aborted update) can leave rows that
-- the retried task numbers differently. The next write of that package moves them here,
-- never silently dropped: `ledger_entries` stays append-only for everything else.
CREATE TABLE ledger_voided_entries AS SELECT * FROM ledger_entries WITH NO DATA;
ALTER TABLE ledger_voided_entries
    ADD COLUMN voided_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN void_reason text NOT NULL;
CREATE INDEX ledger_voided_package_idx ON ledger_voided_entries (package_id);

-- A delete is allowed only inside a transaction that named why (SET LOCAL
-- punchcard.void_reason), and the row is copied to ledger_voided_entries first.
CREATE OR REPLACE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    why text := current_setting('punchcard.void_reason', true);
BEGIN
    IF TG_OP = 'DELETE' AND coalesce(why, '') <> '' THEN
        INSERT INTO ledger_voided_entries SELECT OLD.*, now(), why;
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'ledger_entries is append-only';
END $$;

-- The workflow task that last wrote a package's rows: a writer of the same run with a
-- shorter history is a task already superseded, and must not write.
ALTER TABLE packages
    ADD COLUMN ledger_writer_run text,
    ADD COLUMN ledger_writer_events bigint NOT NULL DEFAULT 0;
