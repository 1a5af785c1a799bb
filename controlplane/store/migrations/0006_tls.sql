-- TLS: the base domain's strategy (one row), a site's defaults, a custom domain's own choice;
-- certificates Wharf issued or was given (keys Fernet-encrypted); the install's ACME accounts.

CREATE TABLE base_tls (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    strategy text NOT NULL DEFAULT 'none'
        CHECK (strategy IN ('none', 'traefik', 'wharf', 'custom', 'cloudflare')),
    -- NULL: redirect HTTP to HTTPS whenever the base domain has a certificate.
    redirect_https boolean,
    hsts_max_age integer NOT NULL DEFAULT 0 CHECK (hsts_max_age BETWEEN 0 AND 63072000),
    -- The wharf strategy's issuance state: failures so far, when to try next, the last error.
    attempts integer NOT NULL DEFAULT 0,
    retry_at timestamptz,
    last_error text
);
INSERT INTO base_tls DEFAULT VALUES;

-- A site without a row uses the defaults (see controlplane/tls.py).
CREATE TABLE site_tls (
    site_id bigint PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    strategy text CHECK (strategy IN ('none', 'traefik', 'wharf', 'custom', 'cloudflare')),
    redirect_https boolean,
    hsts_max_age integer CHECK (hsts_max_age BETWEEN 0 AND 63072000)
);

-- NULL strategy: the site's.
ALTER TABLE domains
    ADD COLUMN tls_strategy text
        CHECK (tls_strategy IN ('none', 'traefik', 'wharf', 'custom', 'cloudflare')),
    ADD COLUMN tls_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN tls_retry_at timestamptz,
    ADD COLUMN tls_error text;

-- Owner: the base domain (both NULL), a site's upload (site_id), or one custom domain.
CREATE TABLE certificates (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id bigint REFERENCES sites (id) ON DELETE CASCADE,
    domain_id bigint REFERENCES domains (id) ON DELETE CASCADE,
    source text NOT NULL CHECK (source IN ('acme', 'upload')),
    names text[] NOT NULL,
    cert_pem text NOT NULL,
    chain_pem text NOT NULL,
    key_encrypted text NOT NULL,
    issuer text NOT NULL,
    not_before timestamptz NOT NULL,
    not_after timestamptz NOT NULL,
    fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (site_id IS NULL OR domain_id IS NULL),
    UNIQUE NULLS NOT DISTINCT (site_id, domain_id)
);

-- One account per ACME directory, kept across restarts.
CREATE TABLE acme_accounts (
    directory_url text PRIMARY KEY,
    key_encrypted text NOT NULL,
    account_url text,
    created_at timestamptz NOT NULL DEFAULT now()
);
