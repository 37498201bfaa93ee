"""Benchmarks of tradeimpact beside its peers (`nox -s bench`); not tests.

Each task runs the baseline(s) and tradeimpact in the same `nox -s bench` run, each in a fresh
subprocess (so peak resident memory is its own), a warm-up then several timed repetitions;
medians and ratios go to ``reports/benchmarks.md`` and ``reports/benchmarks.json``.
"""
