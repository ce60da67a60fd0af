"""Multi-arm confirmation: sizing from the gate's power, Holm over arms sharing one control."""
from __future__ import annotations

import pytest

from causal_core.experiments.multiarm import plan_arms
from causal_core.experiments.power import gate_power, pooled_pair_sd
from causal_core.experiments.results import RunResult, summarize
from causal_core.experiments.stats import analyze, holm
from causal_core.experiments.config import from_catalog


def test_gate_power_is_the_gates_and_monotone():
    assert gate_power(0.0, 0.01, 5, 0.002, 0.05) <= 0.05
    p3, p5, p8 = (gate_power(-0.02, 0.02, n, 0.002, 0.05) for n in (3, 5, 8))
    assert p3 < p5 < p8 and p8 > 0.6
    assert gate_power(-0.02, 0.02, 5, 0.002, 0.01) < p5                      # a stricter online level costs power
    assert pooled_pair_sd([(0.02, 3), (0.04, 3)], 1.0) == pytest.approx((0.0010) ** 0.5)
    assert pooled_pair_sd([], 0.03) == 0.03


def test_plan_sizes_arms_and_seeds_from_the_expected_effects():
    big = [("bigram_hash", -0.13), ("more_layers", -0.09), ("wider_mlp", -0.06)]
    plan = plan_arms(big, pair_sd=0.04, gate_alpha=0.02)
    assert len(plan.arms) == 3 and plan.runs == plan.n_seeds * 4              # strong effects: test them together
    small = plan_arms([("bigram_hash", -0.012), ("ema", -0.001)], pair_sd=0.01, gate_alpha=0.02)
    assert [a.intervention for a in small.arms] == ["bigram_hash"] and small.n_seeds >= 5   # weak: one arm, more seeds
    assert plan_arms(big, pair_sd=0.04, gate_alpha=0.02, runs_left=5) is None
    tight = plan_arms(big, pair_sd=0.04, gate_alpha=0.02, runs_left=9)
    assert tight.runs <= 9
    assert "shared control" in plan.why and plan.considered


def arm_raw(name, control, treatment, seeds, alpha):
    cfg = from_catalog(name, seeds=seeds, alpha=alpha)
    runs = [RunResult(run_id=cfg.run_id(c, s), condition=c, seed=s, status="ok", val_bpb=v, val_loss=v * 1.7,
                      bytes_model=1000, error=None, stdout_path="x", stderr_path="y")
            for c, vals in (("control", control), ("treatment", treatment)) for s, v in zip(seeds, vals)]
    return summarize(cfg, runs)


def test_holm_over_arms_sharing_the_control_at_the_online_level():
    seeds = [1, 2, 3, 4, 5]
    control = [2.30, 2.32, 2.29, 2.31, 2.30]
    arms = {"bigram_hash": [v - 0.13 + e for v, e in zip(control, (0.01, -0.01, 0.0, 0.005, -0.004))],
            "more_layers": [v - 0.004 + e for v, e in zip(control, (0.01, -0.01, 0.0, 0.005, -0.004))],
            "ema": [v + 0.001 + e for v, e in zip(control, (0.002, -0.003, 0.0, 0.004, -0.001))]}
    res = holm([analyze(arm_raw(n, control, t, seeds, alpha=0.02), n_boot=0) for n, t in arms.items()])
    by = {a.intervention: a for a in res}
    assert all(a.family_size == 3 and a.alpha == 0.02 for a in res)
    assert by["bigram_hash"].decision == "confirmed"
    assert by["more_layers"].decision != "confirmed" and by["ema"].decision == "null"
    assert by["bigram_hash"].p_adjusted == pytest.approx(min(1, 3 * by["bigram_hash"].p_value))   # smallest p: x3


def test_a_futile_confirmation_is_not_planned():
    """A screened switch expected to do nothing gives a plan with ~0 power: the rule skips it."""
    from causal_core.loop.cycle_kinds import MIN_CONFIRM_POWER, worth_confirming
    futile = plan_arms([("parallel_residuals", 0.0)], pair_sd=0.04, gate_alpha=0.007)
    assert futile is not None and max(a.power for a in futile.arms) < MIN_CONFIRM_POWER
    assert not worth_confirming(futile) and not worth_confirming(None)
    strong = plan_arms([("more_layers", -0.1)], pair_sd=0.03, gate_alpha=0.02)
    assert worth_confirming(strong)
