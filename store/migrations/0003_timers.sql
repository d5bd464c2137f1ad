-- Deadlines, nudges and escalation: the task's priority and escalation level, the claim's
-- stalled flag, and the notifications outbox (each nudge or alert exactly once, by id).

ALTER TABLE tasks
    ADD COLUMN priority text NOT NULL DEFAULT 'normal',
    ADD COLUMN escalation_level integer NOT NULL DEFAULT 0;
CREATE INDEX tasks_overdue_idx ON tasks (due_at) WHERE status = 'open';

ALTER TABLE claims
    ADD COLUMN stalled boolean NOT NULL DEFAULT false,
    ADD COLUMN stalled_since timestamptz;
CREATE INDEX claims_stalled_idx ON claims (stalled_since) WHERE stalled;

CREATE TABLE notifications (
    notification_id text PRIMARY KEY,         -- deterministic: claim, task, kind and step
    claim_id        text        NOT NULL REFERENCES claims (claim_id),
    task_id         text,
    kind            text        NOT NULL,     -- reminder, escalation, stalled, statutory ...
    recipient       text,
    role            text,
    channel         text        NOT NULL,
    message         text        NOT NULL,
    payload         jsonb       NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text
);
CREATE INDEX notifications_claim_idx ON notifications (claim_id, created_at);
CREATE INDEX notifications_undelivered_idx ON notifications (created_at) WHERE delivered_at IS NULL;
