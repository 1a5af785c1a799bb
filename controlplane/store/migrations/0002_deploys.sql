-- Deploys, their build jobs and logs, and the record of every publish and rollback.

ALTER TABLE sites
    ADD COLUMN tier text NOT NULL DEFAULT 'free' CHECK (tier IN ('free', 'pro')),
    ADD COLUMN auto_publish boolean NOT NULL DEFAULT true,
    ADD COLUMN minify boolean NOT NULL DEFAULT true,
    ADD COLUMN allowed_flags text[] NOT NULL DEFAULT ARRAY['minify', 'precompress', 'root'];

CREATE TABLE deploys (
    id text PRIMARY KEY CHECK (id ~ '^[a-z0-9]{12}$'),
    site_id bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    environment text NOT NULL CHECK (environment IN ('production', 'staging')),
    status text NOT NULL CHECK (
        status IN ('pending', 'building', 'ready', 'live', 'failed', 'superseded')
    ),
    error text,
    created_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    published_at timestamptz,
    pinned boolean NOT NULL DEFAULT false,
    pruned_at timestamptz,
    artifact_bytes bigint NOT NULL,
    file_count integer,
    total_bytes bigint,
    flags jsonb NOT NULL DEFAULT '{}',
    report jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX deploys_site_created_idx ON deploys (site_id, created_at DESC);
-- At most one live deploy per site and environment: the database's half of the live pointer.
CREATE UNIQUE INDEX deploys_one_live_idx ON deploys (site_id, environment) WHERE status = 'live';

CREATE TABLE build_jobs (
    deploy_id text PRIMARY KEY REFERENCES deploys (id) ON DELETE CASCADE,
    state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done')),
    attempts integer NOT NULL DEFAULT 0,
    worker text,
    lease_expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX build_jobs_claimable_idx ON build_jobs (created_at) WHERE state <> 'done';

CREATE TABLE deploy_log_lines (
    deploy_id text NOT NULL REFERENCES deploys (id) ON DELETE CASCADE,
    line_no integer NOT NULL,
    logged_at timestamptz NOT NULL DEFAULT now(),
    text text NOT NULL,
    PRIMARY KEY (deploy_id, line_no)
);

CREATE TABLE publish_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    environment text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('publish', 'auto_publish', 'rollback')),
    from_deploy text,
    to_deploy text NOT NULL,
    actor_id bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX publish_events_site_idx ON publish_events (site_id, created_at DESC);
