"""What the next cycle tests: the DAG's ranked candidates, minus what this loop has settled.

The trainer is deterministic for a fixed configuration and seed, so re-testing an
intervention on the same seeds would repeat the same runs exactly. A re-test (the DAG
still ranks a suggestive result first) therefore gets fresh seeds: independent evidence
the DAG pools with the earlier experiment. The gate cannot pool them (the first test was
picked up because it looked good; pooling would bias the re-test's p-value), so the re-test
is sized like a confirmation instead: as many seeds as the gate's power at the loop's next
LORD++ level asks for, given the measured local effect and the loop's own pair noise
(`retest_seeds`). An intervention gets at most MAX_TESTS tests.
With stacking on, a candidate that cannot go on top of the confirmed interventions (same
variable, exclusive rule) is passed over.
"""
from __future__ import annotations

from collections import Counter

from causal_core.dag import DagResult
from causal_core.loop import diagnostic_rules
from causal_core.loop.history import experiment_rows
from causal_core.loop.layout import LoopLayout
from causal_core.loop.params import LoopParams
from causal_core.loop.seeds import MAX_TESTS, extend_seeds, fresh_seeds
from causal_core.loop.stack import conflict, loop_stack
from causal_core.loop.step_fit import note as steps_note, passed_over, unrunnable
from causal_core.loop.state import CyclePlan
from causal_core.loop.target import target



def retest_seeds(params: LoopParams, dag: DagResult, layout: LoopLayout, name: str, k: int) -> tuple[list[int], str]:
    """Fresh seeds for test k + 1 of `name`, and why: experiments.multiarm.plan_arms on one arm, the
    expected effect being the DAG's local column (the measured effect, shrunk by the transfer model),
    at the gate alpha the next test gets, within the run budget; never fewer than params.seeds.
    Measured reason (docs/search_benchmark.md): 3-pair re-tests of wider_mlp (-0.071 then -0.041 bpb)
    stayed "suggestive" at p 0.034 and 0.0073, because a 2-df t test cannot clear a gate of ~0.006."""
    from causal_core.experiments.multiarm import SEED_OPTIONS, plan_arms
    from causal_core.loop import online_fdr
    from causal_core.loop.cycle_kinds import loop_pair_sd
    from causal_core.loop.run_budget import runs_left
    e = dag.effect(name)
    expected = e.local_effect_bpb if e is not None and e.local_effect_bpb is not None else (e.effect_bpb if e else 0.0)
    gate = online_fdr.next_gate(layout, params)
    options = tuple(n for n in SEED_OPTIONS if n >= len(params.seeds)) or (len(params.seeds),)
    plan = plan_arms([(name, expected)], pair_sd=loop_pair_sd(layout), gate_alpha=gate, max_arms=1,
                     seed_options=options, runs_left=runs_left(layout, params))
    n = plan.n_seeds if plan else len(params.seeds)
    why = (f"{n} seeds: power {plan.arms[0].power:.2f} for the measured local effect {expected:+.4f} bpb at pair SD "
           f"{plan.pair_sd:.4f}, gate alpha {gate:.4g}" if plan else f"{n} seeds (no larger re-test fits the run budget)")
    return fresh_seeds(extend_seeds(params.seeds, n), k), why


def _ranked_on(dag: DagResult, have: list[str]):
    """The DAG's candidates, re-ranked for a configuration that already has `have` (the user's
    base and the confirmed stack): interactions and exclusions with it (next_intervention.rank)."""
    cands = dag.candidates or ([dag.next_intervention] if dag.next_intervention else [])
    if not have:
        return cands
    from causal_core.dag.next_intervention import rank
    names = {c.intervention for c in cands}
    eff = {e.intervention: e for e in dag.effects if e.intervention in names}
    return rank(eff, dag.edges, [], base=list(dict.fromkeys(have)))


def propose(n: int, params: LoopParams, dag: DagResult, layout: LoopLayout) -> CyclePlan | None:
    if n == 1 and params.first_intervention and params.first_intervention not in unrunnable(layout):
        return CyclePlan(cycle=n, intervention=params.first_intervention, why="given as first_intervention",
                         source="first_intervention")
    tested = Counter(r.intervention for r in experiment_rows(layout))
    stack = loop_stack(layout, params)
    tgt = target(params)
    base = tgt.env(params)
    cands = _ranked_on(dag, [*params.base, *stack])
    # Diagnostics that inform (loop/diagnostic_rules.py): a quant gap above its threshold moves the
    # gap-lowering interventions to the front; the reason goes into the proposal's text.
    cands, gap_note = diagnostic_rules.favour_gap_lowering(cands, layout)
    too_short, skipped = passed_over(params, layout), {}
    for c in cands:
        k = tested[c.intervention]
        if not tgt.actuates(c.intervention):       # the trainer would ignore it (loop/target.py)
            continue
        if c.intervention in too_short:             # would measure a scale artifact (loop/step_fit.py)
            skipped[c.intervention] = too_short[c.intervention]
            continue
        if k >= MAX_TESTS or (stack and conflict(c.intervention, stack, base)):
            continue
        seeds, sized = retest_seeds(params, dag, layout, c.intervention, k) if k else (None, "")
        why = c.reason + (f"; test {k + 1} of it, on fresh seeds {seeds} ({sized})" if k else "")
        if stack:       # the user's base first, then what the loop confirmed (loop_stack's order)
            on = [f"the base {', '.join(b for b in stack if b in params.base)}" if set(stack) & set(params.base) else "",
                  f"the confirmed {', '.join(s for s in stack if s not in params.base)}"
                  if set(stack) - set(params.base) else ""]
            why += "; on top of " + " and ".join(x for x in on if x)
        if gap_note and c.intervention in diagnostic_rules.GAP_LOWERING:
            why += f"; {gap_note}"
        why += steps_note(skipped)
        expected = c.expected_effect_bpb
        prior, ident_note = diagnostic_rules.identifiability_note(layout, c.intervention)
        if ident_note:       # mostly multi-variable evidence: the randomized test, not the estimate, decides
            why, expected = why + f"; {ident_note}", prior
        return CyclePlan(cycle=n, intervention=c.intervention, why=why,
                         expected_effect_bpb=expected, seeds=seeds)
    return None
