"""The console lines a person reads when a run finishes and when a cycle decides (the flow logs them)."""
from __future__ import annotations

from causal_core.experiments.results import RunResult
from causal_core.experiments.stats import Analysis


def run_line(label: str, r: RunResult) -> str:
    how = "served from an earlier run" if r.reused else f"in {r.elapsed_s:.0f} s"
    return f"{label}: val_bpb {r.val_bpb:.4f} ({how})"


def decision_line(cycle: int, analysis: Analysis, stage: str = "decided") -> str:
    """`cycle 1 decided: sliding_window_eval confirmed, effect -0.0118 val_bpb [-0.0143, -0.0092], p=0.0025, 3 pairs`."""
    a = analysis
    effect = f"effect {a.effect_bpb:+.4f} val_bpb" if a.effect_bpb is not None else "no effect estimate"
    ci = f" [{a.ci_t[0]:+.4f}, {a.ci_t[1]:+.4f}]" if a.ci_t else ""
    p = f", p={a.p_adjusted:.2g}" if a.p_adjusted is not None else ""
    return f"cycle {cycle} {stage}: {a.intervention} {a.decision}, {effect}{ci}{p}, {a.n_pairs} pairs"
