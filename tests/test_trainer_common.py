"""Shared helpers for the trainer tests (no tests here).

train_gpt_mlx.py is loaded from the repository root by path: the wheel build
force-includes a copy into site-packages, which may be stale and would shadow it.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "train_gpt_mlx.py"


def load_trainer():
    mod = sys.modules.get("train_gpt_mlx")
    if mod is not None and Path(getattr(mod, "__file__", "")).resolve() == SCRIPT:
        return mod
    spec = importlib.util.spec_from_file_location("train_gpt_mlx", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["train_gpt_mlx"] = mod
    spec.loader.exec_module(mod)
    return mod


T = load_trainer()


def tiny_env(data_dir: Path | None = None, out_dir: Path | None = None, **kw) -> dict[str, str]:
    """A seconds-long configuration on the tiny test corpus (vocab 384)."""
    env = {
        "VOCAB_SIZE": "384", "NUM_LAYERS": "2", "MODEL_DIM": "32", "NUM_HEADS": "2", "NUM_KV_HEADS": "1",
        "MLP_MULT": "2", "TRAIN_SEQ_LEN": "32", "TRAIN_BATCH_TOKENS": "512", "GRAD_ACCUM_STEPS": "1",
        "ITERATIONS": "6", "WARMDOWN_ITERS": "2", "WARMUP_STEPS": "0", "MAX_WALLCLOCK_SECONDS": "0",
        "VAL_BATCH_SIZE": "2048", "VAL_MAX_TOKENS": "2048", "TRAIN_LOG_EVERY": "1", "MUON_MOMENTUM_WARMUP_STEPS": "2",
        "INT8_KEEP_FLOAT_MAX_NUMEL": "256", "RUN_ID": "t", "UNET_SKIPS": "0",
    }
    if data_dir is not None:
        env["DATA_PATH"] = str(data_dir)
        env["TOKENIZER_PATH"] = str(Path(data_dir) / "tokenizer.model")
    if out_dir is not None:
        env["OUT_DIR"] = str(out_dir)
    env.update({k: str(v) for k, v in kw.items()})
    return env


def tiny_config(data_dir: Path | None = None, **kw):
    env = tiny_env(data_dir, **kw)
    if data_dir is None:
        env["TOKENIZER_PATH"] = "unused.model"
    return T.load_config(env)
