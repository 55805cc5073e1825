"""`python -m bench`: measure, write bench/results/latest.json and print a summary."""

from bench.run import main

main()
