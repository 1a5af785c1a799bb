-- Probes after a publish: the report on the deploy (null until probed), and whether a site's
-- automatic publish that fails its probes goes back to the deploy it replaced.
ALTER TABLE deploys ADD COLUMN probes jsonb;
ALTER TABLE sites ADD COLUMN probe_rollback boolean NOT NULL DEFAULT true;
ALTER TABLE publish_events DROP CONSTRAINT publish_events_kind_check;
ALTER TABLE publish_events ADD CONSTRAINT publish_events_kind_check
    CHECK (kind IN ('publish', 'auto_publish', 'rollback', 'repair', 'auto_rollback'));
