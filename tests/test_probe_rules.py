"""The probe's verification table, decision rules and cost ceiling on synthetic logs that trigger each rule."""
from __future__ import annotations

import math

import pytest

from causal_core.diagnostics import probe_rules as pr
from causal_core.experiments import cost_ceiling as cc


def _samples(cos_a: float, cos_b: float, n: int = 4, spread: float = 0.05, targets: int = 10) -> list[dict]:
    out = []
    for i in range(n):
        pool, c = ("A", cos_a) if i < n // 2 else ("B", cos_b)
        out.append({"src_pool": pool, "loss": 3.0, "cos": c + spread * (i % 2), "grad_norm": 1.0, "targets": targets})
    return out


def _log(n: int, cos_in, cos_out=None, frac=1.0, arm="vanilla", cos_a=0.3, cos_b=0.0, **kw) -> list[dict]:
    rows = []
    for i in range(n):
        ci = cos_in(i) if callable(cos_in) else cos_in
        co = ci if arm == "vanilla" else (cos_out(i) if callable(cos_out) else cos_out)
        rows.append({"step": i + 1, "arm": arm, "mode": "log_only" if arm == "vanilla" else "project", "cos_in": ci,
                     "cos_out": co, "frac_fired": frac if ci > 0 else 0.0,
                     "cos_out_fired": [co] if ci > 0 and arm == "projected" else [],
                     "samples": _samples(cos_a, cos_b, **kw)})
    return rows


def _outcomes(res) -> dict:
    return {r["check"]: r["outcome"] for r in res["verification"]}


def test_a_healthy_probe_passes_every_check_and_justifies_the_sweep():
    res = pr.evaluate(_log(20, 0.3), _log(20, 0.3, 0.0, arm="projected"))
    assert set(_outcomes(res).values()) == {"success"}, res["verification"]
    assert res["decision"]["action"] == "run" and res["decision"]["fired"] == ["sweep_justified"]


def test_no_signal_skips_the_sweep_and_names_cheaper_alternatives():
    res = pr.evaluate(_log(20, 0.001, cos_a=0.0, cos_b=0.0), _log(20, 0.001, 0.0, arm="projected", cos_a=0.0, cos_b=0.0))
    d = res["decision"]
    assert d["action"] == "skip" and "no_signal_skip" in d["fired"] and len(d["alternatives"]) >= 2
    assert _outcomes(res)["pool_discrimination"] == "likely-fail"
    # cos_in about 0 everywhere but the pools ARE told apart: no skip (the per-sample signal is real)
    res = pr.evaluate(_log(20, 0.001, cos_a=0.3, cos_b=0.0), _log(20, 0.001, 0.0, arm="projected"))
    assert res["decision"]["action"] == "run" and "no_signal_skip" not in res["decision"]["fired"]


def test_over_projection_is_a_bug_that_stops():
    res = pr.evaluate(_log(20, 0.3), _log(20, 0.3, -0.05, arm="projected"))
    assert res["decision"]["action"] == "stop" and res["decision"]["fired"][0] == "over_projection_bug"
    assert "sweep_justified" in res["decision"]["fired"]      # the bug outranks a justified sweep


def test_mechanism_effective_is_a_finding():
    res = pr.evaluate(_log(20, 0.1), _log(20, 0.03, 0.0, arm="projected"))
    d = res["decision"]
    assert "mechanism_effective" in d["fired"] and d["action"] == "run"
    assert any("no longer moves along v" in f for f in d["findings"])


def test_cos_in_in_between_runs_under_the_cost_ceiling():
    res = pr.evaluate(_log(20, 0.1), _log(20, 0.1, 0.0, arm="projected"))
    assert res["decision"]["fired"] == [] and res["decision"]["action"] == "run"
    assert "cost ceiling" in res["decision"]["why"]


@pytest.mark.parametrize("case, check, outcome", [
    ("no_spread", "within_batch_spread", "likely-fail"),
    ("vanilla_negative", "vanilla_cos_in_positive", "likely-fail"),
    ("out_not_below_in", "projected_cos_out_below_cos_in", "likely-fail"),
    ("fires_rarely", "frac_fired", "likely-fail"),
    ("few_modules", "frac_fired", "sneaky-fail"),
    ("empty_bucket", "no_empty_bucket", "sneaky-fail"),
])
def test_each_verification_row_flags_its_failure(case, check, outcome):
    van, proj = _log(20, 0.3), _log(20, 0.3, 0.0, arm="projected")
    if case == "no_spread":
        van, proj = _log(20, 0.3, spread=0.0, cos_a=0.1, cos_b=0.1), _log(20, 0.3, 0.0, arm="projected", spread=0.0,
                                                                           cos_a=0.1, cos_b=0.1)
    elif case == "vanilla_negative":
        van = _log(20, lambda i: -0.1 if i < 15 else 0.1)
    elif case == "out_not_below_in":
        proj = _log(20, 0.3, lambda i: 0.0 if i < 10 else 0.3, arm="projected")
    elif case == "fires_rarely":
        proj = _log(20, 0.3, 0.0, arm="projected", frac=0.02)
    elif case == "few_modules":
        proj = _log(20, 0.3, 0.0, arm="projected", frac=1 / 12)
    elif case == "empty_bucket":
        van, proj = _log(20, 0.3, targets=0), _log(20, 0.3, 0.0, arm="projected", targets=0)
    assert _outcomes(pr.evaluate(van, proj))[check] == outcome


def test_logs_without_samples_report_not_measured():
    res = pr.evaluate([{k: v for k, v in r.items() if k != "samples"} for r in _log(20, 0.3)], [])
    assert _outcomes(res)["pool_discrimination"] == "not measured"
    assert _outcomes(res)["projected_cos_out_below_cos_in"] == "not measured"


def test_cost_ceiling_stops_without_separation_and_counts_the_saved_runs():
    seeds = [1, 2, 3, 4, 5, 6]
    first = cc.first_phase_seeds(seeds)
    assert first == [1, 2, 3]
    control = {1: 2.50, 2: 2.51, 3: 2.49}
    flat = {1: 2.51, 2: 2.50, 3: 2.49}           # differences +.01, -.01, 0: |t| = 0
    v = cc.ceiling_verdict(control, flat, n_seeds=len(seeds))
    assert v["action"] == "stop" and not v["separated"] and v["runs_done"] == 6 and v["runs_planned"] == 12
    assert v["saved_runs"] == 6 and "6 of 12 runs saved" in v["why"]
    # a three-arm sweep saves the other arms too
    assert cc.ceiling_verdict(control, flat, n_seeds=6, n_arms=3)["saved_runs"] == 24 - 6


def test_cost_ceiling_goes_on_with_separation():
    control = {1: 2.50, 2: 2.51, 3: 2.49}
    better = {1: 2.48, 2: 2.50, 3: 2.46}          # all lower: |t| well above 1
    v = cc.ceiling_verdict(control, better, n_seeds=6)
    assert v["action"] == "continue" and v["separated"] and v["saved_runs"] == 0 and v["abs_paired_t"] > 1
    assert cc.abs_paired_t({1: 1.0, 2: 1.0}, {1: 0.9, 2: 0.9}) == math.inf
    assert cc.abs_paired_t({1: 1.0}, {1: 0.9}) is None
