"""Paired statistics of an experiment and THE decision gate (`decide`, the only place its rules live).

Effects are treatment minus control in val_bpb: negative = the intervention improves.
Pairs are matched by seed; only seeds where both conditions completed count.
Rules and reasoning: docs/experiments.md.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from causal_core.atomic import atomic_write_json
from causal_core.experiments.results import RawRuns
from causal_core.experiments.sequential_level import look_alpha
from causal_core.experiments.budget import BudgetSummary

Decision = Literal["confirmed", "suggestive", "null", "failed"]
BOOT_METHOD = "percentile"


def decide(*, n_pairs: int, effect: float | None, p_adjusted: float | None, p_raw: float | None,
           mde: float = 0.002, alpha: float = 0.05, condition_failed: bool = False) -> Decision:
    """The decision gate. `effect` = mean paired difference (treatment - control, val_bpb).

    failed:     a condition failed (2+ seeds lost), or fewer than 2 complete pairs, or no effect.
    confirmed:  effect <= -mde AND Holm-adjusted two-sided paired-t p < alpha.
    suggestive: not confirmed, effect < 0 AND (raw p < alpha OR effect <= -mde).
    null:       everything else (no improvement shown; includes significant harm).
    A p-value that is NaN (zero variance of the differences) counts as 1.
    In the loop `alpha` is the cycle's online level (`gate_alpha(online_level(...))`, LORD++ below),
    so the tenth test of a long loop is held to the standard its past earned.
    """
    if condition_failed or n_pairs < 2 or effect is None or not math.isfinite(effect):
        return "failed"
    p_adj = 1.0 if p_adjusted is None or not math.isfinite(p_adjusted) else p_adjusted
    p = 1.0 if p_raw is None or not math.isfinite(p_raw) else p_raw
    if effect <= -mde and p_adj < alpha:
        return "confirmed"
    if effect < 0 and (p < alpha or effect <= -mde):
        return "suggestive"
    return "null"


class Analysis(BaseModel):
    experiment_id: str = ""
    intervention: str = ""
    platform: str = "mlx-cpu"
    cycle: int | None = None
    n_pairs: int
    n_seeds_planned: int = 0
    seeds: list[int] = Field(default_factory=list)          # seeds of the complete pairs
    control_bpb: list[float] = Field(default_factory=list)  # aligned with `seeds`
    treatment_bpb: list[float] = Field(default_factory=list)
    diffs: list[float] = Field(default_factory=list)        # treatment - control per pair
    effect_bpb: float | None = None                         # mean paired difference
    sd_diff: float | None = None
    se_diff: float | None = None
    t_stat: float | None = None
    df: int | None = None
    ci_t: tuple[float, float] | None = None                 # 95% paired t interval (the gate's)
    ci_boot: tuple[float, float] | None = None              # seeded bootstrap interval (reported only)
    boot_method: str = BOOT_METHOD
    p_value: float | None = None                            # two-sided paired t-test (scipy ttest_rel)
    p_gate: float | None = None                             # p the gate uses before Holm (= p_value unless sequential)
    p_adjusted: float | None = None                         # Holm over the cycle's family
    family_size: int = 1
    mde_bpb: float = 0.002
    alpha: float = 0.05
    reduced_power: bool = False
    condition_status: dict[str, str] = Field(default_factory=dict)
    decision: Decision = "failed"
    notes: list[str] = Field(default_factory=list)
    budget_mode: Literal["time", "steps"] = "steps"          # what the decision holds for (absent = steps)
    budget: BudgetSummary | None = None                       # time budget, steps and ms/step per arm

    def redecide(self) -> "Analysis":
        failed = any(s == "failed" for s in self.condition_status.values())
        self.decision = decide(n_pairs=self.n_pairs, effect=self.effect_bpb, p_adjusted=self.p_adjusted,
                               p_raw=self.p_value, mde=self.mde_bpb, alpha=self.alpha, condition_failed=failed)
        return self


def paired_stats(control: np.ndarray, treatment: np.ndarray, n_boot: int = 9999, seed: int = 0,
                 confidence: float = 0.95) -> dict:
    """Mean difference, paired t-test + t interval, seeded percentile bootstrap interval."""
    d = np.asarray(treatment, float) - np.asarray(control, float)
    n = d.size
    out: dict = {"n_pairs": n, "diffs": d.tolist(), "effect_bpb": float(d.mean()) if n else None}
    if n < 2:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # zero variance -> NaN, handled by the gate
        res = sps.ttest_rel(treatment, control)
        ci = res.confidence_interval(confidence)
    sd = float(d.std(ddof=1))
    out.update(sd_diff=sd, se_diff=sd / math.sqrt(n), t_stat=float(res.statistic), df=int(res.df),
               p_value=float(res.pvalue), ci_t=(float(ci.low), float(ci.high)))
    if n_boot and sd > 0:
        b = sps.bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=n_boot,
                          method=BOOT_METHOD, rng=np.random.default_rng(seed))
        out["ci_boot"] = (float(b.confidence_interval.low), float(b.confidence_interval.high))
    return out


def analyze(raw_runs, *, mde: float | None = None, alpha: float | None = None, n_boot: int = 9999,
            seed: int = 0) -> Analysis:
    """Analysis of one experiment as a family of one (use `holm` to adjust across a cycle)."""
    from causal_core.experiments.analysis_inputs import check_options, check_scores
    check_options(mde, alpha, n_boot)
    raw = raw_runs if isinstance(raw_runs, RawRuns) else RawRuns.load(raw_runs)
    cfg = raw.config
    c, t = raw.scores("control"), raw.scores("treatment")
    check_scores({"control": c, "treatment": t})
    seeds = [s for s in cfg.seeds if s in c and s in t] + sorted(set(c) & set(t) - set(cfg.seeds))
    cs, ts = np.array([c[s] for s in seeds]), np.array([t[s] for s in seeds])
    st = paired_stats(cs, ts, n_boot=n_boot, seed=seed)
    a = Analysis(experiment_id=raw.experiment_id, intervention=raw.intervention, platform=raw.platform,
                 cycle=cfg.cycle, n_seeds_planned=len(cfg.seeds), seeds=seeds, control_bpb=cs.tolist(),
                 treatment_bpb=ts.tolist(), mde_bpb=mde if mde is not None else cfg.mde_bpb,
                 alpha=alpha if alpha is not None else cfg.alpha,
                 condition_status={k: v.status for k, v in raw.conditions.items()},
                 reduced_power=any(v.status == "reduced_power" for v in raw.conditions.values()), **st)
    a.p_gate = a.p_value
    a.budget_mode, a.budget = cfg.budget_mode, raw.budget
    if raw.budget is not None:
        a.notes.append("decided under " + raw.budget.describe())
    if cfg.sequential and a.p_value is not None:
        # The last look of a group-sequential design is compared with its calibrated level.
        nominal = look_alpha(cfg.min_pairs, len(cfg.seeds), a.alpha)
        a.p_gate = min(1.0, a.p_value * a.alpha / nominal)
        a.notes.append(f"sequential design: per-look level {nominal:.4g}; p_gate = p * alpha / level")
    if a.n_pairs < 3:
        a.notes.append(f"only {a.n_pairs} complete pairs")
    if a.n_pairs and a.n_pairs <= 5 and a.ci_boot:
        a.notes.append("bootstrap interval from <= 5 pairs under-covers (few distinct resamples); the gate uses the t test")
    a.p_adjusted = a.p_gate
    return a.redecide()


def holm(analyses: list[Analysis]) -> list[Analysis]:
    """Holm-Bonferroni across all tests of a cycle; decisions are re-taken with adjusted p."""
    idx = [i for i, a in enumerate(analyses) if a.p_gate is not None and math.isfinite(a.p_gate)]
    if idx:
        _, adj, _, _ = multipletests([analyses[i].p_gate for i in idx], alpha=analyses[idx[0]].alpha, method="holm")
        for i, p in zip(idx, adj):
            analyses[i].p_adjusted = float(p)
    for a in analyses:
        a.family_size = len(idx)
        a.redecide()
    return analyses


# --- Error control over the loop's life: LORD++ (Ramdas et al. 2017), one test per cycle -------------
# Why LORD++: it controls the FDR at any time under independence (each cycle runs on its own seeds),
# and a confirmation earns wealth back, so a loop that keeps finding real effects keeps testing at a
# useful level, while a run of nulls drains it (alpha-spending would only drain). SAFFRON's (1 - lambda)
# factor halves the first levels, which a loop of 5-20 tests cannot afford. Reasoning: docs/experiments.md.
LORD_GAMMA_EXPONENT = 1.6      # gamma_j proportional to j^-1.6: most of the wealth on the first ~10 tests
# With a known horizon N (the loop's run budget or max_cycles bounds its number of tests), this
# share of the spending is spread evenly over tests 1..N and the rest follows the j^-1.6 tail (so a
# loop that outlives N can still test). Measured reason (docs/search_benchmark.md): with j^-1.6
# alone the 7th test of a 48-run loop got a two-sided gate of 0.00097, and a 3-pair replication of
# wider_mlp at p 0.0073 stayed "suggestive"; the horizon is what a fixed budget already tells us.
LORD_HORIZON_SHARE = 0.9


def lord_gamma(j: int, horizon: int | None = None) -> float:
    """The spending sequence (non-increasing, sums to 1 over j >= 1); with `horizon`, front-loaded evenly
    over the first `horizon` tests."""
    if j < 1:
        return 0.0
    tail = float(j ** -LORD_GAMMA_EXPONENT / _ZETA)
    if not horizon:
        return tail
    return (LORD_HORIZON_SHARE / horizon if j <= horizon else 0.0) + (1 - LORD_HORIZON_SHARE) * tail


def _zeta() -> float:
    from scipy.special import zeta
    return float(zeta(LORD_GAMMA_EXPONENT))


_ZETA = _zeta()


def online_level(index: int, rejections: list[int], alpha: float = 0.05, w0: float | None = None,
                 horizon: int | None = None) -> float:
    """LORD++ level alpha_t of the loop's `index`-th test (1-based), given the indices of its earlier
    tests that confirmed something: gamma_t W0 + (alpha - W0) gamma_{t-tau_1} + alpha sum_{j>=2} gamma_{t-tau_j}."""
    w0 = alpha / 2 if w0 is None else w0
    if index < 1 or not 0 < w0 <= alpha or (horizon is not None and horizon < 1):
        raise ValueError(f"online_level: index and horizon must be >= 1 and 0 < w0 <= alpha "
                         f"(got {index}, {horizon}, {w0}, {alpha})")
    taus = sorted(t for t in rejections if t < index)
    level = lord_gamma(index, horizon) * w0
    for i, tau in enumerate(taus):
        level += (alpha - w0 if i == 0 else alpha) * lord_gamma(index - tau, horizon)
    return level


def gate_alpha(level: float) -> float:
    """The gate's two-sided alpha for an online level: the gate confirms only improvements, so a
    two-sided p < a confirms a null with probability <= a/2, and a = 2 * level spends exactly `level`."""
    return min(1.0, 2.0 * level)


def write_stats(analysis: Analysis | list[Analysis], path: str | Path) -> Path:
    obj = [a.model_dump() for a in analysis] if isinstance(analysis, list) else analysis.model_dump()
    return atomic_write_json(path, obj)


def load_stats(path: str | Path) -> Analysis:
    return Analysis.model_validate_json(Path(path).read_text())


def to_outcome(a: Analysis):
    """The ExperimentOutcome (schemas.py) a record or the loop stores."""
    from causal_core.schemas import ExperimentOutcome
    lo, hi = a.ci_t or (None, None)
    return ExperimentOutcome(intervention=a.intervention, decision=a.decision, effect_bpb=a.effect_bpb,
                             ci_low=lo, ci_high=hi, p_value=a.p_adjusted, n_pairs=a.n_pairs,
                             platform=a.platform, cycle=a.cycle, budget_mode=a.budget_mode,
                             time_budget_s=a.budget.time_budget_s if a.budget else None,
                             arm_steps={c: b.steps for c, b in a.budget.arms.items() if b.steps} if a.budget else {},
                             step_time_ratio=a.budget.step_time_ratio if a.budget else None)
