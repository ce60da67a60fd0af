"""Time-budgeted arms (causal_core/experiments/budget.py): calibration, cache, step counts,
and a capacity switch whose decision flips between a step budget and a time budget."""
from __future__ import annotations

import hashlib
import json

import pytest

from causal_core.experiments import budget
from causal_core.experiments.config import ExperimentConfig
from causal_core.experiments.runner import RawRuns, run_experiment
from causal_core.experiments.record_writer import write_experiment_record
from causal_core.experiments.stats import analyze, write_stats

LOG = "\n".join(f"step:{n}/12 train_loss:3.0 train_time:{t}ms step_avg:{t / n:.2f}ms"
                for n, t in [(1, 500), (2, 520), (3, 540), (4, 560), (5, 900), (6, 920), (7, 940)])


def test_step_time_from_log_skips_warmup_and_drops_one_off_spikes():
    # increments after step 2: 20, 20, 340 (a compile spike, > 3x median), 20, 20
    assert budget.step_ms_from_log(LOG) == pytest.approx(20.0)
    assert budget.step_ms_from_log("no steps here") is None
    assert budget.run_timing(LOG + "\nstep:7/7 val_loss:2.0 val_bpb:1.5 train_time:950ms step_avg:135.71ms") == (7, 135.714)
    assert budget.steps_for(1.0, 30.0) == 33 and budget.steps_for(0.001, 30.0) == 1


def _cfg(repo_root, data, **kw) -> ExperimentConfig:
    base = {"PRESET": "cpu_small", "DATA_PATH": str(data), "TOKENIZER_PATH": str(data / "tokenizer.model"),
            "VOCAB_SIZE": 384, "MODEL_DIM": 32, "NUM_HEADS": 2, "NUM_KV_HEADS": 1, "TRAIN_SEQ_LEN": 64,
            "TRAIN_BATCH_TOKENS": 1024, "ITERATIONS": 40, "WARMDOWN_ITERS": 10, "WARMUP_STEPS": 1,
            "MUON_MOMENTUM_WARMUP_STEPS": 10, "VAL_MAX_TOKENS": 8192, "VAL_BATCH_SIZE": 8192, "TRAIN_LOG_EVERY": 10,
            "INT8_KEEP_FLOAT_MAX_NUMEL": 256}
    args = dict(intervention="more_layers", treatment={"NUM_LAYERS": 6}, control={"NUM_LAYERS": 1}, seeds=[1, 2, 3],
                trainer=str(repo_root / "train_gpt_mlx.py"), workdir=str(repo_root), base_env=base, budget_s=300,
                threads_per_run=1, max_parallel=2)
    args.update(kw)
    return ExperimentConfig(**args)


def test_steps_mode_is_todays_config(repo_root, tiny_data_dir):
    cfg = _cfg(repo_root, tiny_data_dir)
    assert cfg.budget_mode == "steps" and cfg.condition_env("treatment")["ITERATIONS"] == "40"
    # The id hashes exactly what it hashed before budgets existed.
    payload = cfg.model_dump(exclude={"max_parallel", "cycle", "timeout_grace_s", "arm_step_ms", "budget_mode",
                                      "time_budget_s", "arm_steps", "stack", "profile", "design_row"})
    assert cfg.experiment_id == "more_layers-" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:10]
    assert budget.resolve(cfg, "/nonexistent") is cfg
    with pytest.raises(ValueError, match="time_budget_s"):
        _cfg(repo_root, tiny_data_dir, budget_mode="time")
    with pytest.raises(ValueError, match="exceeds budget_s"):
        _cfg(repo_root, tiny_data_dir, budget_mode="time", time_budget_s=900)
    with pytest.raises(ValueError, match="budget_mode is steps"):
        _cfg(repo_root, tiny_data_dir, arm_steps={"control": 3, "treatment": 3})
    timed = _cfg(repo_root, tiny_data_dir, budget_mode="time", time_budget_s=1, arm_steps={"control": 9, "treatment": 3})
    assert timed.condition_env("treatment")["ITERATIONS"] == "3" and timed.condition_env("control")["MAX_WALLCLOCK_SECONDS"] == "0"
    assert timed.experiment_id != cfg.experiment_id


