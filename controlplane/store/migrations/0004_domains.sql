-- Custom domains attached to a site's environment, with the state of their ownership check.

CREATE TABLE domains (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    -- ASCII (IDNA) and lower case, no trailing dot; "*." only as the whole first label.
    hostname text NOT NULL UNIQUE CHECK (
        length(hostname) <= 253
        AND hostname ~ '^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'
    ),
    environment text NOT NULL CHECK (environment IN ('production', 'staging')),
    -- Random; names the file the edge serves and the TXT value, so it is unique as well.
    token text NOT NULL UNIQUE CHECK (token ~ '^[A-Za-z0-9_-]{16,128}$'),
    verified_at timestamptz,
    verified_by text CHECK (verified_by IN ('dns', 'http', 'admin')),
    last_checked_at timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((verified_at IS NULL) = (verified_by IS NULL))
);
CREATE INDEX domains_site_id_idx ON domains (site_id);
