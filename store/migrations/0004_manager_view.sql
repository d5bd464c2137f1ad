-- The manager's view: search over every claim (each filter with the default order, newest
-- first), the figures managers watch, and the saved views a team shares.

-- q: a case-insensitive substring of the policyholder's name or the policy number. Trigram
-- GIN indexes answer `lower(col) LIKE '%...%'` without reading every claim.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX claims_policyholder_trgm_idx ON claims USING gin (lower(policyholder_name) gin_trgm_ops);
CREATE INDEX claims_policy_number_trgm_idx ON claims USING gin (lower(policy_number) gin_trgm_ops);

-- The other order a list can be read in (created_at has claims_created_idx).
CREATE INDEX claims_updated_idx ON claims (updated_at DESC, claim_id DESC);

-- Equality filters not covered yet (stage, city, consultant and field_agent already are).
CREATE INDEX claims_status_created_idx ON claims (status, created_at DESC, claim_id DESC);
CREATE INDEX claims_source_created_idx ON claims (source, created_at DESC, claim_id DESC);
CREATE INDEX claims_type_created_idx ON claims (claim_type, created_at DESC, claim_id DESC);

-- Stalled claims are few: a partial index in list order (claims_stalled_idx is by stall time).
CREATE INDEX claims_stalled_created_idx ON claims (created_at DESC, claim_id DESC) WHERE stalled;

-- Overdue: "has an open task past its due time" is probed per claim; the same partial
-- index also lists the overdue tasks' claims when those are the few.
CREATE INDEX tasks_open_claim_due_idx ON tasks (claim_id, due_at) WHERE status = 'open';

-- Figures over a time range: tasks completed and claims closed in it.
CREATE INDEX tasks_completed_idx ON tasks (completed_at) WHERE status = 'completed';
CREATE INDEX claims_closed_idx ON claims (closed_at) WHERE closed_at IS NOT NULL;

-- Saved views: a named set of list filters shared by a team. The filters are the API's
-- claim query (validated there), stored as given.
CREATE TABLE saved_views (
    view_id    text PRIMARY KEY,
    team       text        NOT NULL,
    name       text        NOT NULL,
    filters    jsonb       NOT NULL DEFAULT '{}',
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (team, name)
);