@pytest.fixture(scope="module")
def calibrated(repo_root, tiny_data_dir, tmp_path_factory):
    """One interleaved calibration (sequential, so the order is observable) into a fresh cache."""
    tmp = tmp_path_factory.mktemp("cal")
    cfg = _cfg(repo_root, tiny_data_dir, budget_mode="time", time_budget_s=1.0, max_parallel=1)
    cal = budget.calibrate(cfg, tmp / "work", tmp / "cache.json")
    return cfg, cal, tmp


@pytest.mark.slow
def test_calibration_interleaves_the_arms_and_caches_them(calibrated, tmp_path):
    cfg, cal, tmp = calibrated
    assert {c: v["source"] for c, v in cal.items()} == {"control": "measured", "treatment": "measured"}
    # one run at a time: control, treatment, then treatment, control
    done = sorted((tmp / "work").glob("*/stdout.txt"), key=lambda p: p.stat().st_mtime_ns)
    assert [p.parent.name for p in done] == ["control-r0", "treatment-r0", "treatment-r1", "control-r1"]
    entries = json.loads((tmp / "cache.json").read_text())["entries"]
    assert {e["condition"] for e in entries.values()} == {"control", "treatment"}
    assert all(len(e["samples_ms"]) == 2 and e["machine"]["cpu_count"] >= 1 for e in entries.values())
    # Second call: served from the cache, nothing runs.
    again = budget.calibrate(cfg, tmp_path / "work2", tmp / "cache.json")
    assert {c: v["source"] for c, v in again.items()} == {"control": "cache", "treatment": "cache"}
    assert not (tmp_path / "work2").exists()
    # The 6-layer arm is slower per step, so it gets fewer steps in the same time.
    resolved = budget.resolve(cfg, tmp_path / "work3", tmp / "cache.json")
    assert resolved.arm_steps["treatment"] < resolved.arm_steps["control"]
    assert cal["treatment"]["step_ms"] > 1.5 * cal["control"]["step_ms"]
    # A new arm beside a cached one: both are measured again, the cached one keeps its time.
    other = cfg.model_copy(update={"treatment": {"NUM_LAYERS": 2}})
    mixed = budget.calibrate(other, tmp_path / "work4", tmp / "cache.json", rounds=1)
    assert mixed["control"] == {**again["control"]} and mixed["treatment"]["source"] == "measured"
    assert sorted(p.parent.name for p in (tmp_path / "work4").glob("*/stdout.txt")) == ["control-r0", "treatment-r0"]


