-- Routing changes are numbered: every write that changes routing bumps `version` and notifies
-- wharf_routing; the one writer of Traefik's file records what it wrote, what Traefik's API
-- confirmed, and the last config it refused.

CREATE TABLE routing_progress (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint NOT NULL DEFAULT 0,
    written_version bigint NOT NULL DEFAULT 0,
    confirmed_version bigint NOT NULL DEFAULT 0,
    refused_version bigint NOT NULL DEFAULT 0,
    refused_reason text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO routing_progress DEFAULT VALUES;
