"""Shared pieces of the cycle-loop tests: a tiny trainer config and a loop subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tiny_trainer_env(data_dir: Path) -> dict:
    """A trainer config of a few seconds per run on one core (catalog overrides still apply)."""
    vocab = json.loads((data_dir / "manifest.json").read_text())["tokenizer"]["vocab_size"]
    return {"VOCAB_SIZE": vocab, "ITERATIONS": 6, "NUM_LAYERS": 1, "MODEL_DIM": 32, "NUM_HEADS": 2,
            "NUM_KV_HEADS": 1, "TRAIN_SEQ_LEN": 64, "TRAIN_BATCH_TOKENS": 1024, "VAL_LOSS_EVERY": 0,
            "WARMUP_STEPS": 0, "WARMDOWN_ITERS": 2, "VAL_BATCH_SIZE": 8192}


def loop_params(tmp: Path, data_dir: Path, **kw) -> dict:
    p = {"records": [], "results_dir": str(tmp / "results"), "records_out": str(tmp / "records"),
         "data_path": str(data_dir), "seeds": [1, 2], "budget_s": 60, "trainer_env": tiny_trainer_env(data_dir),
         "first_intervention": "ema", "auto_approve": True, "max_cycles": 2, "max_parallel": 2,
         "run_diagnostics": False, "assemble": False,
         # Fixed steps keep these tests' runs seconds long; test_flow_loop's first test runs the time budget.
         "budget_mode": "steps"}
    p.update(kw)
    return p


def start_loop(params: dict, env: dict, log: Path) -> subprocess.Popen:
    """`causal-golf loop --params ...` in its own process group, as a user would run it."""
    cmd = [sys.executable, "-m", "causal_core.cli", "loop", "--params", json.dumps(params)]
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(pred, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
