"""End to end: a real tiny training run through `causal-golf train`, bad inputs, the fast-BLAS bootstrap."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

from causal_core import logparse
from causal_core.cli import CliError
from causal_core.commands import train as train_cmd
from test_trainer_common import ROOT, SCRIPT, T, tiny_env

HAS_OPENBLAS = sys.platform == "linux" and T.find_openblas() is not None
TINY_OVERRIDES = {k: v for k, v in tiny_env().items() if k not in ("RUN_ID",)}


@pytest.fixture(scope="module")
def sub_env(tmp_path_factory):
    """Subprocess environment: private probe cache, one BLAS thread (2 shared cores)."""
    env = {k: v for k, v in os.environ.items() if k not in T.VAR_BY_NAME and k not in ("PRESET", T.BLAS_ENV_MARKER)}
    env["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    env["OPENBLAS_NUM_THREADS"] = "1"
    return env


@pytest.fixture(scope="module")
def e2e(tiny_data_dir, tmp_path_factory, sub_env):
    out = tmp_path_factory.mktemp("e2e")
    overrides = dict(TINY_OVERRIDES, ITERATIONS="30", WARMDOWN_ITERS="10", WARMUP_STEPS="1", VAL_LOSS_EVERY="15",
                     TRAIN_LOG_EVERY="10")
    cmd = [sys.executable, "-m", "causal_core.cli", "train", "--preset", "cpu_small", "--data", str(tiny_data_dir),
           "--out-dir", str(out), "--run-id", "e2e", "--seed", "3", "--"] + [f"{k}={v}" for k, v in overrides.items()]
    r = subprocess.run(cmd, env=sub_env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    return r, out


def test_run_prints_every_contract_line(e2e):
    r, out = e2e
    text = r.stdout
    for needle in ("step:1/30 train_loss:", "step:30/30 train_loss:", "step:15/30 val_loss:", "step:30/30 val_loss:",
                   "serialized_model_int8_zlib:", "artifact: quant_bits=8 compressor=zlib", "code_bytes=", "total_bytes=",
                   "final_int8_zlib_roundtrip val_loss:", "eval_time:", "final_int8_zlib_roundtrip_exact val_loss:"):
        assert needle in text, needle
    assert "train_time:" in text and "step_avg:" in text
    log = (out / "e2e.txt").read_text()
    assert [l for l in log.splitlines() if "val_bpb" in l] == [l for l in text.splitlines() if "val_bpb" in l]
    assert "preset:cpu_small" in log and "dim:32" in log   # preset applied, explicit overrides won


def test_run_beats_the_uniform_model(e2e, tiny_data_dir):
    r, _ = e2e
    score = logparse.final_score(r.stdout)
    assert score.label == "final_int8_zlib_roundtrip_exact" and score.exact
    c = T.load_config(dict(tiny_env(tiny_data_dir)))
    luts = T.build_byte_luts(c.tokenizer_path, 384)
    val = T.load_val_tokens(c)
    _, uniform_bpb, _ = T.evaluate(c, lambda x, y: mx.full(y.shape, math.log(384)), val, luts)
    assert score.val_bpb < 0.8 * uniform_bpb


def test_run_writes_weights_config_and_metrics(e2e, tiny_data_dir):
    r, out = e2e
    rows = [json.loads(l) for l in (out / "e2e_metrics.jsonl").read_text().splitlines()]
    train_rows = [x for x in rows if x["event"] == "train"]
    assert [x["step"] for x in train_rows] == list(range(1, 31))
    assert all({"train_loss", "elapsed_ms", "lr_mul"} <= x.keys() for x in train_rows)
    assert train_rows[-1]["lr_mul"] < train_rows[0]["lr_mul"] == 1.0
    assert [x["step"] for x in rows if x["event"] == "val"] == [15, 30] and rows[-1]["event"] == "final"
    meta = json.loads((out / "e2e_config.json").read_text())
    assert meta["env"]["SEED"] == 3 and meta["env"]["MODEL_DIM"] == 32 and meta["preset"] == "cpu_small"
    # diagnostics can rebuild the model and reproduce the step-30 (pre-quantization) score
    model, c = T.load_trained(out / "e2e_config.json")
    c = c.replace(data_path=str(tiny_data_dir))
    luts = T.build_byte_luts(str(tiny_data_dir / "tokenizer.model"), 384)
    vl, vb, _ = T.evaluate(c, model.token_losses, T.load_val_tokens(c), luts)
    line = [s for s in logparse.score_lines(r.stdout) if s.label == "step:30/30"][0]
    assert vb == pytest.approx(line.val_bpb, abs=2e-4)
    assert (out / "e2e_mlx_model.ptz").stat().st_size == int(r.stdout.split("serialized_model_int8_zlib:")[1].split()[0])


@pytest.mark.skipif(not HAS_OPENBLAS, reason="no OpenBLAS on this platform")
def test_run_uses_the_fast_blas(e2e):
    r, _ = e2e
    assert "blas:openblas" in r.stdout and "libopenblas" in r.stdout and "WARNING" not in r.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="bootstrap is Linux-only")
def test_reference_blas_is_used_and_warned_about_when_disabled(tiny_data_dir, tmp_path, sub_env):
    env = dict(sub_env, **tiny_env(tiny_data_dir, tmp_path, ITERATIONS=1, CAUSAL_GOLF_BLAS="reference"))
    r = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "blas:reference" in r.stdout and "WARNING: running on the REFERENCE BLAS" in r.stderr
    assert "CAUSAL_GOLF_BLAS=reference" in r.stderr


@pytest.mark.skipif(not HAS_OPENBLAS, reason="no OpenBLAS on this platform")
def test_fast_blas_env_preloads_openblas_with_gfortran_shim(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    env, why = T.fast_blas_env()
    assert env is not None, why
    assert "libopenblas" in env["LD_PRELOAD"].split(":")[0]
    shim = Path(env["LD_LIBRARY_PATH"].split(":")[0]) / "libgfortran.so.5"
    assert shim.is_symlink() and shim.resolve().is_file()
    verdicts = json.loads((tmp_path / "causal-golf" / "blas_probe.json").read_text())
    assert len(verdicts) == 1 and list(verdicts.values())[0]["good"] is True
    assert T.fast_blas_env(dict(os.environ, CAUSAL_GOLF_BLAS="reference"))[0] is None


# ---------------------------------------------------------------- bad input


def _copy_data(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _shard_bytes(tokens, magic=20240520, count=None) -> bytes:
    header = np.zeros(256, dtype="<i4")
    header[0], header[1], header[2] = magic, 1, len(tokens) if count is None else count
    return header.tobytes() + np.asarray(tokens, dtype="<u2").tobytes()


def _bad_cases(data: Path, tmp: Path):
    def bad_magic():
        d = _copy_data(data, tmp / "magic")
        (d / "fineweb_val_000000.bin").write_bytes(_shard_bytes([1, 2, 3] * 100, magic=123))
        return {"DATA_PATH": str(d), "TOKENIZER_PATH": str(d / "tokenizer.model")}, "bad magic 123"

    def truncated():
        d = _copy_data(data, tmp / "trunc")
        p = d / "fineweb_val_000000.bin"
        p.write_bytes(p.read_bytes()[:-10])
        return {"DATA_PATH": str(d), "TOKENIZER_PATH": str(d / "tokenizer.model")}, "is truncated"

    def empty_val():
        d = _copy_data(data, tmp / "empty")
        (d / "fineweb_val_000000.bin").write_bytes(_shard_bytes([]))
        return {"DATA_PATH": str(d), "TOKENIZER_PATH": str(d / "tokenizer.model")}, "validation split under DATA_PATH"

    def no_val():
        d = _copy_data(data, tmp / "noval")
        (d / "fineweb_val_000000.bin").unlink()
        return {"DATA_PATH": str(d), "TOKENIZER_PATH": str(d / "tokenizer.model")}, "has no fineweb_val_*.bin shards"

    def big_ids():
        d = _copy_data(data, tmp / "ids")
        (d / "fineweb_val_000000.bin").write_bytes(_shard_bytes([1, 500] * 100))
        return {"DATA_PATH": str(d), "TOKENIZER_PATH": str(d / "tokenizer.model")}, "token id 500 >= VOCAB_SIZE=384"

    return {
        "missing_data": lambda: ({"DATA_PATH": str(tmp / "nope")}, f"DATA_PATH={tmp / 'nope'} does not exist"),
        "bad_magic": bad_magic, "truncated": truncated, "empty_val": empty_val, "no_val": no_val, "big_ids": big_ids,
        "vocab_mismatch": lambda: ({"VOCAB_SIZE": "512"}, "VOCAB_SIZE=512 does not match the tokenizer's vocab size 384"),
        "missing_tokenizer": lambda: ({"TOKENIZER_PATH": str(tmp / "x.model")}, "does not exist"),
        "non_numeric": lambda: ({"ITERATIONS": "ten"}, "ITERATIONS='ten' is not an integer"),
        "out_of_range": lambda: ({"PRUNE_FRAC": "2"}, "PRUNE_FRAC=2 is out of range"),
        "seq_not_dividing": lambda: ({"TRAIN_SEQ_LEN": "48"},
                                     "TRAIN_BATCH_TOKENS=512 is not divisible by GRAD_ACCUM_STEPS*TRAIN_SEQ_LEN=1*48=48"),
    }


CASES = ["missing_data", "bad_magic", "truncated", "empty_val", "no_val", "big_ids", "vocab_mismatch",
         "missing_tokenizer", "non_numeric", "out_of_range", "seq_not_dividing"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_ends_with_one_clear_line(case, tiny_data_dir, tmp_path, capsys):
    extra, needle = _bad_cases(tiny_data_dir, tmp_path)[case]()
    env = tiny_env(tiny_data_dir, tmp_path / "out", **extra)
    rc = T.main(env)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("train_gpt_mlx: error: ") and needle in err[0], err


def test_bad_input_as_a_process_has_no_traceback(tmp_path, sub_env):
    env = dict(sub_env, DATA_PATH=str(tmp_path / "missing"), PRESET="cpu_small", OUT_DIR=str(tmp_path))
    r = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert r.stderr.strip() == f"train_gpt_mlx: error: DATA_PATH={tmp_path / 'missing'} does not exist or is not a directory"


def test_cli_rejects_bad_arguments(tmp_path):
    import argparse
    p = argparse.ArgumentParser()
    train_cmd.add_arguments(p)
    with pytest.raises(CliError, match="no such directory"):
        train_cmd.build_env(p.parse_args(["--data", str(tmp_path / "nope")]), {})
    with pytest.raises(CliError, match="not NAME=VALUE"):
        train_cmd.build_env(p.parse_args(["--", "lower=1"]), {})
    env = train_cmd.build_env(p.parse_args(["--preset", "cpu_small", "--seed", "4", "--", "EVAL_STRIDE=32", "X=a=b"]), {})
    assert env["PRESET"] == "cpu_small" and env["SEED"] == "4" and env["EVAL_STRIDE"] == "32" and env["X"] == "a=b"
    assert train_cmd.trainer_script() == SCRIPT
