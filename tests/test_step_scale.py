"""Switches a run has too few steps to test (experiments/step_scale.py, loop/step_fit.py):
the rules on their own, and the proposal and the screen passing them over at a short scale
but not at a long one."""
from __future__ import annotations

import pytest

from causal_core.experiments.step_scale import MAX_INIT_SHARE, too_few_steps
from causal_core.loop.layout import LoopLayout
from causal_core.loop.params import LoopParams

SHORT = {"ema", "warmdown_schedule", "muon_variant"}


def test_ema_needs_the_initial_weights_to_have_decayed():
    why = too_few_steps("ema", {"EMA_DECAY": 0.99}, {}, 30)
    assert why and "74%" in why and "299 steps" in why
    assert 0.99 ** 299 <= MAX_INIT_SHARE < 0.99 ** 298
    assert too_few_steps("ema", {"EMA_DECAY": 0.99}, {}, 299) is None
    assert too_few_steps("ema", {"EMA_DECAY": 0.9965}, {}, 7000) is None      # the frontier's EMA at H100 length
    assert too_few_steps("ema", {"EMA_DECAY": 0.0}, {}, 30) is None           # off: nothing to judge


def test_a_warmdown_longer_than_the_run_only_lowers_the_learning_rate():
    assert "whole run is in warmdown" in too_few_steps("warmdown_schedule", {"WARMDOWN_ITERS": 120}, {}, 61)
    assert too_few_steps("warmdown_schedule", {"WARMDOWN_ITERS": 120}, {}, 120)
    assert too_few_steps("warmdown_schedule", {"WARMDOWN_ITERS": 120}, {}, 160) is None


def test_a_momentum_that_never_finishes_its_warm_up():
    eff = {"MUON_MOMENTUM_WARMUP_STEPS": "40"}
    assert "never reaches" in too_few_steps("muon_variant", {"MUON_MOMENTUM": 0.99}, eff, 30)
    assert too_few_steps("muon_variant", {"MUON_MOMENTUM": 0.99}, eff, 160) is None
    # a profile that spells the variables otherwise is not judged
    assert too_few_steps("muon_variant", {"MOMENTUM": 0.99}, eff, 30) is None


@pytest.mark.parametrize("steps", [None, 0])
def test_unknown_steps_or_no_rule_pass_everything(steps):
    assert too_few_steps("ema", {"EMA_DECAY": 0.99}, {}, steps) is None
    assert too_few_steps("wider_mlp", {"MLP_MULT": 3}, {}, 5) is None


def _dag():
    from causal_core.dag import estimate_dag
    from causal_core.schemas import InterventionsFile
    return estimate_dag(InterventionsFile(), prior_only_ok=True)


def test_the_loop_passes_them_over_at_30_steps_and_tests_them_at_400(tmp_path):
    from causal_core.loop.cycle_kinds import screen_factors
    from causal_core.loop.proposal import propose
    from causal_core.loop.step_fit import loop_steps, passed_over

    dag, layout = _dag(), LoopLayout.at(tmp_path)
    ranked = [c.intervention for c in dag.candidates]
    short = LoopParams(budget_mode="steps", trainer_env={"ITERATIONS": 30}, seeds=[1, 2, 3], screen_k=6)
    long = LoopParams(budget_mode="steps", trainer_env={"ITERATIONS": 400}, seeds=[1, 2, 3], screen_k=6)
    assert loop_steps(short, layout) == 30 and loop_steps(long, layout) == 400
    assert set(passed_over(short, layout)) == SHORT and passed_over(long, layout) == {}
    # cpu_small's own 160 steps: only EMA 0.99 is too slow (0.99^160 = 20% initial weights)
    assert set(passed_over(LoopParams(budget_mode="steps"), layout)) == {"ema"}

    plan = propose(2, short, dag, layout)
    assert plan.intervention not in SHORT
    first_short = next(n for n in ranked if n in SHORT)
    if ranked.index(first_short) < ranked.index(plan.intervention):     # passed over on the way: named
        assert f"{first_short} (too few steps: " in plan.why
    screened = {f.name for f in screen_factors(short, dag, layout, {})}
    assert not screened & SHORT
    assert {f.name for f in screen_factors(long, dag, layout, {})} & SHORT == SHORT & set(ranked)


