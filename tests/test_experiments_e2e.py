"""End to end with the real trainer (train_gpt_mlx.py) on the tiny prepared dataset."""
from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from causal_core.experiments.config import from_catalog
from causal_core.experiments.record_writer import write_experiment_record
from causal_core.experiments.runner import run_experiment
from causal_core.experiments.stats import analyze, write_stats

pytestmark = pytest.mark.slow


@pytest.fixture()
def tiny_cfg(repo_root, tiny_data_dir):
    trainer = repo_root / "train_gpt_mlx.py"
    if not trainer.is_file() or trainer.stat().st_size == 0:
        pytest.skip("train_gpt_mlx.py is not written yet")

    def make(seeds):
        return from_catalog(
            "more_layers", trainer=str(trainer), workdir=str(repo_root), seeds=seeds, budget_s=240,
            threads_per_run=1, max_parallel=2,
            base_env={"PRESET": "cpu_small", "DATA_PATH": str(tiny_data_dir),
                      "TOKENIZER_PATH": str(tiny_data_dir / "tokenizer.model"), "VOCAB_SIZE": 384,
                      "ITERATIONS": 4, "WARMUP_STEPS": 1, "TRAIN_BATCH_TOKENS": 1024, "TRAIN_LOG_EVERY": 1,
                      "VAL_MAX_TOKENS": 1024, "VAL_BATCH_SIZE": 1024, "MODEL_DIM": 64})
    return make


def test_real_two_seed_experiment_analysed_and_recorded(tmp_path, tiny_cfg):
    cfg = tiny_cfg([1, 2])
    raw = run_experiment(cfg, tmp_path / "exp")
    bad = [(r.run_id, r.error, r.stderr_tail[-500:]) for r in raw.runs if not r.complete]
    assert not bad, bad
    r = raw.runs[0]
    assert r.score_source == "stdout:final_int8_zlib_roundtrip_exact" and r.bytes_model and r.checkpoint_path
    assert all("step" in json.loads(x) for x in open(r.metrics_path))
    a = analyze(raw, n_boot=199)
    assert a.n_pairs == 2 and a.decision in ("confirmed", "suggestive", "null")
    write_stats(a, tmp_path / "exp" / "stats.json")
    rec = write_experiment_record(tmp_path / "exp", tmp_path / "records")
    sub = json.loads((rec / "submission.json").read_text())
    assert sub["interventions"] == ["more_layers"] and sub["causal_golf_experiment"]["n_pairs"] == 2
    assert sub["bytes_total"] and len(json.loads((tmp_path / "experiment_log.json").read_text())) == 1


def test_real_killed_seed_is_reduced_power_and_log_kept(tmp_path, tiny_cfg):
    cfg = tiny_cfg([1, 2, 3])
    log = tmp_path / "experiment_log.json"
    log.write_text(json.dumps([{"entry_id": "earlier"}]))
    out = {}
    t = threading.Thread(target=lambda: out.update(raw=run_experiment(cfg, tmp_path / "exp", log)))
    t.start()
    run_id = cfg.run_id("treatment", 2)
    stdout = tmp_path / "exp" / "runs" / f"{run_id}.stdout"
    for _ in range(2400):          # kill once it has started training (mid-run)
        if stdout.exists() and "step:" in stdout.read_text(errors="replace"):
            break
        time.sleep(0.1)
    os.killpg(int((tmp_path / "exp" / "runs" / f"{run_id}.pid").read_text()), signal.SIGKILL)
    t.join(timeout=900)
    raw = out["raw"]
    assert raw.conditions["treatment"].status == "reduced_power", raw.conditions
    assert raw.conditions["control"].status == "ok"
    assert [e["entry_id"] for e in json.loads(log.read_text())][0] == "earlier"
    assert len(json.loads(log.read_text())) == 2
    assert analyze(raw, n_boot=0).n_pairs == 2
