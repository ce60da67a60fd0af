"""The local scale an experiment ran at, as a readable key (the transfer model fits each apart)."""
from __future__ import annotations

# Variables that change what a run measures at a scale: model size, data per step, length.
SCALE_VARS = ("NUM_LAYERS", "MODEL_DIM", "NUM_HEADS", "MLP_MULT", "VOCAB_SIZE", "TRAIN_SEQ_LEN",
              "TRAIN_BATCH_TOKENS", "ITERATIONS", "MAX_WALLCLOCK_SECONDS", "VAL_MAX_TOKENS")


def trainer_scale(env: dict) -> str:
    """The preset plus every size-setting variable the base env overrides, e.g.
    "cpu_small" or "cpu_small:MODEL_DIM=32,ITERATIONS=30" (a tiny test config is not cpu_small)."""
    parts = [f"{k}={env[k]}" for k in SCALE_VARS if k in env]
    return str(env.get("PRESET", "") or "no-preset") + (":" + ",".join(parts) if parts else "")