def test_a_time_budget_judges_by_the_last_measured_control_steps(tmp_path):
    from causal_core.loop.step_fit import loop_steps, passed_over
    params = LoopParams(budget_mode="time", seeds=[1, 2, 3])
    layout = LoopLayout.at(tmp_path)
    assert loop_steps(params, layout) is None and passed_over(params, layout) == {}   # before any calibration
    from causal_core.experiments.budget import ArmBudget, BudgetSummary
    from causal_core.experiments.stats import Analysis, write_stats

    def ran(n: int, steps: int) -> None:
        budget = BudgetSummary(budget_mode="time", time_budget_s=60.0,
                               arms={"control": ArmBudget(steps=steps), "treatment": ArmBudget(steps=steps - 3)})
        write_stats(Analysis(intervention="wider_mlp", n_pairs=3, decision="null", budget_mode="time", budget=budget),
                    layout.cycle(n).stats)

    ran(1, 61)         # the main job's 61 steps: EMA 0.99 and a 120-step warmdown are passed over
    assert loop_steps(params, layout) == 61 and set(passed_over(params, layout)) == {"ema", "warmdown_schedule"}
    ran(2, 400)        # the latest experiment's control arm decides (a faster machine, a longer budget)
    assert loop_steps(params, layout) == 400 and passed_over(params, layout) == {}


def test_first_intervention_is_run_as_asked(tmp_path):
    from causal_core.loop.proposal import propose
    params = LoopParams(budget_mode="steps", trainer_env={"ITERATIONS": 30}, first_intervention="ema")
    assert propose(1, params, _dag(), LoopLayout.at(tmp_path)).intervention == "ema"


def test_an_unrunnable_switch_is_passed_over_even_as_first_intervention(tmp_path):
    from causal_core.loop import online_fdr
    from causal_core.loop.cycle_kinds import screen_factors
    from causal_core.loop.proposal import propose
    from causal_core.loop.step_fit import passed_over, record_unrunnable

    layout, dag = LoopLayout.at(tmp_path), _dag()
    layout.root.mkdir(parents=True, exist_ok=True)
    params = LoopParams(first_intervention="wider_mlp", seeds=[1, 2, 3], screen_k=4)
    record_unrunnable(layout, "wider_mlp", 1, "calibration of the treatment arm failed (exit 1): out of memory")
    record_unrunnable(layout, "wider_mlp", 1, "again")          # one entry per switch
    assert passed_over(params, layout) == {"wider_mlp": "could not run here (cycle 1): calibration of the treatment "
                                                        "arm failed (exit 1): out of memory"}
    plan = propose(1, params, dag, layout)
    assert plan.intervention != "wider_mlp" and plan.source != "first_intervention"
    ranked = [c.intervention for c in dag.candidates]
    if ranked.index("wider_mlp") < ranked.index(plan.intervention):
        assert "wider_mlp (could not run here (cycle 1)" in plan.why
    assert "wider_mlp" not in {f.name for f in screen_factors(params, dag, layout, {})}

    # the cycle's LORD++ test is released only while it is the last one and unanalysed
    t1 = online_fdr.level_for(layout, 1, ["wider_mlp"], 0.05, 8)
    assert online_fdr.release(layout, 1) and online_fdr.load(layout.online_ledger).tests == []
    again = online_fdr.level_for(layout, 1, ["qk_gain"], 0.05, 8)
    assert (again.index, again.level) == (t1.index, t1.level)
    online_fdr.record_outcome(layout, 1, False)
    assert not online_fdr.release(layout, 1) and len(online_fdr.load(layout.online_ledger).tests) == 1
