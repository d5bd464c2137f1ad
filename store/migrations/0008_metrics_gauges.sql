-- The metrics' stalled-claims gauge counts from an index of the few claims it counts, not
-- from every open claim's row (store/gauges.py, refreshed every CLAIMFLOW_METRICS_REFRESH).
CREATE INDEX claims_open_stalled_idx ON claims (claim_id) WHERE status = 'open' AND stalled;
