-- A claim whose workflow stopped without finishing its lifecycle (failed, terminated, timed
-- out, canceled) can never move again: nothing in Temporal will project it. The health check
-- (claimflow/health.py) marks its row here, from Temporal's visibility, so that the read
-- model no longer shows it as a claim being worked. The claim's status (open/closed: its
-- lifecycle) is left as the workflow last projected it; these columns say why it stopped.
--   workflow_status    NULL while the workflow runs or has completed; otherwise 'failed',
--                      'terminated', 'timed_out' or 'canceled'
--   workflow_failure   a short reason: the failure's type and first line, or the
--                      termination reason (first line, at most 200 characters)
--   workflow_failed_at when the workflow's latest run closed
ALTER TABLE claims
    ADD COLUMN workflow_status text
        CHECK (workflow_status IN ('failed', 'terminated', 'timed_out', 'canceled')),
    ADD COLUMN workflow_failure text,
    ADD COLUMN workflow_failed_at timestamptz;

-- Broken claims are few: the manager's `broken=true` list in its default order, and the
-- health check's look-up of what it has marked.
CREATE INDEX claims_broken_created_idx ON claims (created_at DESC, claim_id DESC)
    WHERE workflow_status IS NOT NULL;
