"""Pieces of bench/bench_search.py: the search space, the run cache, the methods, the metrics."""
