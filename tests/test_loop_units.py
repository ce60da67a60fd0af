"""The loop's pure rules: stop rules, proposals (fresh seeds for a re-test), parameters."""
from __future__ import annotations

import pytest

from causal_core.loop.params import LoopParams, validate_params
from causal_core.loop.stop_rules import stop_reason


def _p(**kw) -> LoopParams:
    return LoopParams(**kw)


@pytest.mark.parametrize("decisions, elapsed, params, expected", [
    (["null", "confirmed"], 0, {}, "confirmed effect"),
    (["null", "confirmed"], 0, {"stop_on_confirmed": False}, None),
    (["null", "null", "null"], 0, {}, "3 nulls in a row"),
    (["null", "suggestive", "null", "null"], 0, {"max_cycles": 9}, None),
    (["null", "null"], 0, {"max_nulls_in_a_row": 2}, "2 nulls in a row"),
    (["suggestive"] * 4, 0, {}, "4 cycles done"),
    # A screening cycle counts as a cycle but neither extends nor breaks a streak of nulls.
    (["null", "screen", "null", "null"], 0, {"max_cycles": 9}, "3 nulls in a row"),
    (["screen", "null", "screen"], 0, {}, None),
    (["screen", "screen"], 0, {"max_cycles": 2}, "2 cycles done"),
    (["suggestive"], 7200, {"wall_clock_gate_s": 3600}, "wall-clock gate (3600 s) reached"),
    ([], 0, {}, None),
])
def test_every_stop_rule(decisions, elapsed, params, expected):
    assert stop_reason(decisions, elapsed, _p(**params)) == expected


def test_the_run_budget_counts_training_runs():
    assert stop_reason(["null"], 0, _p(max_runs=9), runs_trained=8) is None
    assert stop_reason(["null"], 0, _p(max_runs=9), runs_trained=9) == "run budget (9 training runs) spent"
    assert stop_reason(["null"], 0, _p(), runs_trained=10**6) is None      # 0 = no limit


def test_the_approver_can_stop():
    assert stop_reason([], 0, _p(), human_stop=True) == "stopped by the approver"


@pytest.mark.parametrize("raw, needle", [
    ({"seeds": []}, "seeds: at least 2 seeds"),
    ({"seeds": [1]}, "seeds: at least 2 seeds"),          # the paired test's rule, before discovery
    ({"seeds": [1, 1]}, "seeds must be distinct"),
    ({"budget_s": -1}, "budget_s: must be positive"),
    ({"first_intervention": "bogus"}, "unknown intervention 'bogus'"),
    ({"first_intervention": "gptq"}, "not switchable"),
    ({"max_cycles": 0}, "max_cycles"),
])
def test_bad_parameters_say_what_is_wrong_in_one_line(raw, needle):
    with pytest.raises(ValueError) as e:
        validate_params(raw)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_a_retest_gets_fresh_seeds_and_an_intervention_at_most_two_tests(tmp_path):
    from causal_core.dag import estimate_dag
    from causal_core.experiments.stats import Analysis, write_stats
    from causal_core.loop.layout import LoopLayout
    from causal_core.loop.proposal import propose
    from causal_core.schemas import InterventionsFile

    layout = LoopLayout.at(tmp_path)
    params = _p(seeds=[1, 2, 3])
    dag = estimate_dag(InterventionsFile(), prior_only_ok=True)
    first = dag.candidates[0].intervention
    plan = propose(2, params, dag, layout)
    assert plan.intervention == first and plan.seeds is None            # first test: the loop's seeds

    def tested(n: int, name: str) -> None:
        write_stats(Analysis(intervention=name, n_pairs=3, decision="suggestive"),
                    layout.cycle(n).stats)

    tested(1, first)
    plan = propose(2, params, dag, layout)
    assert plan.intervention == first and plan.seeds == [1001, 1002, 1003]
    assert "fresh seeds" in plan.why
    tested(2, first)
    plan = propose(3, params, dag, layout)
    assert plan.intervention != first                                    # two tests: settled for this loop


def test_a_retest_of_a_large_noisy_effect_gets_the_seeds_its_power_needs(tmp_path):
    """wider_mlp measured -0.06 bpb at pair SD 0.03 on 3 seeds: a 3-seed re-test could not clear
    the next LORD++ gate (2-df t test), so the re-test is sized by the gate's power, within the
    run budget, on fresh seeds."""
    from causal_core.dag import estimate_dag
    from causal_core.experiments.stats import Analysis, write_stats
    from causal_core.loop.layout import LoopLayout
    from causal_core.loop.proposal import propose, retest_seeds
    from causal_core.schemas import ExperimentOutcome, InterventionsFile, RecordEntry

    layout = LoopLayout.at(tmp_path)
    params = _p(seeds=[1, 2, 3], max_runs=48, max_cycles=48)
    rec = RecordEntry(record_id="loop/wider_mlp", experiment=ExperimentOutcome(
        intervention="wider_mlp", decision="suggestive", effect_bpb=-0.06, ci_low=-0.134, ci_high=0.014,
        n_pairs=3, cycle=1))
    dag = estimate_dag(InterventionsFile(records=[rec]), prior_only_ok=True)
    assert dag.effect("wider_mlp").local_source == "measured"
    write_stats(Analysis(intervention="wider_mlp", n_pairs=3, decision="suggestive", effect_bpb=-0.06, sd_diff=0.03),
                layout.cycle(1).stats)
    seeds, why = retest_seeds(params, dag, layout, "wider_mlp", 1)
    assert len(seeds) > 3 and seeds[:3] == [1001, 1002, 1003] and "power" in why
    tight = retest_seeds(params.model_copy(update={"max_runs": 7}), dag, layout, "wider_mlp", 1)[0]
    assert tight == [1001, 1002, 1003]                                   # no bigger re-test fits 7 runs
    plan = propose(2, params, dag, layout)
    if plan.intervention == "wider_mlp":
        assert plan.seeds == seeds and "power" in plan.why
