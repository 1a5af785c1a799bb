-- Canaries: a deploy served to a share of an environment's visitors beside the live one (the
-- split itself is a file beside the live symlink, which the edge reads). One runs per
-- environment at a time; each ends promoted (made live), aborted, or rolled back, with why.
CREATE TABLE canaries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    environment text NOT NULL CHECK (environment IN ('production', 'staging')),
    deploy_id text NOT NULL REFERENCES deploys (id) ON DELETE CASCADE,
    stable_deploy_id text NOT NULL REFERENCES deploys (id) ON DELETE CASCADE,
    percent integer NOT NULL CHECK (percent BETWEEN 1 AND 99),
    state text NOT NULL DEFAULT 'running'
        CHECK (state IN ('running', 'promoted', 'aborted', 'rolled_back')),
    actor_id bigint REFERENCES users (id) ON DELETE SET NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    reason text
);
CREATE UNIQUE INDEX canaries_running ON canaries (site_id, environment) WHERE state = 'running';
