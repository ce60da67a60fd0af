"""Multi-arm confirmation: k treatments against one shared control arm, all on the same seeds.

The control runs are trained once (every arm's control resolves to the same trainer config;
the loop's run index serves the others), so k arms cost n (k + 1) runs instead of 2 n k. Holm
(stats.holm) adjusts over the k arms at the cycle's online level. Why Holm and not Dunnett: the
arms share the control, so their statistics are positively correlated and Dunnett would be a
little less conservative; but Dunnett's critical values assume a common variance and equal
pairs per arm, and a lost seed in one arm breaks both, while Holm is valid under any
dependence and already is the loop's adjustment.

Sizing (`plan_arms`): for every k <= max_arms and n in the seed options, the expected
improvement the cycle confirms, sum_j power_j |effect_j| with power from causal_core.experiments.power
at Bonferroni alpha/k (Holm's worst step), per run, where the runs are the cycle's n (k + 1)
plus n for each of the K offered candidates left out (each will need a control arm of its own
later); the best ratio wins, within the runs left. Without that charge the ratio always prefers
one arm (Holm's split lowers every arm's power), which would give up the shared control.
Expected effects come from the screen (the loop's own scale) or the DAG.
"""
from __future__ import annotations

from pydantic import BaseModel, Field

from causal_core.experiments.power import gate_power

SEED_OPTIONS = (3, 4, 5, 6, 8)


class Arm(BaseModel):
    intervention: str
    expected_effect_bpb: float
    power: float = 0.0


class ArmPlan(BaseModel):
    arms: list[Arm]
    n_seeds: int
    runs: int                          # trained: n (k + 1)
    pair_sd: float
    gate_alpha: float
    expected_confirmed_bpb: float      # sum of power x |effect|
    why: str = ""
    considered: list[dict] = Field(default_factory=list)


def plan_arms(candidates: list[tuple[str, float]], *, pair_sd: float, gate_alpha: float, mde: float = 0.002,
              max_arms: int = 3, seed_options: tuple[int, ...] = SEED_OPTIONS,
              runs_left: int | None = None) -> ArmPlan | None:
    """`candidates`: (intervention, expected effect), best first. None if nothing fits the runs left."""
    cands = [(n, e) for n, e in candidates if e < 0][:max_arms] or candidates[:1]
    best, considered = None, []
    for k in range(1, len(cands) + 1):
        for n in seed_options:
            runs = n * (k + 1)
            if runs_left is not None and runs > runs_left:
                continue
            arms = [Arm(intervention=name, expected_effect_bpb=e,
                        power=gate_power(round(e, 6), round(pair_sd, 6), n, mde, gate_alpha / k))
                    for name, e in cands[:k]]
            value = sum(a.power * max(0.0, -a.expected_effect_bpb) for a in arms)
            ratio = value / (runs + n * (len(cands) - k))
            considered.append({"k": k, "n_seeds": n, "runs": runs, "value_per_run": ratio,
                               "power": [round(a.power, 3) for a in arms]})
            if best is None or ratio > best[0] + 1e-12:
                best = (ratio, ArmPlan(arms=arms, n_seeds=n, runs=runs, pair_sd=pair_sd, gate_alpha=gate_alpha,
                                              expected_confirmed_bpb=value))
    if best is None:
        return None
    plan = best[1]
    plan.considered = considered
    plan.why = (f"{len(plan.arms)} arm(s) x {plan.n_seeds} seeds + shared control = {plan.runs} runs: the most "
                f"expected confirmed improvement per run ({plan.expected_confirmed_bpb:.4f} bpb; power "
                + ", ".join(f"{a.intervention} {a.power:.2f}" for a in plan.arms)
                + f" at pair SD {pair_sd:.4f}, gate alpha {gate_alpha:.4g} / {len(plan.arms)})")
    return plan
