"""The claim workflow as it ran before claims continued as new (type "ClaimCase").

Frozen: claims opened under it finish under it, and its recorded histories replay against
it (tests/test_replay.py). New claims run `workflows.claim.ClaimWorkflow` (type "Claim").
Change nothing here but what keeps it importing.
"""
