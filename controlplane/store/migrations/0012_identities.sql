-- Sign-in with OpenID Connect providers and GitHub: a provider's identity (issuer, subject)
-- belongs to one user; an account a provider created has no password.
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;

CREATE TABLE identities (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider text NOT NULL CHECK (provider IN ('oidc', 'google', 'github')),
    -- The provider's issuer URL (GitHub: its web address); the subject is stable within it.
    issuer text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 2048),
    subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    -- The email the provider gave at the last sign-in, shown to the user.
    email text,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (issuer, subject)
);
CREATE INDEX identities_user ON identities (user_id);

-- The install's sign-in policy, one row: with a break-glass admin set, password sign-in is
-- turned off for everyone else (they sign in with a provider).
CREATE TABLE sign_in_policy (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    break_glass_user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sign_in_policy DEFAULT VALUES;

-- oauth gates: visitors sign in with a provider and pass when their verified email, its domain
-- (@example.com) or a GitHub organisation (github:org) is on the gate's list.
ALTER TABLE gates DROP CONSTRAINT gates_mode_check;
ALTER TABLE gates ADD CONSTRAINT gates_mode_check CHECK (mode IN ('basic', 'password', 'oauth'));
ALTER TABLE gates ADD COLUMN allowed text[] NOT NULL DEFAULT '{}';
ALTER TABLE gates ADD CONSTRAINT gates_allowed_check CHECK ((mode = 'oauth') = (cardinality(allowed) > 0));
