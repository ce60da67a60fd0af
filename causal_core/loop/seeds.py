"""Which seeds a test runs on: one place for the re-test rules the proposal and the multi-arm
planner share.

The trainer is deterministic for a fixed configuration and seed, so a re-test on the same seeds
would repeat the same runs exactly: a re-test gets fresh seeds, FRESH_SEED_STRIDE apart per
earlier test, and an intervention gets at most MAX_TESTS tests per loop.
"""
from __future__ import annotations

MAX_TESTS = 2
FRESH_SEED_STRIDE = 1000


def fresh_seeds(seeds: list[int], earlier_tests: int) -> list[int]:
    return [s + FRESH_SEED_STRIDE * earlier_tests for s in seeds]


def extend_seeds(seeds: list[int], n: int) -> list[int]:
    """`seeds`, with consecutive ones after the largest added (or cut) to n."""
    return (list(seeds) + [max(seeds) + i for i in range(1, n - len(seeds) + 1)])[:n]
