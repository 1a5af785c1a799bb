-- Admin UI sessions: the cookie holds a random token, the table its SHA-256; signing out, or
-- changing the password, deletes the rows and so ends the sessions everywhere.

CREATE TABLE ui_sessions (
    token_hash bytea PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ui_sessions_user ON ui_sessions (user_id);
