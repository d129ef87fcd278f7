"""Benchmarks and the chaos run (run them as modules: `python -m bench.outbound`, see bench/README.md)."""
