-- Monitoring: each live environment is asked for `/` every site's interval, by one process at
-- a time. Every check is kept (for uptime and latency; retention drops old ones), and each
-- environment's state says since when it is up or down, and its certificate's end.
ALTER TABLE sites ADD COLUMN monitor_interval integer NOT NULL DEFAULT 60
    CHECK (monitor_interval BETWEEN 10 AND 3600);

CREATE TABLE monitor_checks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    environment text NOT NULL CHECK (environment IN ('production', 'staging')),
    checked_at timestamptz NOT NULL DEFAULT now(),
    up boolean NOT NULL,
    status integer,  -- null: no answer
    latency_ms real NOT NULL,
    problem text
);
CREATE INDEX monitor_checks_site ON monitor_checks (site_id, environment, checked_at DESC);
CREATE INDEX monitor_checks_age ON monitor_checks (checked_at);

CREATE TABLE monitor_states (
    site_id bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    environment text NOT NULL CHECK (environment IN ('production', 'staging')),
    up boolean NOT NULL,
    since timestamptz NOT NULL DEFAULT now(),
    failures integer NOT NULL DEFAULT 0,  -- checks in a row that failed
    last_checked_at timestamptz NOT NULL DEFAULT now(),
    certificate_not_after timestamptz,
    certificate_alerted_for timestamptz,  -- the not_after an expiry alert was sent for
    PRIMARY KEY (site_id, environment)
);
