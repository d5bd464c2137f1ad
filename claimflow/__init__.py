"""claimflow: durable orchestration of assisted insurance claims."""
