from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as sps

from causal_core.cli import main
from causal_core.experiments.config import from_catalog
from causal_core.experiments.record_writer import write_experiment_record
from causal_core.experiments.results import RunResult, summarize
from causal_core.experiments.sequential import look_alpha, sequential_step
from causal_core.experiments.stats import analyze, decide, holm
from causal_core.experiments.transfer import transfer_coefficient


def fake_raw(control, treatment, seeds=None, intervention="more_layers", platform="mlx-cpu", **kw):
    seeds = seeds or list(range(1, len(control) + 1))
    cfg = from_catalog(intervention, seeds=seeds, platform=platform, **kw)
    runs = []
    for cond, vals in (("control", control), ("treatment", treatment)):
        for s, v in zip(seeds, vals):
            ok = v is not None
            runs.append(RunResult(run_id=cfg.run_id(cond, s), condition=cond, seed=s, status="ok" if ok else "failed",
                                  val_bpb=v, val_loss=None if v is None else v * 1.69, bytes_model=1000,
                                  error=None if ok else "exit code 1", stdout_path="x", stderr_path="y"))
    return summarize(cfg, runs)


@pytest.mark.parametrize("kw, expected", [
    (dict(n_pairs=3, effect=-0.003, p_adjusted=0.01, p_raw=0.01), "confirmed"),
    (dict(n_pairs=3, effect=-0.001, p_adjusted=0.01, p_raw=0.01), "suggestive"),   # below MDE
    (dict(n_pairs=3, effect=-0.003, p_adjusted=0.2, p_raw=0.2), "suggestive"),     # big but noisy
    (dict(n_pairs=3, effect=-0.003, p_adjusted=0.06, p_raw=0.02), "suggestive"),   # lost to Holm
    (dict(n_pairs=3, effect=-0.001, p_adjusted=0.3, p_raw=0.3), "null"),
    (dict(n_pairs=3, effect=0.004, p_adjusted=0.001, p_raw=0.001), "null"),        # significant harm
    (dict(n_pairs=1, effect=-0.01, p_adjusted=None, p_raw=None), "failed"),
    (dict(n_pairs=3, effect=-0.01, p_adjusted=0.001, p_raw=0.001, condition_failed=True), "failed"),
    (dict(n_pairs=3, effect=-0.003, p_adjusted=float("nan"), p_raw=float("nan")), "suggestive"),
])
def test_gate(kw, expected):
    assert decide(**kw) == expected


def test_analyze_matches_scipy_and_pairs_by_seed():
    c = [2.500, 2.510, 2.505, None]
    t = [2.495, 2.504, 2.501, 2.49]      # seed 4 lost its control: not a pair
    a = analyze(fake_raw(c, t), n_boot=999)
    assert a.n_pairs == 3 and a.seeds == [1, 2, 3]
    ref = sps.ttest_rel(t[:3], c[:3])
    assert a.p_value == pytest.approx(ref.pvalue) and a.effect_bpb == pytest.approx(np.mean(np.subtract(t[:3], c[:3])))
    d = np.subtract(t[:3], c[:3])
    half = sps.t.ppf(0.975, df=2) * d.std(ddof=1) / np.sqrt(3)          # the paired t interval, by hand
    assert a.ci_t == pytest.approx((d.mean() - half, d.mean() + half))
    assert d.min() <= a.ci_boot[0] < a.ci_boot[1] <= d.max()             # a percentile interval of a mean
    assert a.reduced_power and a.condition_status["control"] == "reduced_power"
    assert a.decision == "confirmed"
    assert analyze(fake_raw(c, t), n_boot=999).ci_boot == a.ci_boot       # seeded bootstrap


def test_holm_across_cycle():
    a = analyze(fake_raw([2.5, 2.51, 2.505], [2.495, 2.504, 2.501]), n_boot=0)
    b = analyze(fake_raw([2.5, 2.51, 2.505], [2.501, 2.509, 2.506], intervention="wider_mlp"), n_boot=0)
    p = [a.p_value, b.p_value]
    fam = holm([a, b])
    assert fam[0].family_size == 2 and fam[0].p_adjusted == pytest.approx(min(1, 2 * min(p)))


def test_sequential_rules():
    assert look_alpha(2, 3) == 0.05 and 0.02 < look_alpha(2, 5) < 0.05   # efficacy looks start at 3 pairs
    assert sequential_step([0.004, 0.005], 5) == "futility"
    assert sequential_step([-0.004, -0.005], 5) == "continue"
    assert sequential_step([-0.0040, -0.0041, -0.0042, -0.0040], 8) == "efficacy"
    assert sequential_step([-0.004, -0.005, -0.004], 3) == "final"


def test_transfer_coefficient():
    cpu = analyze(fake_raw([2.5, 2.51, 2.505], [2.49, 2.499, 2.496]), n_boot=0)
    gpu = analyze(fake_raw([1.2, 1.21, 1.205], [1.195, 1.2045, 1.2005], platform="torch-cuda"), n_boot=0)
    tr = transfer_coefficient(cpu, gpu, n_boot=999)
    assert tr.beta == pytest.approx(gpu.effect_bpb / cpu.effect_bpb)
    assert tr.ci_delta[0] < tr.beta < tr.ci_delta[1] and tr.stable


def test_analyze_cli_and_record_writer(tmp_path):
    raw = fake_raw([2.5, 2.51, 2.505], [2.495, 2.504, 2.501])
    d = tmp_path / "exp"
    d.mkdir()
    (d / "raw_runs.json").write_text(raw.model_dump_json())
    assert main(["analyze", str(d), "--bootstrap", "199"]) == 0
    stats = json.loads((d / "stats.json").read_text())
    assert stats["decision"] == "confirmed"
    rec = write_experiment_record(d, tmp_path / "records")
    assert write_experiment_record(d / "raw_runs.json", tmp_path / "records") == rec   # idempotent
    assert len(list((tmp_path / "records").glob("*/*"))) == 1
    sub = json.loads((rec / "submission.json").read_text())
    assert sub["val_bpb"] == pytest.approx(np.mean([2.495, 2.504, 2.501]))
    assert sub["interventions"] == ["more_layers"] and sub["causal_golf_experiment"]["decision"] == "confirmed"
    assert "| 1 | 2.500000 | 2.495000 | -0.005000 |" in (rec / "README.md").read_text()
    assert main(["analyze", str(tmp_path / "none.json")]) == 2
