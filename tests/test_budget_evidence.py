"""Budget-keyed evidence: the DAG never pools step-budget and time-budget effects; H100 step
times come from the real records' logs; the cycle artifact shows the local and H100 ratios."""
from __future__ import annotations

import pytest

from causal_core.dag import estimate_dag
from causal_core.dag.synthetic import generate
from causal_core.experiments.budget import ArmBudget, BudgetSummary
from causal_core.experiments.stats import Analysis
from causal_core.logparse import step_time
from causal_core.loop.budget_view import budget_lines
from causal_core.records.step_times import RatioEvidence, h100_step_ratios, ratio_lines
from causal_core.schemas import ExperimentOutcome, InterventionsFile, RecordEntry


def _exp(mode: str, effect: float, lo: float, hi: float, decision: str) -> RecordEntry:
    return RecordEntry(record_id=f"loop/ema/{mode}", experiment=ExperimentOutcome(
        intervention="ema", decision=decision, effect_bpb=effect, ci_low=lo, ci_high=hi, n_pairs=3, budget_mode=mode))


def test_dag_keeps_step_and_time_budget_effects_apart():
    data = generate(45, seed=3)[0]
    # A confirmed improvement under a step budget, a harm under a time budget: different quantities.
    steps = _exp("steps", -0.004, -0.006, -0.002, "confirmed")
    timed = _exp("time", 0.003, 0.001, 0.005, "null")
    both = InterventionsFile(records=[*data.records, steps, timed])
    d_time = estimate_dag(both, budget_mode="time")
    d_steps = estimate_dag(both, budget_mode="steps")
    assert d_time.n_experiments == d_steps.n_experiments == 1
    assert d_time.budget_mode == "time" and [e.budget_mode for e in d_time.other_budget_experiments] == ["steps"]
    assert [e.budget_mode for e in d_steps.other_budget_experiments] == ["time"]
    assert d_time.effect("ema").local_effect_bpb > 0 > d_steps.effect("ema").local_effect_bpb
    assert d_time.effect("ema").effect_bpb > d_steps.effect("ema").effect_bpb     # H100 column: only through lambda
    assert d_steps.effect("ema").experiment_decisions == ["confirmed"]
    assert d_time.effect("ema").experiment_decisions == ["null"]
    assert d_steps.edge("ema", "val_bpb").tag == "data_confirmed"
    assert d_time.edge("ema", "val_bpb").tag == "data_contradicted"
    assert any("steps budget" in w and "ema" in w for w in d_time.warnings)
    # Only the other budget's evidence: it settles nothing for this one.
    only_steps = estimate_dag(InterventionsFile(records=[*data.records, steps]), budget_mode="time")
    assert only_steps.n_experiments == 0 and only_steps.effect("ema").source != "experiment+observational"
    # Old records (no budget_mode) were measured under a step budget.
    assert ExperimentOutcome(intervention="ema", decision="null").budget_mode == "steps"


def test_step_time_from_the_challenge_log_formats():
    assert step_time("step:13780/20000 val_loss:2.0 val_bpb:1.2 train_time:600030ms step_avg:43.54ms\n"
                     "final_int8_zlib_roundtrip val_bpb:1.22").step_avg_ms == 43.54
    st = step_time("4500/20000 train_loss: 2.2 train_time: 9.0m tok/s: 1\n"
                   "stopping_early: wallclock_cap train_time: 590009ms step: 5962/20000\n")
    assert st.step_avg_ms == pytest.approx(98.962) and st.how.startswith("stopping_early")
    assert step_time("5500/20000 train_loss: 2.5 train_time: 9.1m tok/s: 7948108").step_avg_ms == pytest.approx(99.273, abs=1e-3)
    assert step_time('log0(f"step_avg:{x:.2f}ms")') is None


def test_h100_step_times_and_ratios_from_the_real_records(records_dir):
    from causal_core.records.pipeline import extract_records
    data = extract_records([records_dir])
    timed = {r.record_id.rsplit("/", 1)[-1]: r for r in data.records if r.h100_step_avg_ms}
    assert len(timed) >= 30
    base = timed["2026-03-17_NaiveBaseline"]
    assert base.h100_step_avg_ms == 43.54 and base.field_sources["h100_step_avg_ms"].startswith("train.log:")
    assert timed["2026-04-01_Vocab4096_MLPMult4_WD085"].h100_step_avg_ms == pytest.approx(98.962)
    ev = h100_step_ratios(data)
    # LowerLR vs its parent, the naive baseline: only the learning rates differ.
    lr = [e for e in ev["lr_tuning"] if e.clean]
    assert lr and lr[0].without_record.endswith("NaiveBaseline") and lr[0].ratio == pytest.approx(41.6 / 43.54, abs=1e-3)
    assert all(e.ratio > 0 and e.with_ms and e.without_ms for v in ev.values() for e in v)


def test_cycle_artifact_shows_the_budget_and_both_ratios(tmp_path):
    b = BudgetSummary(budget_mode="time", time_budget_s=60, step_time_ratio=1.62,
                      arms={"control": ArmBudget(steps=158, step_ms=380.0, run_step_ms=390.2),
                            "treatment": ArmBudget(steps=97, step_ms=615.0, run_step_ms=630.0)})
    a = Analysis(intervention="more_layers", n_pairs=3, budget_mode="time", budget=b)
    text = "\n".join(budget_lines(a))
    assert "**Decided under a TIME budget**" in text and "| treatment | 97 | 615.0 | 630.0 |" in text
    assert "local 1.620" in text and "no pair of records isolates it" in text
    ev = [RatioEvidence(intervention="more_layers", ratio=1.25, with_record="a", without_record="b", with_ms=50,
                        without_ms=40, kind="parent_child")]
    assert "8xH100 from the records 1.250 (geometric mean of 1 record pair(s))" in ratio_lines("more_layers", 1.62, ev)[0]
