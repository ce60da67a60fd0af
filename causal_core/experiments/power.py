"""Power of the decision gate: P(stats.decide confirms | a true effect, paired noise, n pairs,
the gate's alpha). Simulated through `decide` itself, so it can never drift from the gate's rules.
bench/bench_stats.py reports it on the records' noise; the loop uses it to size multi-arm cycles."""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import stats as sps

from causal_core.experiments.stats import decide


@lru_cache(maxsize=4096)
def gate_power(effect: float, pair_sd: float, n_pairs: int, mde: float = 0.002, alpha: float = 0.05,
               sims: int = 2000, seed: int = 0) -> float:
    """Paired differences d_i = effect + N(0, pair_sd^2), i = 1..n_pairs (seeded: the same inputs
    give the same answer, so a plan is reproducible)."""
    if n_pairs < 2:
        return 0.0
    d = effect + pair_sd * np.random.default_rng(seed).standard_normal((sims, n_pairs))
    with np.errstate(all="ignore"):
        p = sps.ttest_1samp(d, 0.0, axis=1).pvalue
    eff = d.mean(axis=1)
    return float(np.mean([decide(n_pairs=n_pairs, effect=float(e), p_adjusted=float(q), p_raw=float(q),
                                 mde=mde, alpha=alpha) == "confirmed" for e, q in zip(eff, p)]))


def pooled_pair_sd(sds: list[tuple[float, int]], default: float) -> float:
    """Pooled SD of paired differences from (sd, n_pairs) of earlier experiments, else `default`."""
    num = sum(s * s * (n - 1) for s, n in sds if s is not None and math.isfinite(s) and n > 1)
    den = sum(n - 1 for s, n in sds if s is not None and math.isfinite(s) and n > 1)
    return math.sqrt(num / den) if den else default
