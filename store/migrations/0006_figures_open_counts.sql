-- The manager's figures count open claims per stage and per city. Without these, each count
-- read every claim row (snapshots included): ~50 ms apiece at 100,000 claims; with them an
-- index-only scan of the open claims: ~6 ms (BENCHMARKS.md, part 3).
CREATE INDEX claims_open_stage_idx ON claims (stage) WHERE status = 'open';
CREATE INDEX claims_open_city_idx ON claims (city) WHERE status = 'open';
