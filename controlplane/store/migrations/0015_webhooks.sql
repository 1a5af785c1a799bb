-- Webhooks of a site, and their delivery log: each alert is one row per webhook that wants it,
-- written in the transaction that raises it, then sent (and retried) by the delivery loop.

CREATE TABLE webhooks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    url text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    events text[] NOT NULL CHECK (cardinality(events) > 0),
    -- The signing secret, Fernet-sealed under a key derived from the secret key; shown once.
    secret_sealed text NOT NULL,
    created_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_site_id_idx ON webhooks (site_id);

CREATE TABLE webhook_deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event text NOT NULL,
    -- One alert's id, the same in every delivery of it (receivers deduplicate on it).
    event_id text NOT NULL,
    -- The exact bytes signed and sent, the same on every attempt.
    body text NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- When a pending delivery is due; while an attempt runs, when its lease ends.
    next_attempt_at timestamptz DEFAULT now(),
    -- Who holds the running attempt: only that claim may record its outcome.
    claim text,
    last_attempt_at timestamptz,
    response_status integer,
    last_error text,
    delivered_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (webhook_id, id DESC);
