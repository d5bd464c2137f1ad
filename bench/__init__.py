"""Benchmarks of claimflow on one machine: `claimflow bench` / `make bench` / `python -m bench`.

One module per part: lifecycle throughput (`lifecycle`), the bare Temporal SDK baseline
(`baseline`), the read model at scale (`read_model`), long waits (`idle`), start-up
(`startup`) and scale-out on one box (`scale_out`). `stack` starts the real processes,
`client` is the one place HTTP requests are made, `report` prints tables and the JSON summary.
"""
