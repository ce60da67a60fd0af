"""The per-look significance level of the group-sequential design (experiments/sequential.py).

Its own module because both the design (sequential.py, which asks the gate) and the gate's
analysis of a finished sequential experiment (stats.py) need it.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import stats as sps

# No efficacy stop before 3 pairs: a t test with 1 degree of freedom spends alpha for nothing.
EFFICACY_FROM = 3


@lru_cache(maxsize=64)
def look_alpha(min_pairs: int, max_pairs: int, alpha: float = 0.05, n_sim: int = 200_000, seed: int = 0) -> float:
    """Pocock-type constant two-sided level per look: P_H0(t_n < -crit at any look) = alpha/2.

    The paired t statistic is pivotal under H0 (normal differences), so the level does not
    depend on the noise; it is calibrated once by seeded Monte Carlo and cached.
    """
    min_pairs = max(min_pairs, EFFICACY_FROM)
    if max_pairs <= min_pairs:
        return alpha
    rng = np.random.default_rng(seed)
    d = rng.standard_normal((n_sim, max_pairs))
    n = np.arange(1, max_pairs + 1)
    cs, cs2 = np.cumsum(d, axis=1), np.cumsum(d * d, axis=1)
    looks = slice(min_pairs - 1, max_pairs)
    mean = cs[:, looks] / n[looks]
    var = (cs2[:, looks] - n[looks] * mean**2) / (n[looks] - 1)
    t = mean / np.sqrt(var / n[looks])
    p_one = sps.t.cdf(t, df=n[looks] - 1)          # lower tail: evidence of improvement
    min_p = p_one.min(axis=1)
    return float(2 * np.quantile(min_p, alpha / 2))
