"""Screening designs and their Bayesian analysis on simulated responses with known effects."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from causal_core.experiments.screening import (Factor, analyze_screen, design_matrix, foldover, full_factorial,
                                               make_design, mirror_pairs, plackett_burman, top_k)

NAMES = ["wider_mlp", "more_layers", "bigram_hash", "qk_gain", "ema", "partial_rope"]


def factors(k, prior=0.0, sd=0.05):
    return [Factor(name=n, prior_effect_bpb=prior, prior_sd_bpb=sd) for n in NAMES[:k]]


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6, 8])
def test_foldover_is_resolution_iv_and_mirror_paired(k):
    x = foldover(k)
    assert len(x) == 2 * (1 << int(np.ceil(np.log2(max(k, 2)))))
    assert np.allclose(x.T @ x, len(x) * np.eye(k))                    # orthogonal main effects
    for i, j in itertools.combinations(range(k), 2):                   # mains clear of every 2FI
        assert np.allclose(x.T @ (x[:, i] * x[:, j]), 0)
    pairs = mirror_pairs(x)
    assert sorted(i for p in pairs for i in p) == list(range(len(x)))
    assert all(np.array_equal(x[a], -x[b]) for a, b in pairs)


def test_plackett_burman_is_orthogonal_and_half_the_foldover():
    for k in (3, 5, 7):
        x = plackett_burman(k)
        assert len(x) == len(foldover(k)) // 2 or k > 4 and len(x) == 8
        assert np.allclose(x.T @ x, len(x) * np.eye(k))
        assert sorted(i for p in mirror_pairs(x) for i in p) == list(range(len(x)))
    x, kind = design_matrix(7, 8, resolution=3)
    assert len(x) == 8 and "III" in kind
    d = make_design(factors(6), seeds=[1], max_rows=8, resolution=3)
    rng = np.random.default_rng(2)
    a = analyze_screen(d, simulate(d, [-0.1, -0.05, 0, 0, 0.02, 0], sigma=0.005, rng=rng), noise_prior_sd=0.005)
    assert "wider_mlp" in a.advance and any("resolution III" in n for n in a.notes)


def test_design_choice_prefers_the_full_factorial_when_it_fits():
    x, kind = design_matrix(3, 8)
    assert np.array_equal(np.sort(x, axis=0), np.sort(full_factorial(3), axis=0)) and "full" in kind
    x, kind = design_matrix(4, 8)
    assert len(x) == 8 and "IV" in kind
    with pytest.raises(ValueError, match="rows"):
        design_matrix(6, 8)


def simulate(design, main, inter=None, sigma=0.01, seed_effects=None, rng=None):
    x = design.x()
    y = {}
    for r in range(len(x)):
        for si, s in enumerate(design.seeds):
            v = 2.3 + (seed_effects[si] if seed_effects is not None else 0.0)
            v += sum(e / 2 * x[r, j] for j, e in enumerate(main))
            for (a, b), e in (inter or {}).items():
                v += e / 2 * x[r, a] * x[r, b]
            y[(r, s)] = v + sigma * rng.standard_normal()
    return y


def test_main_effects_recovered_within_their_intervals():
    """Coverage over 300 simulated screens (6 switches, 16-row fold-over, 2 seeds with block
    effects, an aliased interaction present): the 95% intervals hold the true effects ~95% of the time."""
    rng = np.random.default_rng(0)
    truth = np.array([-0.06, -0.09, -0.13, 0.0, 0.02, -0.01])
    hits, n = 0, 0
    for rep in range(300):
        d = make_design(factors(6), seeds=[1, 2], max_rows=16, randomization_seed=rep)
        # truth in the design's factor order (the design keeps factor order; columns were randomized)
        y = simulate(d, truth, {(0, 1): 0.02}, sigma=0.02, seed_effects=rng.normal(0, 0.05, 2), rng=rng)
        a = analyze_screen(d, y, noise_prior_sd=0.02)
        for m, t in zip(a.main, truth):
            hits += m.ci_low <= t <= m.ci_high
            n += 1
    assert 0.9 <= hits / n <= 0.99


def test_screen_advances_the_real_improvements_and_sets_aside_the_rest():
    rng = np.random.default_rng(3)
    truth = [-0.06, -0.09, -0.13, 0.0, 0.03, 0.0]
    d = make_design(factors(6), seeds=[11, 12], max_rows=16, randomization_seed=7)
    a = analyze_screen(d, simulate(d, truth, sigma=0.01, rng=rng), noise_prior_sd=0.01)
    assert set(a.advance) == {"wider_mlp", "more_layers", "bigram_hash"}
    assert a.advance[0] == "bigram_hash"                                       # best first
    assert {"qk_gain", "ema", "partial_rope"} == set(a.set_aside)
    assert a.interactions == [] and a.unresolved                               # resolution IV: 2FIs in chains


def test_full_factorial_resolves_interactions():
    rng = np.random.default_rng(5)
    d = make_design(factors(3), seeds=[1, 2], max_rows=8, randomization_seed=1)
    a = analyze_screen(d, simulate(d, [-0.05, -0.08, 0.0], {(0, 1): 0.06}, sigma=0.005, rng=rng),
                       noise_prior_sd=0.005)
    terms = {i.term: i for i in a.interactions}
    assert len(terms) == 3 and not a.unresolved
    ab = terms["wider_mlp x more_layers"]
    assert ab.ci_low <= 0.06 <= ab.ci_high and ab.ci_low > 0                   # the interaction is seen
    assert all(abs(i.effect_bpb) < 0.03 for t, i in terms.items() if t != "wider_mlp x more_layers")


def test_prior_shrinks_toward_the_dag_and_data_estimate_does_not():
    rng = np.random.default_rng(9)
    d = make_design(factors(4, prior=-0.05, sd=0.005), seeds=[1], max_rows=8, randomization_seed=2)
    a = analyze_screen(d, simulate(d, [0.0] * 4, sigma=0.02, rng=rng), noise_prior_sd=0.02)
    for m in a.main:
        assert m.effect_bpb < -0.03                                            # a tight prior dominates
        assert abs(m.data_effect_bpb) < abs(m.effect_bpb)                      # the evidence written back


def test_top_k_ranks_by_expected_improvement_per_cost():
    cands = [Factor(name="a", prior_effect_bpb=-0.01, prior_sd_bpb=0.01, expected_improvement_bpb=0.01, cost=1),
             Factor(name="b", prior_effect_bpb=-0.02, prior_sd_bpb=0.01, expected_improvement_bpb=0.02, cost=4),
             Factor(name="c", prior_effect_bpb=0.0, prior_sd_bpb=0.01, expected_improvement_bpb=0.0, cost=1)]
    assert [c.name for c in top_k(cands, 3)] == ["a", "b"]
    with pytest.raises(ValueError, match="finished runs"):
        d = make_design(factors(4), seeds=[1], max_rows=8)
        analyze_screen(d, {(0, 1): 2.3})


def test_the_planner_never_plans_a_saturated_screen(tmp_path):
    """Plackett-Burman for 7 switches in 8 rows on one seed leaves no residual df and cannot be
    analysed: the planner screens 6 (min_runs), and the analysis of its design works."""
    from causal_core.dag import estimate_dag
    from causal_core.experiments.screening import min_runs
    from causal_core.loop.cycle_kinds import plan_next
    from causal_core.loop.layout import LoopLayout
    from causal_core.loop.params import LoopParams
    from causal_core.schemas import InterventionsFile

    dag = estimate_dag(InterventionsFile(), prior_only_ok=True)
    params = LoopParams(records=[], results_dir=str(tmp_path / "r"), screen_k=7, screen_resolution=3,
                        screen_max_rows=8, screen_min_ei=0.0)
    plan = plan_next(1, params, dag, LoopLayout.at(tmp_path / "r"), {}, alpha_t=0.02)
    assert plan is not None and plan.kind == "screen" and len(plan.arms) == 6
    factors = [Factor(name=n, prior_effect_bpb=0.0, prior_sd_bpb=0.01) for n in plan.arms]
    d = make_design(factors, [1], max_rows=8, resolution=3)
    assert d.n_runs == 8 >= min_runs(6)
    y = {(r, 1): 2.0 + 0.01 * r for r in range(8)}
    assert len(analyze_screen(d, y).main) == 6


def test_the_12_run_plackett_burman_screens_10_switches_and_recovers_them():
    """Paley's 12-run design: orthogonal, 8-11 switches where Sylvester needs 16 rows; its 2FIs are
    spread at +-1/3 over the other columns. Simulated known effects are recovered within their
    intervals, and the two real gains advance."""
    from causal_core.experiments.screening import pb_rows
    assert [pb_rows(k) for k in (3, 7, 8, 11, 12, 15, 16, 19)] == [4, 8, 12, 12, 16, 16, 20, 20]
    x = plackett_burman(10)
    assert x.shape == (12, 10) and np.allclose(x.T @ x, 12 * np.eye(10))
    # a 2FI column is correlated +-1/3 (never +-1) with the main effects it is not part of
    inter = x[:, 0] * x[:, 1]
    assert np.allclose(np.abs(x[:, 2:].T @ inter) / 12, 1 / 3)
    names = [f"s{i}" for i in range(10)]
    d = make_design([Factor(name=n, prior_effect_bpb=0.0, prior_sd_bpb=0.1) for n in names], seeds=[1],
                    max_rows=12, resolution=3, randomization_seed=4)
    assert d.n_runs == 12 and "12 rows" in d.kind
    truth = [-0.12, -0.08, 0, 0, 0, 0.01, 0, 0, 0.05, 0]
    hits = 0
    for rep in range(20):
        a = analyze_screen(d, simulate(d, truth, sigma=0.01, rng=np.random.default_rng(rep)), noise_prior_sd=0.01)
        assert {"s0", "s1"} <= set(a.advance) and "s8" not in a.advance
        hits += sum(m.ci_low <= t <= m.ci_high for m, t in zip(sorted(a.main, key=lambda m: names.index(m.term)), truth))
    assert hits / 200 >= 0.85, hits
