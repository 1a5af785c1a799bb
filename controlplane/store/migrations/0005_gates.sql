-- Password gates per site and environment ("previews" covers every deploy preview of the site).
-- A gate that is turned off has no row.

CREATE TABLE gates (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    environment text NOT NULL CHECK (environment IN ('production', 'staging', 'previews')),
    mode text NOT NULL CHECK (mode IN ('basic', 'password')),
    -- password mode only: argon2id hash of the visitors' password.
    password_hash text,
    -- Random, new on every change: cookies and share links carry it, so a change revokes them.
    version text NOT NULL CHECK (version ~ '^[A-Za-z0-9_-]{16,64}$'),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, environment),
    CHECK ((mode = 'password') = (password_hash IS NOT NULL))
);

-- basic mode: the users Traefik's basicAuth checks, with bcrypt hashes (never the passwords).
CREATE TABLE gate_users (
    gate_id bigint NOT NULL REFERENCES gates (id) ON DELETE CASCADE,
    username text NOT NULL CHECK (username ~ '^[A-Za-z0-9._-]{1,64}$'),
    password_hash text NOT NULL CHECK (password_hash ~ '^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$'),
    PRIMARY KEY (gate_id, username)
);
