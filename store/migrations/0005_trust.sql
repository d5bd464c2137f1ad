-- Who may do what, and nothing done twice: users, insurer webhook receipts (replay
-- protection), and the answers to requests made with an Idempotency-Key.

CREATE TABLE users (
    user_id       text PRIMARY KEY,
    name          text        NOT NULL,
    role          text        NOT NULL,
    city          text,
    password_hash text        NOT NULL,
    active        boolean     NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_receipts (
    signature   text PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_receipts_received_idx ON webhook_receipts (received_at);

CREATE TABLE idempotency_keys (
    user_id      text        NOT NULL,
    key          text        NOT NULL,
    method       text        NOT NULL,
    path         text        NOT NULL,
    body_sha256  text        NOT NULL,
    status_code  integer,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
