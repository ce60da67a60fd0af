"""The transfer model recovers known lambda_g from simulated two-scale data (errors in variables)."""
from __future__ import annotations

import numpy as np
import pytest

from causal_core import catalog
from causal_core.catalog import GROUPS
from causal_core.dag.transfer_model import Pair, fit, scale_key

LAMBDA = dict(zip(GROUPS, [0.2, 1.5, 0.8, 0.0, 1.0]))
N_PER_GROUP = dict(zip(GROUPS, [1, 3, 6, 2, 4]))      # varying numbers of interventions per group


def simulate(seed: int, sd_h100=0.002, se_local=0.002, noise=0.001) -> list[Pair]:
    rng = np.random.default_rng(seed)
    pairs = []
    for g in GROUPS:
        for k in range(N_PER_GROUP[g]):
            theta = rng.normal(-0.01, 0.01)                  # true H100 effect
            h = theta + sd_h100 * rng.standard_normal()      # the records' estimate of it
            local = LAMBDA[g] * theta + noise * rng.standard_normal() + se_local * rng.standard_normal()
            pairs.append(Pair(f"{g}_{k}", g, h, sd_h100, local, se_local))
    return pairs


def test_every_catalog_entry_has_a_transfer_group():
    assert {e.group for e in catalog.ENTRIES} == set(GROUPS)
    assert sorted(n for names in GROUPS.values() for n in names) == sorted(catalog.NAMES)


def test_recovers_known_lambda_within_its_interval():
    covered, total = 0, 0
    for seed in range(4):
        post = fit(simulate(seed), seed=seed)
        for g, p in post.groups.items():
            assert p.n == N_PER_GROUP[g]
            covered += p.low <= LAMBDA[g] <= p.high
            total += 1
        # 6 interventions: the data, not the prior, decide (lambda from the spread of their H100
        # effects: the group's additive shift beta_g absorbs their common mean, hence 0.7 not 0.5)
        cap = post.groups["capacity_architecture"]
        assert cap.high - cap.low < 0.7 and abs(cap.mean - LAMBDA["capacity_architecture"]) < 0.3
    assert covered >= 16, f"90% intervals covered the true lambda_g {covered}/{total} times"


def test_group_without_pairs_gets_the_pooled_prior_and_wide_interval():
    pairs = [p for p in simulate(0) if p.group != "evaluation"]
    post = fit(pairs, seed=0)
    ev = post.groups["evaluation"]
    assert ev.n == 0 and ev.high - ev.low > post.groups["capacity_architecture"].high - post.groups["capacity_architecture"].low


def test_near_zero_h100_effects_teach_little_about_lambda():
    """Errors in variables: a ratio of ~0/~0 must not pin lambda down."""
    rng = np.random.default_rng(3)
    pairs = [Pair(f"e{k}", "evaluation", 0.0002 * rng.standard_normal(), 0.002, 0.003 * rng.standard_normal(), 0.002)
             for k in range(3)]
    wide = fit(pairs, seed=1).groups["evaluation"]
    assert wide.high - wide.low > 1.0


def test_prediction_interval_covers_held_out_local_effects():
    pairs = simulate(7)
    post = fit(pairs[::2], seed=0)
    hits = [post.predict(p.group, p.h100_mean, p.h100_sd, extra_sd=p.local_se).low <= p.local_mean
            <= post.predict(p.group, p.h100_mean, p.h100_sd, extra_sd=p.local_se).high for p in pairs[1::2]]
    assert sum(hits) >= len(hits) - 2


def test_same_input_same_output_and_bad_input_refused():
    a, b = fit(simulate(1), seed=5), fit(simulate(1), seed=5)
    assert a.groups == b.groups
    with pytest.raises(ValueError, match="unknown transfer group"):
        fit([Pair("x", "nope", 0.0, 0.01, 0.0, 0.01)])
    with pytest.raises(ValueError, match="positive standard deviations"):
        fit([Pair("x", "evaluation", 0.0, 0.0, 0.0, 0.01)])


def test_scale_key_defaults_budget_mode_to_steps():
    assert scale_key("mlx-cpu", "cpu_small", None) == "mlx-cpu|cpu_small|steps"
    assert scale_key("mlx-cpu", "cpu_small", "time") != scale_key("mlx-cpu", "cpu_small", "steps")


def test_recovers_known_group_shifts_and_a_single_outlier_stays_individual():
    """local = lambda_g x theta + beta_g (+ one scale-specific outlier): each group's shift is
    recovered within its interval, and the outlier neither moves its group's lambda far nor its shift."""
    shift = dict(zip(GROUPS, [0.0, 0.3, -0.05, 0.4, 0.0]))
    covered, total = 0, 0
    for seed in range(3):
        pairs = [p._replace(local_mean=p.local_mean + shift[p.group]) for p in simulate(seed)]
        post = fit(pairs, seed=seed)
        for g, p in post.groups.items():
            if p.n >= 3:
                covered += abs(p.shift_mean - shift[g]) <= 2 * p.shift_sd + 0.01
                total += 1
        # one more evaluation switch whose local effect has nothing to do with its H100 effect
        out = fit([*simulate(seed), Pair("odd", "evaluation", -0.01, 0.002, 0.8, 0.01)], seed=seed)
        base = fit(simulate(seed), seed=seed)
        assert abs(out.groups["evaluation"].mean - base.groups["evaluation"].mean) < 1.0
        assert out.summary(out.local["odd"]).low > 0.7
    assert covered >= total - 1, f"shifts recovered {covered}/{total}"
