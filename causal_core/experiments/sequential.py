"""Sequential mode: run seed pairs one at a time and stop once the decision is settled.

Looks happen after min_pairs complete pairs and after every further pair, up to
len(config.seeds). At each look:
  * efficacy: the gate (`stats.decide`) says confirmed with the look's p compared with a
    calibrated per-look level (`look_alpha`), so stopping early keeps the false-confirm rate
    of the fixed design;
  * futility: the conditional power of reaching `confirmed` at the last look, if the
    remaining pairs had the design effect (2 x MDE improvement) and the current spread, is
    below FUTILITY_CP. Futility only turns would-be confirms into nulls, so it can only
    lower the false-confirm rate.
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from scipy import stats as sps

from causal_core.experiments.stats import decide

FUTILITY_CP = 0.10
# No efficacy stop before 3 pairs: a t test with 1 degree of freedom spends alpha for nothing.
EFFICACY_FROM = 3
DESIGN_EFFECT_MDES = 2.0       # the alternative the futility rule is generous to
Step = Literal["continue", "efficacy", "futility", "final"]


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


def conditional_power(diffs: np.ndarray, max_pairs: int, mde: float, alpha_look: float) -> float:
    """P(confirm at the last look | data so far, remaining pairs ~ N(-2*MDE, sd^2)). Normal approx."""
    n, m = diffs.size, max_pairs - diffs.size
    if m <= 0:
        return float("nan")
    sd = max(float(diffs.std(ddof=1)), 1e-12)
    crit = sps.t.ppf(1 - alpha_look / 2, max_pairs - 1)
    thr = -max(mde, crit * sd / math.sqrt(max_pairs))       # final mean needed to confirm
    need = (max_pairs * thr - n * diffs.mean()) / m           # mean the remaining pairs must reach
    return float(sps.norm.cdf((need + DESIGN_EFFECT_MDES * mde) / (sd / math.sqrt(m))))


def sequential_step(diffs, max_pairs: int, mde: float = 0.002, alpha: float = 0.05, min_pairs: int = 2) -> Step:
    """What to do after a look with these paired differences (treatment - control)."""
    d = np.asarray(diffs, float)
    if d.size < min_pairs:
        return "continue"
    if d.size >= max_pairs:
        return "final"
    a_look = look_alpha(min_pairs, max_pairs, alpha)
    p = float(sps.ttest_rel(d, np.zeros_like(d)).pvalue) if d.std() > 0 else float("nan")
    p_gate = min(1.0, p * alpha / a_look) if math.isfinite(p) else p
    if d.size >= EFFICACY_FROM and decide(n_pairs=d.size, effect=float(d.mean()), p_adjusted=p_gate, p_raw=p, mde=mde, alpha=alpha) == "confirmed":
        return "efficacy"
    if conditional_power(d, max_pairs, mde, a_look) < FUTILITY_CP:
        return "futility"
    return "continue"


def run_sequential(config, out_dir: Path, resume: bool = True):
    """Run pairs until `sequential_step` stops; returns (runs, why it stopped early or None)."""
    from causal_core.experiments.runner import run_pairs
    seeds = list(config.seeds)
    runs = run_pairs(config, seeds[:config.min_pairs], out_dir, resume)
    used = config.min_pairs
    while True:
        lost = {c: sum(1 for r in runs if r.condition == c and not r.complete) for c in ("control", "treatment")}
        if max(lost.values()) >= 2:        # the condition has failed; more seeds cannot rescue the gate
            return runs, "condition failed" if used < len(seeds) else None
        c = {r.seed: r.val_bpb for r in runs if r.condition == "control" and r.complete}
        t = {r.seed: r.val_bpb for r in runs if r.condition == "treatment" and r.complete}
        diffs = [t[s] - c[s] for s in seeds[:used] if s in c and s in t]
        step = sequential_step(diffs, len(seeds), config.mde_bpb, config.alpha, config.min_pairs)
        if step in ("efficacy", "futility") or used >= len(seeds):
            return runs, (step if used < len(seeds) else None)
        runs += run_pairs(config, [seeds[used]], out_dir, resume)
        used += 1
