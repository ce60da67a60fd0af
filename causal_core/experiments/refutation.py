"""Refutation of a confirmed effect, in the spirit of DoWhy's refuters, cheaply: from the
runs the experiment already has where possible.

- placebo: treatment and control labels swapped within every subset of the seed pairs
  (all 2^n relabelings up to n = 12, else 4,096 random ones). The effect must vanish under
  the placebo labels: the observed mean must be extreme among them, i.e. the sign-flip
  permutation p <= max(alpha, 2 / 2^n) (with 3 pairs no p below 0.25 exists, so there the
  observed labeling must beat every relabeling: all pairs agree in sign).
- leave-one-seed-out: the effect must hold on every subset without one seed: each subset
  mean must still clear the gate's effect-size rule (<= -MDE). Catches one seed carrying a
  small real effect over the MDE (an outlier seed, a diverged control run): the only way a
  single outlier fools the paired t-test, which otherwise loses significance to its variance.
- replication: fresh seeds, when the budget allows (run by the loop). Holds when the
  replication's mean is at least REPLICATION_MDE_SHARE of the MDE in the right direction
  and the pooled (original + replication) paired t-test still clears the gate.

A failed refutation downgrades `confirmed` to `suggestive`, with the reason in the notes.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
from pydantic import BaseModel, Field
from scipy import stats as sps

from causal_core.experiments.stats import Analysis, decide

LOO_MDE_SHARE = 1.0         # each subset must still clear the gate's effect-size rule
REPLICATION_MDE_SHARE = 0.5
MAX_EXACT_PAIRS = 12


class RefuterResult(BaseModel):
    name: str
    passed: bool
    detail: str
    figures: dict[str, float] = Field(default_factory=dict)


class RefutationReport(BaseModel):
    checked: bool                       # False when the decision was not "confirmed"
    results: list[RefuterResult] = Field(default_factory=list)
    downgraded: bool = False
    reason: str | None = None

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


def _p_t(d: np.ndarray) -> float:
    if d.size < 2 or np.std(d) == 0:
        return 1.0
    return float(sps.ttest_1samp(d, 0.0).pvalue)


def _flip_masks(n: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of +1/-1: relabelings that swap a proper non-empty subset of pairs."""
    if n <= MAX_EXACT_PAIRS:
        rows = [m for m in itertools.product((1.0, -1.0), repeat=n) if 0 < m.count(-1.0) < n]
        return np.array(rows)
    rows = rng.choice([1.0, -1.0], size=(4096, n))
    keep = (rows == -1).sum(1)
    return rows[(keep > 0) & (keep < n)]


def placebo(a: Analysis, rng: np.random.Generator | None = None) -> RefuterResult:
    d = np.asarray(a.diffs, float)
    masks = _flip_masks(d.size, rng or np.random.default_rng(0))
    # Exact sign-flip permutation p over every relabeling (identity and full swap included).
    every = np.vstack([masks, np.ones((1, d.size)), -np.ones((1, d.size))])
    perm_p = float(np.mean(np.abs((every * d).mean(1)) >= abs(d.mean()) - 1e-15))
    floor = 2.0 / 2 ** d.size if d.size <= MAX_EXACT_PAIRS else 0.0
    level = max(a.alpha, floor)     # 3 pairs cannot reach p < 0.05: then no relabeling may beat the observed one
    placebo_means = (masks * d).mean(1)
    ok = perm_p <= level + 1e-12
    return RefuterResult(name="placebo", passed=ok,
                         figures={"permutation_p": perm_p, "level": level, "relabelings": float(len(masks)),
                                  "mean_placebo_effect": float(placebo_means.mean()),
                                  "mean_abs_placebo_effect": float(np.abs(placebo_means).mean())},
                         detail=f"sign-flip permutation p = {perm_p:.3f} over {len(every)} relabelings "
                                f"(must be <= {level:.3f}); mean |placebo effect| "
                                f"{float(np.abs(placebo_means).mean()):.5f} vs observed {abs(float(d.mean())):.5f}")


def leave_one_seed_out(a: Analysis) -> RefuterResult:
    d = np.asarray(a.diffs, float)
    need = -LOO_MDE_SHARE * a.mde_bpb
    means = [float(np.delete(d, i).mean()) for i in range(d.size)] if d.size > 1 else []
    bad = [(s, m) for s, m in zip(a.seeds, means) if not (m < 0 and m <= need)]
    ok = bool(means) and not bad
    worst = max(means) if means else float("nan")
    detail = (f"every leave-one-seed-out mean <= {need:+.4f}" if ok else
              "without seed " + ", ".join(f"{s} the effect is {m:+.5f}" for s, m in bad) + f" (needs <= {need:+.4f})")
    return RefuterResult(name="leave_one_seed_out", passed=ok, detail=detail, figures={"worst_subset_mean": worst})


def replication(a: Analysis, rep: Analysis) -> RefuterResult:
    need = -REPLICATION_MDE_SHARE * a.mde_bpb
    pooled = np.concatenate([np.asarray(a.diffs, float), np.asarray(rep.diffs, float)])
    p_pooled = min(1.0, _p_t(pooled) * max(1, a.family_size))
    pooled_decision = decide(n_pairs=pooled.size, effect=float(pooled.mean()), p_adjusted=p_pooled,
                             p_raw=p_pooled, mde=a.mde_bpb, alpha=a.alpha)
    rep_effect = rep.effect_bpb if rep.effect_bpb is not None else math.nan
    ok = rep.n_pairs >= 2 and rep_effect <= need and pooled_decision == "confirmed"
    return RefuterResult(name="replication", passed=bool(ok),
                         figures={"replication_effect": rep_effect, "replication_pairs": float(rep.n_pairs),
                                  "pooled_p": p_pooled},
                         detail=f"fresh seeds {rep.seeds}: effect {rep_effect:+.5f} (needs <= {need:+.4f}); "
                                f"pooled over {pooled.size} pairs: p = {p_pooled:.4g} -> {pooled_decision}")


def refute(a: Analysis, rep: Analysis | None = None) -> RefutationReport:
    """Run the refuters on a confirmed analysis (others are left as they are)."""
    if a.decision != "confirmed":
        return RefutationReport(checked=False)
    results = [placebo(a), leave_one_seed_out(a)]
    if rep is not None:
        results.append(replication(a, rep))
    report = RefutationReport(checked=True, results=results)
    failed = [r for r in results if not r.passed]
    if failed:
        report.downgraded = True
        report.reason = "; ".join(f"{r.name} failed: {r.detail}" for r in failed)
    return report


def apply(a: Analysis, report: RefutationReport) -> Analysis:
    """The analysis with the refutation's verdict: confirmed -> suggestive when a refuter failed."""
    if report.downgraded and a.decision == "confirmed":
        a = a.model_copy(deep=True)
        a.decision = "suggestive"
        a.notes.append(f"downgraded from confirmed by refutation: {report.reason}")
    return a
