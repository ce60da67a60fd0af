"""Runner machinery against tests/stub_trainer.py (a TEST TRAINER following the trainer's conventions)."""
from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from causal_core.cli import main
from causal_core.experiments.config import from_catalog
from causal_core.experiments.results import RawRuns
from causal_core.experiments.runner import run_experiment, run_one

STUB = "tests/stub_trainer.py"


def cfg_for(repo_root, seeds=(1, 2), treat_env=None, **kw):
    cfg = from_catalog("more_layers", trainer=STUB, workdir=str(repo_root), seeds=list(seeds),
                       base_env={"ITERATIONS": 3}, budget_s=kw.pop("budget_s", 60), threads_per_run=2,
                       max_parallel=kw.pop("max_parallel", 2), **kw)
    if treat_env:
        cfg = cfg.model_copy(update={"treatment": {**cfg.treatment, **treat_env}})
    return cfg


def test_two_seed_experiment_and_resume(tmp_path, repo_root):
    cfg = cfg_for(repo_root, treat_env={"STUB_EFFECT": -0.01})
    out = tmp_path / "exp"
    raw = run_experiment(cfg, out)
    assert [r.status for r in raw.runs] == ["ok"] * 4
    assert all(s.status == "ok" for s in raw.conditions.values())
    r = raw.runs[0]
    assert r.score_source == "stdout:final_int8_zlib_roundtrip_exact" and r.bytes_model == 123456
    assert "threads:2" in open(r.stdout_path).read()
    assert [json.loads(x)["step"] for x in open(r.metrics_path)] == [1, 2, 3]
    assert raw.scores("treatment")[1] == pytest.approx(raw.scores("control")[1] - 0.01, abs=1e-7)
    assert RawRuns.load(out).experiment_id == cfg.experiment_id
    log = json.loads((tmp_path / "experiment_log.json").read_text())
    assert len(log) == 1 and log[0]["experiment_id"] == cfg.experiment_id
    # Resumable: complete runs are not re-run, and the same outcome is not logged twice.
    again = run_experiment(cfg, out)
    assert [x.started_at for x in again.runs] == [x.started_at for x in raw.runs]
    assert len(json.loads((tmp_path / "experiment_log.json").read_text())) == 1


def test_one_failed_seed_reduced_power_two_failed(tmp_path, repo_root):
    raw = run_experiment(cfg_for(repo_root, seeds=(1, 2, 3), treat_env={"STUB_FAIL_SEED": "2"}), tmp_path / "a")
    assert raw.conditions["treatment"].status == "reduced_power" and raw.conditions["control"].status == "ok"
    bad = next(r for r in raw.runs if not r.complete)
    assert bad.seed == 2 and bad.error == "exit code 3" and "stub failure" in bad.stderr_tail
    raw = run_experiment(cfg_for(repo_root, seeds=(1, 2, 3), treat_env={"STUB_FAIL_SEED": "2,3"}), tmp_path / "b")
    assert raw.conditions["treatment"].status == "failed" and raw.conditions["treatment"].failed_seeds == [2, 3]


def test_timeout_kills_process_group(tmp_path, repo_root):
    cfg = cfg_for(repo_root, treat_env={"STUB_HANG": 1}, budget_s=1, timeout_grace_s=0)
    r = run_one(cfg, "treatment", 1, tmp_path)
    assert r.status == "timed_out" and r.val_bpb is None and "timed out" in r.error
    pid = int((tmp_path / "runs" / f"{r.run_id}.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


def test_score_falls_back_to_log_file(tmp_path, repo_root):
    r = run_one(cfg_for(repo_root, treat_env={"STUB_NO_STDOUT_SCORE": 1}), "treatment", 1, tmp_path)
    assert r.status == "ok" and r.score_source == "log:final_int8_zlib_roundtrip_exact"


def test_killed_seed_and_concurrent_log_appends(tmp_path, repo_root):
    """Kill one seed mid-run while two experiments append to one experiment_log.json."""
    log = tmp_path / "experiment_log.json"
    log.write_text(json.dumps([{"entry_id": "earlier", "kept": True}]))
    slow = cfg_for(repo_root, seeds=(1, 2, 3), treat_env={"STUB_SLEEP": 0.5}, max_parallel=6)
    other = cfg_for(repo_root, seeds=(4, 5))
    results = {}
    t = threading.Thread(target=lambda: results.update(slow=run_experiment(slow, tmp_path / "slow", log)))
    t.start()
    pid_file = tmp_path / "slow" / "runs" / f"{slow.run_id('treatment', 2)}.pid"
    for _ in range(300):
        if pid_file.exists():
            break
        time.sleep(0.05)
    os.killpg(int(pid_file.read_text()), signal.SIGKILL)
    results["other"] = run_experiment(other, tmp_path / "other", log)
    t.join(timeout=60)
    raw = results["slow"]
    assert raw.conditions["treatment"].status == "reduced_power"
    killed = next(r for r in raw.runs if not r.complete)
    assert killed.seed == 2 and killed.error == "killed by signal 9"
    ids = [e["entry_id"] for e in json.loads(log.read_text())]
    assert ids[0] == "earlier" and len(ids) == 3


def test_run_experiment_cli_refuses_missing_trainer(tmp_path, repo_root, capsys):
    cfg = cfg_for(repo_root).model_copy(update={"trainer": "nope/missing.py"})
    cfg.save(tmp_path / "c.json")
    assert main(["run-experiment", str(tmp_path / "c.json"), "--out", str(tmp_path / "o")]) == 2
    assert "missing" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
