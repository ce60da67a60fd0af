"""The cycle-loop against a real Prefect server with real tiny trainer runs."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.loop_helpers import ROOT, loop_params

pytestmark = pytest.mark.slow


def test_two_cycle_loop_auto_approve_ends_on_a_stop_rule(prefect_api, tiny_data_dir, tmp_path, monkeypatch):
    from prefect.client.orchestration import get_client

    from flows.cycle_loop import cycle_loop

    # The loop's default budget: time (a tiny one here), calibrated into a private cache.
    monkeypatch.setenv("CAUSAL_GOLF_STEP_CACHE", str(tmp_path / "step_times.json"))
    params = loop_params(tmp_path, tiny_data_dir, max_cycles=2, stop_on_confirmed=False, assemble=True,
                         run_diagnostics=True, budget_mode="time", time_budget_s=0.3)
    report = cycle_loop(**params)

    assert report["stop_reason"] == "2 cycles done"
    assert report["cycles"] == 2 and len(report["experiments"]) == 2
    assert report["experiments"][0]["intervention"] == "ema"
    results = tmp_path / "results"
    for n in (0, 1, 2):
        assert (results / f"cycle_{n}" / "dag" / "dag.json").is_file()
        assert (results / f"cycle_{n}" / "dag" / "dag.png").stat().st_size > 1000
    # Cycle-0 diagnostics read cycle 1's first control checkpoint (no extra training run).
    from causal_core.loop.diagnostics_step import baseline_checkpoint
    from causal_core.loop.layout import LoopLayout
    for name in ("token_loss", "quant_gap", "influence"):
        diag = json.loads((results / "cycle_0" / "diagnostics" / f"{name}.json").read_text())
        assert "-control-seed" in diag["checkpoint"] and "cycle_1" in diag["checkpoint"]
    # S11 too (a short run of its own), and the final report shows what they found and changed.
    assert json.loads((results / "cycle_0" / "diagnostics" / "grad_attribution.json").read_text())["n_steps"] == 24
    assert set(report["diagnostics"]["ran"]) >= {"token_loss", "quant_gap", "influence", "grad_attribution"}
    assert report["diagnostics"]["quant_gap"]["threshold_bpb"] is not None       # recomputed after cycle 1
    md_report = (results / "final_report.md").read_text()
    assert "## Cycle-0 diagnostics and what they changed" in md_report and "What they changed:" in md_report
    assert "influence (S10):" in md_report and "grad attribution (S11):" in md_report
    assert not (results / "cycle_0" / "diagnostics" / "checkpoint").exists()
    resumed = baseline_checkpoint(LoopLayout.at(results))    # what a resumed loop would read
    assert resumed is not None and resumed.is_relative_to(results / "cycle_1") and "-control-seed" in resumed.name
    for n in (1, 2):
        stats = json.loads((results / f"cycle_{n}" / "experiment" / "stats.json").read_text())
        assert stats["n_pairs"] == 2 and stats["decision"] in ("confirmed", "suggestive", "null")
    # Cycle 2's baseline runs that equal cycle 1's (same resolved trainer config and seed) are reused.
    from causal_core.experiments.config import ExperimentConfig
    from causal_core.experiments.results import RunResult, result_path
    from causal_core.run_key import config_key
    # With stacking, cycle 2's control is cycle 1's treatment arm when cycle 1 confirmed its effect.
    from causal_core.loop.run_budget import runs_trained
    from causal_core.loop.layout import LoopLayout
    c1, c2 = (ExperimentConfig.load(results / f"cycle_{n}" / "config.json") for n in (1, 2))
    arm = "treatment" if c2.stack else "control"
    assert list(c2.stack) == (["ema"] if report["experiments"][0]["decision"] == "confirmed" else [])
    reused = config_key(c1.condition_env(arm)) == config_key(c2.condition_env("control"))
    if reused:
        for seed in c2.seeds:
            r = RunResult.load(result_path(results / "cycle_2" / "experiment", c2.run_id("control", seed)))
            assert r.reused and r.complete
    assert runs_trained(LoopLayout.at(results)) == 4 + (2 if reused else 4) + (
        4 if (results / "cycle_1" / "replication" / "raw_runs.json").is_file() else 0)
    log = json.loads((results / "experiment_log.json").read_text())
    assert len(log) == 2 and len({e["entry_id"] for e in log}) == 2
    # Time budget: calibrated steps per arm, in every artifact; the cached control keeps its steps.
    assert all(e["budget_mode"] == "time" and e["budget"]["arms"]["control"]["steps"] >= 1 for e in log)
    assert c1.budget_mode == "time" and c1.arm_steps and c2.arm_steps
    if reused:
        assert c2.arm_steps["control"] == c1.arm_steps[arm]
    assert (results / "cycle_1" / "calibration").is_dir()
    assert "| budget |" in (results / "final_report.md").read_text()
    assert len(report["records_written"]) == 2
    for rec in report["records_written"]:
        assert Path(rec).is_relative_to(tmp_path / "records")
        sub = json.loads((Path(rec) / "submission.json").read_text())
        assert sub["causal_golf_experiment"]["decision"] in ("confirmed", "suggestive", "null")
        assert sub["budget_mode"] == sub["causal_golf_experiment"]["budget_mode"] == "time" and sub["arm_steps"]
    assert "2 cycles done" in (results / "final_report.md").read_text()

    # The final step assembled a submission (confirmed findings, else the labelled fallback).
    sub_dir = Path(report["submission"])
    sub = json.loads((sub_dir / "submission.json").read_text())
    assert sub["val_bpb"] > 0 and sub["bytes_total"] <= 16_000_000 and (sub_dir / "train_gpt_mlx.py").is_file()

    # What the UI shows: artifacts and run names that say the cycle, condition and seed.
    with get_client(sync_client=True) as client:
        keys = {a.key for a in client.read_artifacts() if a.key}
        assert {"experiments", "cycle-1-report", "cycle-2-report", "dag-cycle-0", "cycle-1-seed-runs",
                "cycle-0-diagnostics"} <= keys
        names = {t.name for t in client.read_task_runs()}
        assert {"cycle1-control-seed1", "cycle1-treatment-seed2", "cycle0-extract", "cycle2-dag",
                "cycle0-diag-token_loss", "cycle0-diag-influence", "cycle0-diag-grad_attribution"} <= names


def test_bad_flow_parameters_are_refused_before_any_work(prefect_api, tiny_data_dir, tmp_path):
    from flows.cycle_loop import cycle_loop

    with pytest.raises(ValueError, match="seeds"):
        cycle_loop(**loop_params(tmp_path, tiny_data_dir, seeds=[]))
    with pytest.raises(ValueError, match="budget_s: must be positive"):
        cycle_loop(**loop_params(tmp_path, tiny_data_dir, budget_s=-5))
    assert not (tmp_path / "results").exists()

    # The CLI says it in one line, exit 2.
    for bad, needle in ((["--param", "first_intervention=bogus"], "unknown intervention 'bogus'"),
                        (["--param", "seeds=[]"], "seeds"),
                        (["--param", "first_intervention=test_time_training"], "not switchable"),
                        (["--param", "no_such=1"], "unknown loop parameter")):
        r = subprocess.run([sys.executable, "-m", "causal_core.cli", "loop", *bad], cwd=ROOT,
                           capture_output=True, text=True, env={**os.environ, **prefect_api.env})
        assert r.returncode == 2, r.stderr
        assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_run_budget_is_never_overspent(prefect_api, tiny_data_dir, tmp_path):
    """max_runs=5 with 2 seeds: cycle 1 trains 4 runs; a replication (4 more) does not fit, and
    cycle 2 would train 2 (its control arm is reused), so the loop stops before it."""
    from causal_core.loop.run_budget import runs_trained
    from causal_core.loop.layout import LoopLayout
    from flows.cycle_loop import cycle_loop

    report = cycle_loop(**loop_params(tmp_path, tiny_data_dir, max_cycles=4, stop_on_confirmed=False, max_runs=5))
    # 2 runs for a new switch (control reused), 4 for a re-test of ema on fresh seeds
    assert re.fullmatch(r"run budget: cycle 2 would train [24] runs, 1 of 5 left", report["stop_reason"])
    results = tmp_path / "results"
    assert runs_trained(LoopLayout.at(results)) == 4 and len(report["experiments"]) == 1
    assert not (results / "cycle_1" / "replication").exists()
