-- The whole lifecycle: field agents, the checklist per claim, and the figures of a claim
-- that lists and filters need.

CREATE TABLE field_agents (
    agent_id   text PRIMARY KEY,
    name       text        NOT NULL,
    city       text        NOT NULL,
    phone      text,
    available  boolean     NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX field_agents_city_idx ON field_agents (lower(city)) WHERE available;

ALTER TABLE claims
    ADD COLUMN field_agent text,
    ADD COLUMN insurer_claim_reference text,
    ADD COLUMN expected_payout numeric(14, 2),
    ADD COLUMN awarded_amount numeric(14, 2);
CREATE INDEX claims_field_agent_idx ON claims (field_agent, created_at DESC);
CREATE INDEX claims_insurer_reference_idx ON claims (insurer_claim_reference)
    WHERE insurer_claim_reference IS NOT NULL;

CREATE TABLE checklist_items (
    claim_id         text    NOT NULL REFERENCES claims (claim_id),
    code             text    NOT NULL,
    position         integer NOT NULL,
    title_en         text    NOT NULL,
    title_zh         text    NOT NULL,
    hospital_document boolean NOT NULL,
    status           text    NOT NULL,
    rejection_reason text,
    note             text,
    version          integer NOT NULL,
    PRIMARY KEY (claim_id, code)
);
