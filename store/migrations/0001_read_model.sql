-- The read model of claims. The workflows are the source of truth; these rows are their
-- projection, written idempotently (upsert by version, timeline by (claim_id, seq)).

CREATE TABLE claims (
    claim_id          text PRIMARY KEY,
    stage             text        NOT NULL,
    status            text        NOT NULL,
    closure           text,
    policyholder_name text        NOT NULL,
    policy_number     text        NOT NULL,
    city              text        NOT NULL,
    source            text        NOT NULL,
    claim_type        text        NOT NULL,
    consultant        text        NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    closed_at         timestamptz,
    version           integer     NOT NULL,
    snapshot          jsonb       NOT NULL
);
CREATE INDEX claims_created_idx ON claims (created_at DESC, claim_id DESC);
CREATE INDEX claims_stage_idx ON claims (stage, created_at DESC);
CREATE INDEX claims_city_idx ON claims (city, created_at DESC);
CREATE INDEX claims_consultant_idx ON claims (consultant, created_at DESC);

CREATE TABLE tasks (
    task_id      text PRIMARY KEY,
    claim_id     text        NOT NULL REFERENCES claims (claim_id),
    kind         text        NOT NULL,
    role         text        NOT NULL,
    assignee     text,
    status       text        NOT NULL,
    created_at   timestamptz NOT NULL,
    due_at       timestamptz,
    completed_at timestamptz,
    completed_by text,
    data         jsonb       NOT NULL DEFAULT '{}',
    result       jsonb,
    version      integer     NOT NULL
);
CREATE INDEX tasks_inbox_idx ON tasks (assignee, status, due_at);
CREATE INDEX tasks_role_idx ON tasks (role, status, due_at);
CREATE INDEX tasks_claim_idx ON tasks (claim_id);

CREATE TABLE timeline (
    claim_id text        NOT NULL REFERENCES claims (claim_id),
    seq      integer     NOT NULL,
    at       timestamptz NOT NULL,
    actor    text        NOT NULL,
    action   text        NOT NULL,
    details  jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (claim_id, seq)
);
