"""Flags a user types that used to break: diag --out X.json, diag --data on the challenge's layout
(with or without --tokenizer), the trainer's thread default when run alone, and the README's
`extract --append-experiment <experiment folder>`."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from causal_core.cli import main
from test_trainer_common import T, tiny_env

ROOT = Path(__file__).resolve().parents[1]


def _cli(*argv, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "causal_core.cli", *argv], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


@pytest.fixture(scope="module")
def ckpt(tiny_data_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("flags_ckpt")
    assert T.main(tiny_env(tiny_data_dir, out, ITERATIONS=8, RUN_ID="fl", TRAIN_LOG_EVERY=0)) == 0
    return out / "fl_config.json"


def test_grad_attribution_out_as_a_json_path(tiny_data_dir, tmp_path):
    env = tiny_env(tiny_data_dir, ITERATIONS=8, WARMDOWN_ITERS=3, VAL_LOSS_EVERY=2)
    env.pop("RUN_ID")
    out = tmp_path / "reports" / "ga.json"
    r = _cli("diag", "grad-attribution", "--out", str(out), "--", *(f"{k}={v}" for k, v in env.items()))
    assert r.returncode == 0, r.stderr
    assert out.is_file() and json.loads(out.read_text())["n_steps"] == 8
    assert (tmp_path / "reports" / "grad_attribution_run").is_dir()     # the run went beside it


def _challenge_layout(tiny_data_dir: Path, root: Path) -> Path:
    """data/datasets/fineweb10B_sp384 (shards only) + data/tokenizers/fineweb_384_bpe.model."""
    data = root / "data" / "datasets" / "fineweb10B_sp384"
    data.mkdir(parents=True)
    for shard in tiny_data_dir.glob("fineweb_*.bin"):
        shutil.copy(shard, data / shard.name)
    (root / "data" / "tokenizers").mkdir()
    shutil.copy(tiny_data_dir / "tokenizer.model", root / "data" / "tokenizers" / "fineweb_384_bpe.model")
    return data


def _foreign_checkpoint(ckpt: Path, dest: Path) -> Path:
    """The checkpoint as if trained elsewhere: its TOKENIZER_PATH does not exist here."""
    dest.mkdir()
    meta = json.loads(ckpt.read_text())
    meta["env"]["TOKENIZER_PATH"] = "/elsewhere/tokenizer.model"
    meta["env"]["DATA_PATH"] = "/elsewhere/data"
    (dest / "fl_config.json").write_text(json.dumps(meta))
    shutil.copy(ckpt.with_name("fl_mlx_model.npz"), dest / "fl_mlx_model.npz")
    return dest / "fl_config.json"


def test_diag_data_on_the_challenge_layout(ckpt, tiny_data_dir, tmp_path):
    from causal_core.diagnostics import token_loss as tl

    data = _challenge_layout(tiny_data_dir, tmp_path / "challenge")
    foreign = _foreign_checkpoint(ckpt, tmp_path / "ckpt")
    baseline = tl.token_loss(ckpt, out_dir=tmp_path / "a")                  # the checkpoint's own data
    found = tl.token_loss(foreign, data_path=data, out_dir=tmp_path / "b")  # tokenizer found in data/tokenizers
    assert found["val_bpb"] == pytest.approx(baseline["val_bpb"], rel=1e-6)
    # Named explicitly, from the command line.
    r = _cli("diag", "token-loss", "--checkpoint", str(foreign), "--data", str(data), "--tokenizer",
             str(tmp_path / "challenge" / "data" / "tokenizers" / "fineweb_384_bpe.model"), "--out", str(tmp_path / "c"))
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "c" / "token_loss.json").read_text())["val_bpb"] == pytest.approx(baseline["val_bpb"], rel=1e-6)
    # Nowhere to be found: one line naming --tokenizer, exit 2.
    (tmp_path / "challenge" / "data" / "tokenizers" / "fineweb_384_bpe.model").unlink()
    r = _cli("diag", "token-loss", "--checkpoint", str(foreign), "--data", str(data), "--out", str(tmp_path / "d"))
    assert r.returncode == 2 and "--tokenizer" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_trainer_run_alone_uses_every_core(tiny_data_dir, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "CAUSAL_GOLF_BLAS_BOOTSTRAPPED")}
    env.update(tiny_env(tiny_data_dir, tmp_path, ITERATIONS=2, RUN_ID="alone"))
    r = subprocess.run([sys.executable, str(ROOT / "train_gpt_mlx.py")], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    if "blas:openblas" not in r.stdout:
        pytest.skip("no OpenBLAS on this machine: the thread count does not apply")
    assert f"openblas_threads:{os.cpu_count()} " in r.stdout


def test_extract_append_experiment_takes_the_experiment_folder(tmp_path, repo_root, capsys):
    from causal_core.experiments.config import from_catalog
    from causal_core.experiments.runner import run_experiment

    cfg = from_catalog("more_layers", trainer="tests/stub_trainer.py", workdir=str(repo_root), seeds=[1, 2],
                       base_env={"ITERATIONS": 2}, budget_s=60, threads_per_run=1, max_parallel=2)
    exp = tmp_path / "results" / "causal" / "cycle_1" / "experiment"
    run_experiment(cfg, exp)
    records = tmp_path / "records"
    records.mkdir()
    out = tmp_path / "interventions.json"
    # The README's form: the experiment folder itself.
    assert main(["extract", "--records", str(records), "--out", str(out), "--append-experiment", str(exp)]) == 0
    folders = list((records / "track_causal_golf").iterdir())
    assert len(folders) == 1 and (folders[0] / "submission.json").is_file()
    entries = json.loads(out.read_text())["records"]
    assert len(entries) == 1 and "more_layers" in [i["name"] for i in entries[0]["interventions"]]
