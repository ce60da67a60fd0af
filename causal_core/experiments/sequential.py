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
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
from scipy import stats as sps

from causal_core.experiments.results import CONDITIONS, RunResult
from causal_core.experiments.sequential_level import EFFICACY_FROM, look_alpha
from causal_core.experiments.stats import decide

__all__ = ["EFFICACY_FROM", "look_alpha", "conditional_power", "sequential_step", "run_sequential"]

FUTILITY_CP = 0.10
DESIGN_EFFECT_MDES = 2.0       # the alternative the futility rule is generous to
Step = Literal["continue", "efficacy", "futility", "final"]


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


def run_sequential(config, out_dir: Path, run_pairs: Callable[..., list[RunResult]], resume: bool = True):
    """Run pairs (with the runner's `run_pairs`) until `sequential_step` stops; returns
    (runs, why it stopped early or None)."""
    seeds = list(config.seeds)
    runs = run_pairs(config, seeds[:config.min_pairs], out_dir, resume)
    used = config.min_pairs
    while True:
        lost = {c: sum(1 for r in runs if r.condition == c and not r.complete) for c in CONDITIONS}
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
