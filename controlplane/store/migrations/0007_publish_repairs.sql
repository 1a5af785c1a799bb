-- The live-pointer reconcile may publish on its own ('repair') when a live release's files are
-- gone; the history says why.

ALTER TABLE publish_events DROP CONSTRAINT publish_events_kind_check;
ALTER TABLE publish_events ADD CONSTRAINT publish_events_kind_check
    CHECK (kind IN ('publish', 'auto_publish', 'rollback', 'repair'));
ALTER TABLE publish_events ADD COLUMN reason text;
