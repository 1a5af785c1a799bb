-- Checks before publish: each site says whether a built release is checked (off), checked and
-- published whatever they find (warn), or kept `ready` when they fail (block); the report is
-- the deploy's. Files over checks_max_file_bytes are a warning.

ALTER TABLE sites ADD COLUMN checks text NOT NULL DEFAULT 'warn'
    CHECK (checks IN ('off', 'warn', 'block'));
ALTER TABLE sites ADD COLUMN checks_max_file_bytes bigint NOT NULL DEFAULT 5242880
    CHECK (checks_max_file_bytes > 0);
-- Null until the release is checked, and for deploys of a site whose checks are off.
ALTER TABLE deploys ADD COLUMN checks jsonb;