@pytest.mark.slow
def test_a_capacity_switch_wins_on_steps_and_loses_on_time(calibrated, tmp_path, repo_root, tiny_data_dir):
    """6 layers instead of 1 on a tiny model: better at an equal step count, worse at equal
    training time, where its ~4x slower steps leave it a fraction of the control's steps."""
    cfg, cal, tmp = calibrated
    # Two runs at once, as the experiment runs them (its own calibration key), and a time budget
    # worth exactly the step budget's 40 control steps on this machine.
    timed = cfg.model_copy(update={"max_parallel": 2})
    t_budget = 40.5 * budget.calibrate(timed, tmp_path / "cal", tmp / "cache.json")["control"]["step_ms"] / 1000
    timed = timed.model_copy(update={"time_budget_s": t_budget})
    steps = _cfg(repo_root, tiny_data_dir)
    raw_s = run_experiment(steps, tmp_path / "steps")
    raw_t = run_experiment(timed, tmp_path / "time", calibration_cache=tmp / "cache.json")
    a_s, a_t = analyze(raw_s, n_boot=0), analyze(raw_t, n_boot=0)
    assert raw_t.config.arm_steps["control"] == 40 and raw_t.config.arm_steps["treatment"] < 25
    assert a_s.effect_bpb < -0.02 and a_s.decision in ("confirmed", "suggestive")
    assert a_t.effect_bpb > 0.02 and a_t.decision == "null"
    # The control arm trained the same 40 steps in both: identical, deterministic scores.
    assert a_t.control_bpb == pytest.approx(a_s.control_bpb, abs=1e-6)
    # Budget fields in every artifact.
    saved = RawRuns.load(tmp_path / "time")
    assert saved.budget.budget_mode == "time" and saved.budget.time_budget_s == pytest.approx(t_budget)
    assert saved.budget.arms["treatment"].steps == raw_t.config.arm_steps["treatment"]
    assert saved.budget.arms["control"].step_ms and saved.budget.step_time_ratio > 1.5
    assert all(r.steps == raw_t.config.arm_steps[r.condition] and r.step_avg_ms for r in saved.runs)
    assert a_t.budget_mode == "time" and any("TIME budget" in n for n in a_t.notes)
    assert a_s.budget_mode == "steps" and a_s.budget.arms["treatment"].steps == 40
    log = json.loads((tmp_path / "experiment_log.json").read_text())
    assert sorted(e["budget_mode"] for e in log) == ["steps", "time"]
    # The record written back says what the decision holds for.
    write_stats(a_t, tmp_path / "time" / "stats.json")
    rec = write_experiment_record(tmp_path / "time", tmp_path / "records")
    sub = json.loads((rec / "submission.json").read_text())
    assert sub["budget_mode"] == "time" and sub["time_budget_s"] == pytest.approx(t_budget)
    assert sub["arm_steps"] == raw_t.config.arm_steps and sub["arm_step_ms"]["treatment"] > 0
    assert sub["causal_golf_experiment"]["budget_mode"] == "time"
    assert sub["causal_golf_experiment"]["arm_steps"] == raw_t.config.arm_steps
    assert "Decided under a TIME budget" in (rec / "README.md").read_text()
    stats = json.loads((tmp_path / "time" / "stats.json").read_text())
    assert stats["budget_mode"] == "time" and stats["budget"]["arms"]["treatment"]["steps"] == sub["arm_steps"]["treatment"]


@pytest.mark.slow
def test_the_loop_plans_time_budgeted_cycles_and_keeps_the_control_steps(tiny_data_dir, tmp_path, monkeypatch):
    """plan_config (what the cycle-loop runs) calibrates under the loop's default time budget;
    the next cycle's control is served from the cache, so its runs can be reused."""
    from causal_core.loop.cycle import plan_config
    from causal_core.loop.layout import LoopLayout
    from causal_core.loop.params import LoopParams
    from causal_core.run_key import config_key
    from tests.loop_helpers import tiny_trainer_env

    monkeypatch.setenv(budget.CACHE_ENV, str(tmp_path / "step_times.json"))
    params = LoopParams(data_path=str(tiny_data_dir), trainer_env=tiny_trainer_env(tiny_data_dir), seeds=[1, 2],
                        max_parallel=2, time_budget_s=0.3)
    assert params.budget_mode == "time"
    layout = LoopLayout.at(tmp_path / "results")
    c1 = plan_config(layout.cycle(1), params, "ema")
    c2 = plan_config(layout.cycle(2), params, "smeargate")    # its control is ema's: the preset
    assert c1.budget_mode == c2.budget_mode == "time" and c1.time_budget_s == 0.3
    assert ExperimentConfig.load(layout.cycle(1).config).arm_steps == c1.arm_steps
    assert (layout.cycle(1).dir / "calibration").is_dir() and (layout.cycle(2).dir / "calibration").is_dir()
    assert c2.arm_steps["control"] == c1.arm_steps["control"]
    assert config_key(c1.condition_env("control")) == config_key(c2.condition_env("control"))
    steps = plan_config(layout.cycle(3), params.model_copy(update={"budget_mode": "steps"}), "ema")
    assert steps.budget_mode == "steps" and not steps.arm_steps and steps.condition_env("control")["ITERATIONS"] == "6"
