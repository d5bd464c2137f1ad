"""`python -m bench`: the same as `claimflow bench`."""

from bench.run import main

main()
