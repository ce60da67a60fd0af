"""The loop's history: one typed row per finished experiment cycle, in cycle order. The
flow's stop rules, the proposal, the UI's table artifact and the final report read it."""
from __future__ import annotations

from pydantic import BaseModel

from causal_core.experiments.stats import Decision, load_stats
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


def experiment_rows(layout: LoopLayout) -> list[ExperimentRow]:
    rows = []
    for cyc in layout.finished_cycles():
        a = load_stats(cyc.stats)
        lo, hi = a.ci_t or (None, None)
        rows.append(ExperimentRow(
            cycle=cyc.n, intervention=a.intervention,
            control_bpb=_mean(a.control_bpb), treatment_bpb=_mean(a.treatment_bpb),
            effect_bpb=_r(a.effect_bpb), ci_low=_r(lo), ci_high=_r(hi),
            p=_r(a.p_adjusted, 4), n_pairs=a.n_pairs, decision=a.decision,
        ))
    return rows


def _r(v, nd=5):
    return None if v is None else round(float(v), nd)


def _mean(xs):
    return _r(sum(xs) / len(xs)) if xs else None
