"""Error control over the loop's life: LORD++ levels (stats.online_level), the persisted ledger
(resume gets the same level), and a simulation of 20 null cycles at the loop's small-scale noise."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from causal_core.experiments.stats import gate_alpha, lord_gamma, online_level
from causal_core.loop import online_fdr
from causal_core.loop.layout import LoopLayout

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_stats import online_sim  # noqa: E402


def test_lord_levels_spend_at_most_alpha_and_confirmations_earn():
    assert sum(lord_gamma(j) for j in range(1, 200_000)) == pytest.approx(1.0, abs=2e-3)
    levels = [online_level(t, [], 0.05) for t in range(1, 51)]
    assert levels == sorted(levels, reverse=True) and sum(levels) <= 0.025      # W0 = alpha/2 without discoveries
    assert online_level(2, [1], 0.05) > online_level(2, [], 0.05)               # a confirmation earns wealth
    assert online_level(5, [1, 3], 0.05) > online_level(5, [1], 0.05)
    assert gate_alpha(0.01) == pytest.approx(0.02)
    with pytest.raises(ValueError):
        online_level(0, [], 0.05)


def test_a_horizon_spreads_the_spending_and_stays_valid():
    """With a known horizon N the sequence is still non-increasing and sums to 1, so LORD++'s
    guarantee holds; tests 2..N get more than the j^-1.6 sequence gives them."""
    for n in (2, 8, 20):
        g = [lord_gamma(j, n) for j in range(1, 100_000)]
        assert g == sorted(g, reverse=True) and sum(g) == pytest.approx(1.0, abs=2e-3)
    assert online_level(1, [], 0.05, horizon=8) < online_level(1, [], 0.05)
    assert all(online_level(t, [], 0.05, horizon=8) > 2 * online_level(t, [], 0.05) for t in range(4, 9))
    assert online_level(9, [], 0.05, horizon=8) < online_level(8, [], 0.05, horizon=8) / 5   # past N: the tail only
    with pytest.raises(ValueError):
        online_level(1, [], 0.05, horizon=0)


def test_the_horizon_comes_from_the_run_budget_and_is_kept_on_resume(tmp_path):
    from causal_core.loop.params import LoopParams
    p = LoopParams(data_path=str(tmp_path), max_cycles=48, max_runs=48, seeds=[1, 2, 3])
    assert online_fdr.horizon(p) == 8                                            # 48 runs / (2 arms x 3 seeds)
    assert online_fdr.horizon(p.model_copy(update={"max_runs": 0, "max_cycles": 4})) == 4
    layout = LoopLayout.at(tmp_path)
    t1 = online_fdr.level_for(layout, 1, ["wider_mlp"], 0.05, 8)
    assert t1.level == pytest.approx(online_level(1, [], 0.05, horizon=8))
    t2 = online_fdr.level_for(layout, 2, ["ema"], 0.05, 3)                      # a resumed loop with other params
    assert t2.level == pytest.approx(online_level(2, [], 0.05, horizon=8))       # keeps the ledger's horizon
    assert online_fdr.peek(layout, 0.05, 3) == pytest.approx(gate_alpha(online_level(3, [], 0.05, horizon=8)))


def test_twenty_null_cycles_keep_the_familywise_rate_at_alpha():
    """pair SD 0.04 >> MDE 0.002: the MDE clause cannot help; only the online level guards."""
    rng = np.random.default_rng(1)
    on = online_sim(rng, 1500, 20, 5, 0.04, 0.002, 0.05)
    off = online_sim(rng, 1500, 20, 5, 0.04, 0.002, 0.05, online=False)
    se = (0.05 * 0.95 / 1500) ** 0.5
    assert on["fwer"] <= 0.05 + 2 * se and on["fdr"] == on["fwer"]             # global null: FDR = FWER
    assert off["fwer"] > 0.25                                                    # a fixed alpha per cycle does not
    mixed = online_sim(rng, 1500, 20, 5, 0.04, 0.002, 0.05, frac_real=0.3, effect=-0.1)
    assert mixed["fdr"] <= 0.05 + 2 * se and mixed["power"] > 0.5
    for horizon in (8, 20):                                                     # the horizon-aware sequence too
        assert online_sim(rng, 1500, 20, 5, 0.04, 0.002, 0.05, horizon=horizon)["fwer"] <= 0.05 + 2 * se


def test_ledger_is_resumed_exactly(tmp_path):
    layout = LoopLayout.at(tmp_path)
    t1 = online_fdr.level_for(layout, 1, ["wider_mlp"])
    assert t1.index == 1 and t1.level == pytest.approx(online_level(1, []))
    assert online_fdr.level_for(layout, 1, ["wider_mlp"]) == t1                 # resume: same test, same level
    online_fdr.record_outcome(layout, 1, True)
    t3 = online_fdr.level_for(layout, 3, ["more_layers", "bigram_hash"])         # cycle 2 was a screen: no test
    assert t3.index == 2 and t3.level == pytest.approx(online_level(2, [1]))
    assert t3.gate_alpha == pytest.approx(2 * t3.level)
    online_fdr.record_outcome(layout, 3, False)
    led = online_fdr.load(layout.online_ledger)
    assert [t.rejected for t in led.tests] == [True, False] and led.rule == "LORD++"


def test_approver_drops_and_adds_arms():
    from causal_core.loop.state import CyclePlan
    from flows.approval import edit_arms
    plan = CyclePlan(cycle=2, intervention="bigram_hash", kind="multiarm", arms=["bigram_hash", "more_layers", "ema"],
                     expected={"bigram_hash": -0.1, "more_layers": -0.08, "ema": -0.01}, why="w")
    up = edit_arms(plan, ["ema"], "qk_gain")
    assert up["kind"] == "multiarm" and up["arms"] == ["bigram_hash", "more_layers", "qk_gain"]
    assert set(up["expected"]) == {"bigram_hash", "more_layers", "qk_gain"} and "dropped ema" in up["why"]
    single = CyclePlan(cycle=1, intervention="ema", why="w")
    assert edit_arms(single, [], "wider_mlp")["arms"] == ["ema", "wider_mlp"]          # one more arm: multi-arm
    screen = plan.model_copy(update={"kind": "screen"})
    left = edit_arms(screen, ["ema", "more_layers"], None)
    assert left["kind"] == "single" and left["intervention"] == "bigram_hash"          # a screen of one is a test
