-- One claim per policy and incident. Opening a claim first takes its incident here (a hash of
-- the policy number and the incident's date: no personal data), in one statement, so ten
-- openings at once for one incident make one claim and nine answers of 409 naming it. A
-- caller who confirms a second claim for the same incident opens it without this row.
CREATE TABLE claim_openings (
    incident_key text PRIMARY KEY,
    claim_id     text        NOT NULL,
    opened_at    timestamptz NOT NULL DEFAULT now()
);
