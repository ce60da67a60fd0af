"""The loop's history: one typed row per finished experiment (one per arm of a multi-arm
cycle), in cycle order. The flow's stop rules, the proposal, the cycle-kind rule, the UI's
table artifact and the final report read it."""
from __future__ import annotations

from pydantic import BaseModel

from causal_core.experiments.stats import Analysis, Decision, load_stats
from causal_core.loop.layout import LoopLayout


class ExperimentRow(BaseModel):
    cycle: int
    intervention: str
    control_bpb: float | None       # mean over the complete pairs
    treatment_bpb: float | None
    effect_bpb: float | None        # treatment - control (negative = better)
    ci_low: float | None            # the gate's 95% paired t interval
    ci_high: float | None
    p: float | None                 # Holm-adjusted
    n_pairs: int
    decision: Decision              # the final one (after refutation)
    alpha: float | None             # the gate's alpha (the cycle's online level with online_fdr)
    family_size: int
    budget_mode: str | None         # "time" or "steps" (docs/budget.md)
    time_budget_s: float | None
    control_steps: int | None
    treatment_steps: int | None
    step_time_ratio: float | None


def experiment_rows(layout: LoopLayout) -> list[ExperimentRow]:
    rows = []
    for cyc in layout.finished_cycles():
        for stats in cyc.stats_files():      # one row per arm of a multi-arm cycle
            a = load_stats(stats)
            lo, hi = a.ci_t or (None, None)
            rows.append(ExperimentRow(
                cycle=cyc.n, intervention=a.intervention,
                control_bpb=_mean(a.control_bpb), treatment_bpb=_mean(a.treatment_bpb),
                effect_bpb=_r(a.effect_bpb), ci_low=_r(lo), ci_high=_r(hi),
                p=_r(a.p_adjusted, 4), n_pairs=a.n_pairs, decision=a.decision,
                alpha=_r(a.alpha, 4), family_size=a.family_size, **_budget_cols(a),
            ))
    return rows


SCREEN = "screen"       # a screening cycle's outcome in cycle_outcomes: it makes no claim


def cycle_outcomes(layout: LoopLayout) -> list[str]:
    """One outcome per finished cycle, in order, for the stop rules: a multi-arm cycle is one
    cycle (confirmed when any arm confirmed, else its best decision), a recorded screening cycle
    is SCREEN. (Counting experiment rows made a 2-arm cycle count as 2 cycles and a screen as none.)"""
    order = ("confirmed", "suggestive", "null", "failed")
    by_cycle: dict[int, list[str]] = {}
    for r in experiment_rows(layout):
        by_cycle.setdefault(r.cycle, []).append(r.decision)
    for c in layout.cycles():
        if c.n >= 1 and c.n not in by_cycle and c.screen_analysis.is_file() and c.record.is_file():
            by_cycle[c.n] = [SCREEN]
    return [min(ds, key=lambda d: order.index(d) if d in order else len(order)) for _, ds in sorted(by_cycle.items())]


def _budget_cols(a: Analysis) -> dict:
    arms = a.budget.arms if a.budget else {}
    return {"budget_mode": a.budget_mode, "time_budget_s": a.budget.time_budget_s if a.budget else None,
            "control_steps": arms["control"].steps if "control" in arms else None,
            "treatment_steps": arms["treatment"].steps if "treatment" in arms else None,
            "step_time_ratio": a.budget.step_time_ratio if a.budget else None}


def _r(v, nd=5):
    return None if v is None else round(float(v), nd)


def _mean(xs):
    return _r(sum(xs) / len(xs)) if xs else None
